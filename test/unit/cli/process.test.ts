/**
 * The command-line fixes that need the real process (issue 8): a second `tslirp --socket` on a
 * live socket is refused while the first keeps serving (a stale socket file is replaced); a
 * missing directory for --socket or --pcap is reported as such; the child the `tslirp` wrapper
 * starts ends when the wrapper is killed, even with SIGKILL.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { CliProcess, NODE, ROOT, StreamGuest } from "../../integration/runtime/cli-process.ts"
import { arpRequest, readArpReply } from "../../integration/runtime/frames.ts"

const dir = mkdtempSync(join(tmpdir(), "tslirp-cli-fix-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const running: Array<CliProcess> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop("SIGKILL")))
})
const cli = (args: ReadonlyArray<string>, command?: ReadonlyArray<string>): CliProcess => {
  const p = new CliProcess([...args, "--dns-upstream", "none"], command)
  running.push(p)
  return p
}

/** The gateway answers ARP through the socket at `path`: that tslirp is serving. */
const answersArp = async (path: string): Promise<void> => {
  const g = await StreamGuest.open({ path })
  try {
    g.send(arpRequest("10.0.2.15", "10.0.2.2"))
    expect((await g.next((f) => readArpReply(f))).ip).toBe("10.0.2.2")
  } finally {
    g.close()
  }
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"))

/** Polls until `pred` holds; fails after `ms` (a bound on a hang, not a timing assertion). */
const until = async (pred: () => boolean, what: string, ms = 15_000): Promise<void> => {
  const end = performance.now() + ms
  while (!pred()) {
    if (performance.now() > end) throw new Error(`still not ${what} after ${ms} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe("tslirp --socket on a path that is taken", () => {
  it("a second instance on a live socket is refused with one line and exit 2; the first keeps serving", async () => {
    const path = join(dir, "live.sock")
    const first = cli(["--socket", path])
    await first.waitFor(/ready on unix:/)
    const second = cli(["--socket", path])
    expect((await second.exited).code).toBe(2)
    expect(second.stderr).toBe(`tslirp: --socket: another process is already listening on ${path} (stop it, or choose another path)\n`)
    expect(second.stdout).toBe("")
    await answersArp(path)
    expect(await first.stop("SIGTERM")).toEqual({ code: 0, signal: null })
    expect(existsSync(path)).toBe(false)
  })

  it("a stale socket file (its server was killed) is replaced", async () => {
    const path = join(dir, "stale.sock")
    const dead = cli(["--socket", path])
    await dead.waitFor(/ready on unix:/)
    await dead.stop("SIGKILL")
    expect(existsSync(path)).toBe(true) // SIGKILL left the file behind
    const next = cli(["--socket", path])
    await next.waitFor(/ready on unix:/)
    await answersArp(path)
  })
})

describe("tslirp --socket on a path that is not a socket", () => {
  it("a regular file there is refused with one line and exit 2, and left alone", async () => {
    const path = join(dir, "plain-file")
    writeFileSync(path, "keep me")
    const p = cli(["--socket", path])
    expect((await p.exited).code).toBe(2)
    expect(p.stderr).toBe(`tslirp: --socket: ${path} exists and is not a socket\n`)
    expect(readFileSync(path, "utf8")).toBe("keep me")
  })
})

describe("tslirp: missing directories are reported as such, before start", () => {
  it("--pcap in a missing directory: one line, exit 2, no socket created", async () => {
    const path = join(dir, "p.sock")
    const p = cli(["--socket", path, "--pcap", join(dir, "nope", "x.pcap")])
    expect((await p.exited).code).toBe(2)
    expect(p.stderr).toBe(`tslirp: --pcap: directory ${join(dir, "nope")} does not exist\n`)
    expect(existsSync(path)).toBe(false)
  })

  it("--socket in a missing directory: one line, exit 2", async () => {
    const p = cli(["--socket", join(dir, "nope", "s.sock")])
    expect((await p.exited).code).toBe(2)
    expect(p.stderr).toBe(`tslirp: --socket: directory ${join(dir, "nope")} does not exist\n`)
  })

  it("--tftp that is missing or not a directory: one line, exit 2, no socket created", async () => {
    const path = join(dir, "t.sock")
    const missing = cli(["--socket", path, "--tftp", join(dir, "no-such-dir")])
    expect((await missing.exited).code).toBe(2)
    expect(missing.stderr).toBe(`tslirp: --tftp: "${join(dir, "no-such-dir")}": ENOENT\n`)
    const file = join(dir, "a-file")
    writeFileSync(file, "x")
    const notDir = cli(["--socket", path, "--tftp", file])
    expect((await notDir.exited).code).toBe(2)
    expect(notDir.stderr).toBe(`tslirp: --tftp: "${file}" is not a directory\n`)
    expect(existsSync(path)).toBe(false)
  })
})

describe("the tslirp wrapper (bin/tslirp.js) and the process it starts", () => {
  it("the child ends, removing its socket, when the wrapper is killed with SIGKILL", async () => {
    const path = join(dir, "wrapped.sock")
    // TSLIRP_FORCE_SPAWN takes the re-launch path (a Node older than 22.19 takes it) on this Node.
    const wrapper = spawn(NODE, [join(ROOT, "bin/tslirp.js"), "--socket", path, "--dns-upstream", "none"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TSLIRP_FORCE_SPAWN: "1" },
    })
    let out = ""
    wrapper.stdout.on("data", (d: Buffer) => (out += d.toString()))
    const wrapperGone = new Promise((resolve) => wrapper.on("exit", resolve))
    let child: number | undefined
    try {
      await until(() => out.includes("ready on unix:"), "ready")
      const children = readFileSync(`/proc/${wrapper.pid}/task/${wrapper.pid}/children`, "utf8").trim().split(/\s+/).map(Number)
      expect(children).toHaveLength(1)
      child = children[0]!
      expect(alive(child)).toBe(true)
      await answersArp(path)
      wrapper.kill("SIGKILL")
      await wrapperGone
      await until(() => !alive(child!), "ended")
      // It shut down cleanly (SIGTERM to itself), so the socket file is gone too.
      await until(() => !existsSync(path), "removed")
    } finally {
      wrapper.kill("SIGKILL")
      // If the test failed, do not leave the orphan running.
      if (child !== undefined && alive(child)) process.kill(child, "SIGKILL")
    }
  })
})
