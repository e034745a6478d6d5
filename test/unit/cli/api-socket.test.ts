/**
 * `tslirp --api-socket PATH`: the flag's parsing, its refusals (one line, exit 2, before anything
 * starts, as for --socket), and the real process serving slirp4netns's protocol beside a guest:
 * a stuck control client does not stop the network, SIGTERM removes the socket file, a stale
 * one is replaced. Rules added through it are the CLI's forwarding rules.
 */
import { mkdtempSync, rmSync, existsSync } from "node:fs"
import { connect, createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { HELP, parseCli } from "../../../src/runtime/cli/args.ts"
import { CliProcess, StreamGuest } from "../../integration/runtime/cli-process.ts"
import { arpRequest, readArpReply } from "../../integration/runtime/frames.ts"
import { callApi } from "../../support/api-client.ts"
import { readmeBlock } from "../../support/readme.ts"

const dir = mkdtempSync(join(tmpdir(), "tslirp-cli-api-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const running: Array<CliProcess> = []
const sockets: Array<Socket> = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(running.splice(0).map((p) => p.stop("SIGKILL")))
})
const cli = (args: ReadonlyArray<string>): CliProcess => {
  const p = new CliProcess([...args, "--dns-upstream", "none"])
  running.push(p)
  return p
}

const parse = (...args: Array<string>) => parseCli(["--socket", "/tmp/g.sock", ...args], () => undefined)
const refusal = (...args: Array<string>): string => {
  const r = parse(...args)
  if (r._tag !== "Error") throw new Error(`expected a refusal, got ${r._tag}`)
  return r.message
}

const call = (path: string, request: string): Promise<string> => callApi(path, request, { track: sockets })

describe("--api-socket PATH on the command line", () => {
  it("is optional, and kept as given", () => {
    const none = parse()
    expect(none._tag === "Run" && none.options.apiSocket).toBeUndefined()
    const given = parse("--api-socket", "/run/tslirp/api.sock")
    expect(given._tag === "Run" && given.options.apiSocket).toBe("/run/tslirp/api.sock")
    expect(HELP).toMatch(/^ {2}--api-socket PATH {8}control socket speaking slirp4netns's JSON protocol/m)
  })
  it("refuses an empty path, an over-long one, the guest link's own path, and a second --api-socket", () => {
    expect(refusal("--api-socket", "")).toBe("--api-socket needs a path")
    expect(refusal("--api-socket", `/tmp/${"x".repeat(110)}`)).toMatch(/^--api-socket: path "\/tmp\/x+" is longer than a unix socket allows \(107 bytes\)$/)
    expect(refusal("--api-socket", "/tmp/g.sock")).toBe('--api-socket: "/tmp/g.sock" is also the --socket path; give each its own')
    expect(refusal("--api-socket", "/tmp/a", "--api-socket", "/tmp/b")).toBe("--api-socket given more than once")
  })
})

describe("tslirp --api-socket, the process", () => {
  it("a path where another process listens is refused with one line and exit 2, before the guest link opens", async () => {
    const path = join(dir, "taken.sock")
    const other = createServer()
    await new Promise<void>((r) => other.listen(path, r))
    try {
      const guestPath = join(dir, "g1.sock")
      const p = cli(["--socket", guestPath, "--api-socket", path])
      expect((await p.exited).code).toBe(2)
      expect(p.stderr).toBe(`tslirp: --api-socket: another process is already listening on ${path} (stop it, or choose another path)\n`)
      expect(p.stdout).toBe("")
      expect(existsSync(guestPath)).toBe(false)
    } finally {
      await new Promise<void>((r) => other.close(() => r()))
    }
  })

  it("a missing directory is refused with one line and exit 2", async () => {
    const p = cli(["--socket", join(dir, "g2.sock"), "--api-socket", join(dir, "nope", "api.sock")])
    expect((await p.exited).code).toBe(2)
    expect(p.stderr).toBe(`tslirp: --api-socket: directory ${join(dir, "nope")} does not exist\n`)
  })

  it("serves slirp4netns's requests beside the guest; a stuck control client does not stop the network; SIGTERM removes the file", async () => {
    const guestPath = join(dir, "g3.sock")
    const api = join(dir, "api3.sock")
    const p = cli(["--socket", guestPath, "--api-socket", api, "--log-level", "debug"])
    await p.waitFor(/^tslirp: ready on /m)
    // Ready means the control socket is listening too.
    expect(await call(api, '{"execute": "list_hostfwd"}')).toBe('{"return":{"entries":[]},"entries":[]}')
    expect(await call(api, '{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_port": 8080, "guest_port": 80}}')).toBe(
      '{"return":{"id":1}}',
    )
    expect(await call(api, "badjson\n")).toBe('{"error":{"desc":"bad request: cannot parse JSON"}}')

    // A control client that connects and says nothing, while a guest uses the network.
    const stuck = connect(api)
    sockets.push(stuck)
    await new Promise((r) => stuck.once("connect", r))
    const g = await StreamGuest.open({ path: guestPath })
    try {
      g.send(arpRequest("10.0.2.15", "10.0.2.2"))
      expect((await g.next((f) => readArpReply(f))).ip).toBe("10.0.2.2")
      expect(stuck.destroyed).toBe(false)
      expect(await call(api, '{"execute": "list_guestfwd"}')).toBe('{"return":{"entries":[]}}')
    } finally {
      g.close()
    }
    expect(await p.stop("SIGTERM")).toEqual({ code: 0, signal: null })
    expect(existsSync(api)).toBe(false)
    expect(p.stderr).toMatch(/control socket on .*api3\.sock \(slirp4netns's API\)/)
  })

  it("a stale control socket file (its tslirp was killed) is replaced", async () => {
    const api = join(dir, "stale-api.sock")
    const dead = cli(["--socket", join(dir, "g4.sock"), "--api-socket", api])
    await dead.waitFor(/^tslirp: ready on /m)
    await dead.stop("SIGKILL")
    expect(existsSync(api)).toBe(true)
    const next = cli(["--socket", join(dir, "g5.sock"), "--api-socket", api])
    await next.waitFor(/^tslirp: ready on /m)
    expect(await call(api, '{"execute": "list_hostfwd"}')).toBe('{"return":{"entries":[]},"entries":[]}')
  })

  it("the README's example gets the replies the README shows", async () => {
    const block = readmeBlock("sh", "--api-socket /tmp/tslirp-api.sock")
    const lines = block.split("\n")
    const pairs: Array<[string, string]> = []
    lines.forEach((line, i) => {
      const m = /^api '(.*)'$/.exec(line)
      if (m === null) return
      const shown = /^# (.*)$/.exec(lines[i + 1] ?? "")
      if (shown === null) throw new Error(`README: no "# reply" line after ${line}`)
      pairs.push([m[1]!, shown[1]!])
    })
    expect(pairs.length).toBeGreaterThanOrEqual(3)
    const api = join(dir, "readme-api.sock")
    const p = cli(["--socket", join(dir, "g6.sock"), "--api-socket", api])
    await p.waitFor(/^tslirp: ready on /m)
    for (const [request, reply] of pairs) expect(await call(api, request)).toBe(reply)
  })
})
