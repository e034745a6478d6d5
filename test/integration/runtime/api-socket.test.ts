/**
 * The control socket on a real unix socket, against a fake ForwardControl: the exact requests
 * slirp4netns documents (its man page's API SOCKET section and its tests/test-slirp4netns-api-
 * socket.sh) with the reply shapes it documents; clients that do not shut down, that send too
 * much, that send nothing, that never read; and that none of them holds up another client.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import type { Logger } from "../../../src/runtime/host/ports.ts"
import { type ApiServer, listenApiSocket } from "../../../src/runtime/api/server.ts"
import { callApi, openApi, replyOf } from "../../support/api-client.ts"
import { FakeForwardControl } from "../../support/fake-forward-control.ts"

const dir = mkdtempSync(join(tmpdir(), "tslirp-api-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const servers: Array<ApiServer> = []
const sockets: Array<Socket> = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

class Lines implements Logger {
  readonly lines: Array<string> = []
  enabled(): boolean {
    return true
  }
  log(level: string, message: string): void {
    this.lines.push(`${level} ${message}`)
  }
}

let n = 0
const start = async (options: { requestTimeoutMs?: number; maxClients?: number } = {}) => {
  const control = new FakeForwardControl()
  const logger = new Lines()
  const path = join(dir, `api${++n}.sock`)
  const server = await listenApiSocket({ path, control, logger, ...options })
  servers.push(server)
  return { path, control, logger, server }
}

const open = async (path: string): Promise<Socket> => {
  const s = await openApi(path)
  sockets.push(s)
  return s
}
const call = (path: string, request: string, shutdown = true): Promise<string> => callApi(path, request, { shutdown, track: sockets })

describe("the requests slirp4netns documents get the replies it documents", () => {
  // slirp4netns.1.md, "API SOCKET": request and reply text as documented (ids differ: ours count from 1).
  const ADD = '{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_addr": "0.0.0.0", "host_port": 8080, "guest_addr": "10.0.2.100", "guest_port": 80}}'
  const LIST = '{"execute": "list_hostfwd"}'
  const removeOf = (id: number): string => `{"execute": "remove_hostfwd", "arguments": {"id": ${id}}}`
  const DOCUMENTED_ENTRY = { id: 42, proto: "tcp", host_addr: "0.0.0.0", host_port: 8080, guest_addr: "10.0.2.100", guest_port: 80 }

  it("add_hostfwd -> {return: {id}}, list_hostfwd -> {return: {entries}}, remove_hostfwd -> {return: {}}", async () => {
    const { path, control } = await start()
    const added = JSON.parse(await call(path, ADD))
    expect(Object.keys(added)).toEqual(["return"])
    expect(added.return).toEqual({ id: expect.any(Number) })
    const id = added.return.id as number
    expect(control.hostFwds).toEqual([{ id, proto: "tcp", hostAddr: "0.0.0.0", hostPort: 8080, guestAddr: "10.0.2.100", guestPort: 80 }])

    const listed = JSON.parse(await call(path, LIST))
    expect(listed.error).toBeUndefined()
    expect(listed.return.entries).toEqual([{ ...DOCUMENTED_ENTRY, id }])
    // What slirp4netns's api.c actually sends, for clients written against it.
    expect(listed.entries).toEqual(listed.return.entries)

    expect(await call(path, removeOf(id))).toBe('{"return":{}}')
    expect(control.hostFwds).toEqual([])
    expect(JSON.parse(await call(path, LIST)).return.entries).toEqual([])
  })

  // tests/test-slirp4netns-api-socket.sh, request for request (`echo ... | ncat -U`: newline, shutdown).
  it.each([
    ["badjson\n", "bad request: cannot parse JSON"],
    ['{"unexpectedjson": 42}\n', "bad request: no execute found"],
    ['{"execute": "bad"}\n', "bad request: unknown execute"],
    ['{"execute": "add_hostfwd", "arguments":{"proto": "bad"}}\n', "bad request: add_hostfwd: bad arguments.proto"],
  ])("slirp4netns's test: %j -> %s", async (request, desc) => {
    const { path } = await start()
    expect(JSON.parse(await call(path, request))).toEqual({ error: { desc } })
  })

  it("slirp4netns's test: add with only proto and ports gets id 1, listed with host 0.0.0.0; removed by id", async () => {
    const { path } = await start()
    const added = JSON.parse(await call(path, '{"execute": "add_hostfwd", "arguments":{"proto": "tcp","host_port":8080,"guest_port":80}}\n'))
    expect(added.error).toBeUndefined()
    expect(added.return.id).toBe(1)
    const listed = JSON.parse(await call(path, '{"execute": "list_hostfwd"}\n'))
    expect(listed.error).toBeUndefined()
    expect(listed.return.entries[0]).toMatchObject({ id: 1, proto: "tcp", host_addr: "0.0.0.0", host_port: 8080, guest_port: 80 })
    expect(JSON.parse(await call(path, '{"execute": "remove_hostfwd", "arguments":{"id": 1}}\n')).error).toBeUndefined()
  })

  it("slirp4netns's test: an endless stream (cat /dev/zero) gets too large message, and the connection is closed", async () => {
    const { path } = await start()
    const s = await open(path)
    const reply = replyOf(s)
    const zeros = Buffer.alloc(1024)
    let writing = true
    const pump = (): void => {
      while (writing && !s.destroyed && s.write(zeros));
    }
    s.on("drain", pump)
    pump()
    const text = await reply
    writing = false
    expect(JSON.parse(text)).toEqual({ error: { desc: "bad request: too large message" } })
  })

  it("IPv6 host and guest addresses (slirp4netns is IPv4 only) are passed on and listed", async () => {
    const { path, control } = await start()
    const added = JSON.parse(await call(path, '{"execute": "add_hostfwd", "arguments": {"proto": "udp", "host_addr": "::1", "host_port": 5353, "guest_addr": "fec0::15", "guest_port": 53}}'))
    expect(control.hostFwds).toEqual([{ id: added.return.id, proto: "udp", hostAddr: "::1", hostPort: 5353, guestAddr: "fec0::15", guestPort: 53 }])
    expect(JSON.parse(await call(path, '{"execute": "list_hostfwd"}')).return.entries[0]).toMatchObject({ host_addr: "::1", guest_addr: "fec0::15" })
  })

  it("a refusal from forwarding (port taken) is an error reply, and the server goes on", async () => {
    const { path } = await start()
    await call(path, ADD)
    expect(JSON.parse(await call(path, ADD))).toEqual({ error: { desc: "bad request: add_hostfwd: 0.0.0.0:8080 is already in use" } })
    expect(JSON.parse(await call(path, removeOf(99)))).toEqual({ error: { desc: "bad request: remove_hostfwd: bad arguments.id" } })
    expect(JSON.parse(await call(path, LIST)).return.entries).toHaveLength(1)
  })

  it("tslirp's own commands: list_connections, add_guestfwd, list_guestfwd, remove_guestfwd", async () => {
    const { path, control } = await start()
    control.connections = [{ proto: "udp", origin: "guest", guest: { address: "10.0.2.15", port: 5000 }, host: { address: "127.0.0.1", port: 53 }, state: "open", bytesToHost: 40, bytesToGuest: 120 }]
    expect(JSON.parse(await call(path, '{"execute": "list_connections"}')).return.entries).toEqual([
      { proto: "udp", origin: "guest", guest_addr: "10.0.2.15", guest_port: 5000, host_addr: "127.0.0.1", host_port: 53, state: "open", bytes_to_host: 40, bytes_to_guest: 120 },
    ])
    const id = JSON.parse(await call(path, '{"execute": "add_guestfwd", "arguments": {"server_addr": "10.0.2.100", "server_port": 8080, "target": "unix:/run/app.sock"}}')).return.id
    expect(JSON.parse(await call(path, '{"execute": "list_guestfwd"}')).return.entries).toEqual([
      { id, proto: "tcp", server_addr: "10.0.2.100", server_port: 8080, target: "unix:/run/app.sock" },
    ])
    expect(await call(path, `{"execute": "remove_guestfwd", "arguments": {"id": ${id}}}`)).toBe('{"return":{}}')
    expect(control.guestFwds).toEqual([])
  })
})

describe("clients that do not follow the protocol", () => {
  it("a client that never shuts down its side is answered as soon as its JSON object is whole (as slirp4netns's single read)", async () => {
    const { path } = await start()
    expect(JSON.parse(await call(path, '{"execute": "list_hostfwd"}', false))).toEqual({ return: { entries: [] }, entries: [] })
  })

  it("a client that writes more after its whole request, then shuts down, gets its reply and a clean end (no reset)", async () => {
    const { path } = await start()
    const s = await open(path)
    const outcome = new Promise<string>((resolve) => {
      let text = ""
      s.on("data", (d: Buffer) => {
        if (text === "") s.end("\n") // the trailing newline of `echo`, sent late
        text += d.toString()
      })
      s.on("error", (e) => resolve(`error ${e.message}`))
      s.on("close", () => resolve(text))
    })
    s.write('{"execute": "list_hostfwd"}')
    expect(await outcome).toBe('{"return":{"entries":[]},"entries":[]}')
  })

  it("a request split across writes is put together", async () => {
    const { path } = await start()
    const s = await open(path)
    const reply = replyOf(s)
    s.write('{"execute": "list_')
    await new Promise((r) => setTimeout(r, 20))
    s.end('connections"}')
    expect(JSON.parse(await reply)).toEqual({ return: { entries: [] } })
  })

  it("a stuck client (connects, sends nothing) does not hold up another; it gets an error reply when its time is up", async () => {
    const { path, logger } = await start({ requestTimeoutMs: 2_000 })
    const stuck = await open(path)
    const stuckReply = replyOf(stuck)
    let stuckClosed = false
    void stuckReply.then(() => (stuckClosed = true))
    // Another client is served while the stuck one is still connected and unanswered.
    expect(JSON.parse(await call(path, '{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_port": 2222, "guest_port": 22}}')).return.id).toBe(1)
    expect(stuckClosed).toBe(false)
    expect(JSON.parse(await stuckReply)).toEqual({ error: { desc: "bad request: no request within 2000 ms" } })
    expect(logger.lines).toContain("debug api #1: no request within 2000 ms")
  })

  it("a half-sent request is answered as slirp4netns would answer what it read, when time is up", async () => {
    const { path } = await start({ requestTimeoutMs: 300 })
    const s = await open(path)
    const reply = replyOf(s)
    s.write('{"execute": "list_hostfwd"')
    expect(JSON.parse(await reply)).toEqual({ error: { desc: "bad request: cannot parse JSON" } })
  })

  it("a slow forwarding call for one client does not hold up another's request", async () => {
    const { path, control } = await start()
    const release = control.hold()
    const slow = call(path, '{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_port": 8080, "guest_port": 80}}')
    let slowDone = false
    void slow.then(() => (slowDone = true))
    expect(JSON.parse(await call(path, '{"execute": "list_hostfwd"}')).return.entries).toEqual([])
    expect(slowDone).toBe(false)
    release()
    expect(JSON.parse(await slow).return.id).toBe(1)
  })

  it("forwarding that does not answer in time: the client is told so and freed; a late result is logged, and listed", async () => {
    const { path, control, logger } = await start({ requestTimeoutMs: 300 })
    const release = control.hold()
    expect(JSON.parse(await call(path, '{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_port": 8080, "guest_port": 80}}'))).toEqual({
      error: { desc: "bad request: add_hostfwd: no answer within 300 ms (it may still take effect)" },
    })
    expect(logger.lines).toContain("warn api #1: add_hostfwd not answered by forwarding within 300 ms")
    release()
    expect(JSON.parse(await call(path, '{"execute": "list_hostfwd"}')).entries).toMatchObject([{ id: 1, host_port: 8080 }])
    expect(logger.lines.some((l) => l.startsWith("warn api #1:") && l.endsWith('-> {"return":{"id":1}} (too late: the client was told it timed out)'))).toBe(true)
  })

  it("a client that never reads its (large) reply is dropped when its time is up; others are served meanwhile", async () => {
    const { path, control, logger } = await start({ requestTimeoutMs: 500 })
    const flow = { proto: "tcp", origin: "guest", guest: { address: "10.0.2.15", port: 40000 }, host: { address: "192.0.2.1", port: 443 }, state: "Established", bytesToHost: 1, bytesToGuest: 2 } as const
    control.connections = Array.from({ length: 20_000 }, () => flow) // a reply of about 4 MB
    const s = await open(path)
    s.pause()
    s.end('{"execute": "list_connections"}')
    expect(JSON.parse(await call(path, '{"execute": "list_hostfwd"}')).entries).toEqual([])
    const end = performance.now() + 15_000 // a bound on a hang, not a timing assertion
    while (!logger.lines.includes("debug api #1: reply not taken within 500 ms, dropped")) {
      if (performance.now() > end) throw new Error(`not dropped: ${logger.lines.join("; ")}`)
      await new Promise((r) => setTimeout(r, 25))
    }
  })

  it("a client that closes before the reply costs nothing; the next is served", async () => {
    const { path, logger } = await start()
    const s = await open(path)
    s.end('{"execute": "list_hostfwd"}')
    s.destroy()
    expect(JSON.parse(await call(path, '{"execute": "list_hostfwd"}')).entries).toEqual([])
    expect(logger.lines.filter((l) => l.startsWith("error"))).toEqual([])
  })

  it("beyond maxClients open at once, a connection is closed on arrival and logged; the others stay served", async () => {
    const { path, logger } = await start({ maxClients: 2 })
    const a = await open(path)
    const aReply = replyOf(a)
    await open(path)
    const third = await open(path)
    expect(await replyOf(third)).toBe("")
    expect(logger.lines).toContain(`warn api ${path}: 2 clients already connected, one more refused`)
    a.end('{"execute": "list_hostfwd"}')
    expect(JSON.parse(await aReply).return.entries).toEqual([])
  })
})

describe("the socket file", () => {
  it("a live socket, a plain file or a missing directory at the path is refused with one line; ours is owner-only; close removes the file", async () => {
    const live = join(dir, "live.sock")
    const other = createServer()
    await new Promise<void>((r) => other.listen(live, r))
    try {
      await expect(listenApiSocket({ path: live, control: new FakeForwardControl(), logger: new Lines() })).rejects.toThrow(
        `another process is already listening on ${live} (stop it, or choose another path)`,
      )
    } finally {
      await new Promise<void>((r) => other.close(() => r()))
    }
    const plain = join(dir, "plain")
    writeFileSync(plain, "keep")
    await expect(listenApiSocket({ path: plain, control: new FakeForwardControl(), logger: new Lines() })).rejects.toThrow(`${plain} exists and is not a socket`)
    await expect(listenApiSocket({ path: join(dir, "missing", "a.sock"), control: new FakeForwardControl(), logger: new Lines() })).rejects.toThrow(
      `directory ${join(dir, "missing")} does not exist`,
    )

    const { path, server } = await start()
    expect(statSync(path).mode & 0o777).toBe(0o600)
    await server.close()
    servers.splice(servers.indexOf(server), 1)
    expect(existsSync(path)).toBe(false)
  })
})
