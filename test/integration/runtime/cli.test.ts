import { spawnSync } from "node:child_process"
import { createSocket } from "node:dgram"
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { createServer, type AddressInfo } from "node:net"
import { join } from "node:path"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { answerDns } from "../../../src/runtime/mock/dns-responder.ts"
import { CliProcess, DatagramGuest, NODE, ROOT, StreamGuest } from "./cli-process.ts"
import { arpRequest, dnsQuery, readArpReply, readUdp, udpFrame } from "./frames.ts"

const dir = mkdtempSync(join(tmpdir(), "tslirp-cli-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const running: Array<CliProcess> = []
const guests: Array<{ close(): void }> = []
afterEach(async () => {
  for (const g of guests.splice(0)) g.close()
  await Promise.all(running.splice(0).map((p) => p.stop("SIGKILL")))
})

const start = async (args: ReadonlyArray<string>): Promise<CliProcess> => {
  const p = new CliProcess([...args, "--dns-upstream", "127.0.0.1:1", "--log-level", "debug"])
  running.push(p)
  await p.waitFor(/^tslirp: ready on .*$/m)
  return p
}
const track = <G extends { close(): void }>(g: G): G => {
  guests.push(g)
  return g
}
const arpReplyFor = (ip: string) => (f: Uint8Array) => {
  const r = readArpReply(f)
  return r?.ip === ip ? r : undefined
}

describe("tslirp CLI over a unix socket (QEMU -netdev stream)", () => {
  it("prints one ready line, answers ARP for the gateway, exits 0 on SIGTERM and removes the socket", async () => {
    const path = join(dir, "a.sock")
    const p = await start(["--socket", path])
    expect(p.stdout).toBe(`tslirp: ready on unix:${path} (QEMU: -netdev stream,id=n0,server=off,addr.type=unix,addr.path=${path} -device e1000,netdev=n0)\n`)
    const g = track(await StreamGuest.open({ path }))
    g.send(arpRequest("10.0.2.15", "10.0.2.2"))
    const reply = await g.next(arpReplyFor("10.0.2.2"))
    expect(reply.mac.length).toBe(6)
    expect(await p.stop("SIGTERM")).toEqual({ code: 0, signal: null })
    expect(existsSync(path)).toBe(false)
  })

  it("serves several guests at once, each with its own stack, and drops one that disconnects", async () => {
    const path = join(dir, "b.sock")
    const p = await start(["--socket", path])
    const a = track(await StreamGuest.open({ path }))
    const b = track(await StreamGuest.open({ path }))
    b.send(arpRequest("10.0.2.16", "10.0.2.3"))
    a.send(arpRequest("10.0.2.15", "10.0.2.2"))
    await a.next(arpReplyFor("10.0.2.2"))
    await b.next(arpReplyFor("10.0.2.3"))
    a.close()
    await p.waitFor(/guest=unix:.*#1 guest disconnected/, "stderr")
    b.send(arpRequest("10.0.2.16", "10.0.2.2"))
    await b.next(arpReplyFor("10.0.2.2"))
    expect(p.stderr).toMatch(/guest=unix:.*#2 guest connected/)
  })

  it("decodes frames split across writes and several frames in one write", async () => {
    const path = join(dir, "c.sock")
    await start(["--socket", path])
    const g = track(await StreamGuest.open({ path }))
    const one = arpRequest("10.0.2.15", "10.0.2.2")
    const two = arpRequest("10.0.2.15", "10.0.2.3")
    const bytes = Buffer.concat([Buffer.from([0, 0, 0, 42]), one, Buffer.from([0, 0, 0, 42]), two])
    g.sendRaw(bytes.subarray(0, 3))
    await new Promise((r) => setTimeout(r, 50))
    g.sendRaw(bytes.subarray(3, 30))
    await new Promise((r) => setTimeout(r, 50))
    g.sendRaw(bytes.subarray(30))
    await g.next(arpReplyFor("10.0.2.2"))
    await g.next(arpReplyFor("10.0.2.3"))
  })

  it("drops a guest that sends a frame length of 0, with a log line, and keeps serving others", async () => {
    const path = join(dir, "d.sock")
    const p = await start(["--socket", path])
    const bad = track(await StreamGuest.open({ path }))
    bad.sendRaw(Uint8Array.of(0, 0, 0, 0))
    await bad.closed
    await p.waitFor(/warn: guest unix:.*#1: frame length 0 is outside 1\.\.65549; dropping the connection/, "stderr")
    const good = track(await StreamGuest.open({ path }))
    good.send(arpRequest("10.0.2.15", "10.0.2.2"))
    await good.next(arpReplyFor("10.0.2.2"))
  })

  it("a guest that floods without reading gets every reply once it reads (backpressure, not drops)", async () => {
    const path = join(dir, "flood.sock")
    const p = await start(["--socket", path])
    const g = track(await StreamGuest.open({ path }))
    g.socket.pause()
    // 100k requests: their 6.4 MB of replies exceed the 4 MiB the link would queue before dropping.
    const n = 100_000
    const one = Buffer.concat([Buffer.from([0, 0, 0, 42]), arpRequest("10.0.2.15", "10.0.2.2")])
    const burst = Buffer.concat(Array.from({ length: 1000 }, () => one))
    for (let i = 0; i < n / 1000; i++) g.sendRaw(burst)
    await new Promise((r) => setTimeout(r, 300))
    g.socket.resume()
    await g.next(() => (g.frames.length >= n - 1 ? true : undefined), 20_000)
    expect(g.frames.length).toBe(n - 1) // `next` took one
    expect(p.stderr).not.toMatch(/dropping frames/)
  })

  it("forwards guest UDP to the host's 127.0.0.1 through the gateway address and back (Node UDP NAPT)", async () => {
    const echo = createSocket("udp4")
    echo.on("message", (m, r) => echo.send(Buffer.concat([Buffer.from("echo:"), m]), r.port, r.address))
    await new Promise<void>((r) => echo.bind(0, "127.0.0.1", () => r()))
    guests.push({ close: () => echo.close() })
    const port = echo.address().port
    const path = join(dir, "e.sock")
    await start(["--socket", path])
    const g = track(await StreamGuest.open({ path }))
    g.send(arpRequest("10.0.2.15", "10.0.2.2"))
    const gw = await g.next(arpReplyFor("10.0.2.2"))
    g.send(udpFrame({ dstMac: gw.mac, src: "10.0.2.15", dst: "10.0.2.2", srcPort: 5000, dstPort: port, payload: Buffer.from("hi") }))
    const back = await g.next((f) => readUdp(f))
    expect(back).toEqual({ src: "10.0.2.2", dst: "10.0.2.15", srcPort: port, dstPort: 5000, payload: Uint8Array.from(Buffer.from("echo:hi")) })
  })

  it("--log-level debug: a guest's debug lines reach stderr with the guest and the flow as annotations", async () => {
    const path = join(dir, "d.sock")
    const p = await start(["--socket", path])
    const g = track(await StreamGuest.open({ path }))
    g.send(arpRequest("10.0.2.15", "10.0.2.2"))
    const gw = await g.next(arpReplyFor("10.0.2.2"))
    // Nobody is at 10.0.2.99: the datagram is dropped with a debug line about its flow.
    g.send(udpFrame({ dstMac: gw.mac, src: "10.0.2.15", dst: "10.0.2.99", srcPort: 5001, dstPort: 9, payload: Buffer.from("x") }))
    await p.waitFor(/debug: guest=unix:\S+#1 protocol=udp guestEndpoint=10\.0\.2\.15:5001 hostEndpoint=10\.0\.2\.99:9 udp: to 10\.0\.2\.99:9 dropped/, "stderr")
  })

  it("closes a guest's host sockets when the guest disconnects", async () => {
    const echo = createSocket("udp4")
    echo.on("message", (m, r) => echo.send(m, r.port, r.address))
    await new Promise<void>((r) => echo.bind(0, "127.0.0.1", () => r()))
    guests.push({ close: () => echo.close() })
    const path = join(dir, "fds.sock")
    const p = await start(["--socket", path])
    // Distinct sockets (inodes), not descriptors: the native guest link reads through a
    // duplicate of the guest connection's descriptor.
    const sockets = (): number =>
      new Set(
        readdirSync(`/proc/${p.child.pid}/fd`).map((fd) => {
          try {
            return readlinkSync(`/proc/${p.child.pid}/fd/${fd}`)
          } catch {
            return ""
          }
        }).filter((l) => l.startsWith("socket:")),
      ).size
    const before = sockets()
    const g = track(await StreamGuest.open({ path }))
    g.send(arpRequest("10.0.2.15", "10.0.2.2"))
    const gw = await g.next(arpReplyFor("10.0.2.2"))
    for (const srcPort of [5000, 5001]) {
      g.send(udpFrame({ dstMac: gw.mac, src: "10.0.2.15", dst: "10.0.2.2", srcPort, dstPort: echo.address().port, payload: Buffer.from("x") }))
      await g.next((f) => readUdp(f))
    }
    expect(sockets()).toBe(before + 3) // the guest's connection and one host UDP socket per flow
    g.close()
    await p.waitFor(/guest disconnected/, "stderr")
    expect(sockets()).toBe(before)
  })

  it("forwards DNS queries to --dns-upstream (a server on 127.0.0.1 run by the test)", async () => {
    const dns = createSocket("udp4")
    dns.on("message", (m, r) => {
      const a = answerDns(m, new Map([["tslirp.test", "192.0.2.99"]]))
      if (a !== undefined) dns.send(a, r.port, r.address)
    })
    await new Promise<void>((r) => dns.bind(0, "127.0.0.1", () => r()))
    guests.push({ close: () => dns.close() })
    const path = join(dir, "f.sock")
    const p = new CliProcess(["--socket", path, "--dns-upstream", `127.0.0.1:${dns.address().port}`])
    running.push(p)
    await p.waitFor(/ready/)
    const g = track(await StreamGuest.open({ path }))
    g.send(arpRequest("10.0.2.15", "10.0.2.3"))
    const d = await g.next(arpReplyFor("10.0.2.3"))
    g.send(udpFrame({ dstMac: d.mac, src: "10.0.2.15", dst: "10.0.2.3", srcPort: 33333, dstPort: 53, payload: dnsQuery(7, "tslirp.test") }))
    const answer = await g.next((f) => readUdp(f))
    expect(answer.src).toBe("10.0.2.3")
    expect([...answer.payload.subarray(answer.payload.length - 4)]).toEqual([192, 0, 2, 99])
  })

  it("--pcap records frames both ways in a file tshark reads without warnings", async () => {
    const path = join(dir, "g.sock")
    const pcap = join(dir, "g.pcap")
    const p = await start(["--socket", path, "--pcap", pcap])
    const g = track(await StreamGuest.open({ path }))
    g.send(arpRequest("10.0.2.15", "10.0.2.2"))
    await g.next(arpReplyFor("10.0.2.2"))
    expect((await p.stop("SIGINT")).code).toBe(0)
    const r = spawnSync("tshark", ["-r", pcap, "-T", "fields", "-e", "arp.opcode"], { encoding: "utf8" })
    if (r.error !== undefined) throw new Error(`tshark is needed for this test: ${r.error.message}`)
    expect(r.status).toBe(0)
    expect(r.stderr.split("\n").filter((l) => l.trim() !== "" && !l.includes("Running as user"))).toEqual([])
    expect(r.stdout.trim().split("\n")).toEqual(["1", "2"])
  })
})

describe("tslirp CLI over TCP and UDP links", () => {
  it("--listen HOST:0 reports the port it got; ARP works over TCP (-netdev stream,addr.type=inet)", async () => {
    const p = await start(["--listen", "127.0.0.1:0"])
    const m = p.stdout.match(/ready on tcp:127\.0\.0\.1:(\d+)/)
    expect(m).not.toBeNull()
    const g = track(await StreamGuest.open({ host: "127.0.0.1", port: Number(m![1]) }))
    g.send(arpRequest("10.0.2.15", "10.0.2.2"))
    await g.next(arpReplyFor("10.0.2.2"))
  })

  it("--udp LOCAL,REMOTE: one frame per datagram (-netdev dgram)", async () => {
    const guest = track(await DatagramGuest.open(0, { host: "127.0.0.1", port: 0 }))
    const probe = createSocket("udp4")
    await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()))
    const local = probe.address().port
    probe.close()
    const p = await start(["--udp", `127.0.0.1:${local},127.0.0.1:${guest.port}`])
    expect(p.stdout).toContain(`ready on udp:127.0.0.1:${local}->127.0.0.1:${guest.port}`)
    ;(guest as unknown as { remote: { host: string; port: number } }).remote = { host: "127.0.0.1", port: local }
    guest.send(arpRequest("10.0.2.15", "10.0.2.2"))
    await guest.next(arpReplyFor("10.0.2.2"))
    // A stray sender's frame is not taken: had it been, its answer (for 10.0.2.3) would reach
    // the guest before the answer to the guest's own later request.
    const stray = createSocket("udp4")
    await new Promise<void>((r) => stray.bind(0, "127.0.0.1", () => r()))
    await new Promise<void>((r, j) => stray.send(arpRequest("10.0.2.15", "10.0.2.3"), local, "127.0.0.1", (e) => (e ? j(e) : r())))
    stray.close()
    guest.send(arpRequest("10.0.2.15", "10.0.2.2"))
    await guest.next(arpReplyFor("10.0.2.2"))
    expect(guest.frames.filter((f) => readArpReply(f)?.ip === "10.0.2.3")).toEqual([])
  })
})

describe("tslirp CLI refusals and the bin launcher", () => {
  it("an invalid value is refused before start with one line on stderr and exit 2", async () => {
    const p = new CliProcess(["--socket", join(dir, "x.sock"), "--net", "10.0.2.0/24", "--host", "10.9.9.9"])
    expect((await p.exited).code).toBe(2)
    expect(p.stderr).toBe("tslirp: invalid network configuration: host 10.9.9.9 is outside 10.0.2.0/24\n")
    expect(p.stdout).toBe("")
    expect(existsSync(join(dir, "x.sock"))).toBe(false)
  })

  it("a bad forwarding rule is refused with one line and exit 2", async () => {
    const p = new CliProcess(["--socket", join(dir, "y.sock"), "--hostfwd", "tcp:2222:22"])
    expect((await p.exited).code).toBe(2)
    expect(p.stderr).toBe('tslirp: --hostfwd: "tcp:2222:22" is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT or unix:PATH-[GUESTADDR]:GUESTPORT\n')
  })

  it("a socket in a missing directory is refused before start, as such, with exit 2", async () => {
    const p = new CliProcess(["--socket", join(dir, "no-such-dir", "z.sock")])
    expect((await p.exited).code).toBe(2)
    expect(p.stderr).toBe(`tslirp: --socket: directory ${join(dir, "no-such-dir")} does not exist\n`)
  })

  it("a link that cannot be opened (a TCP port in use) fails with one line and exit 1", async () => {
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve))
    const port = (busy.address() as AddressInfo).port
    try {
      const p = new CliProcess(["--listen", `127.0.0.1:${port}`])
      expect((await p.exited).code).toBe(1)
      expect(p.stderr.trim().split("\n")).toHaveLength(1)
      expect(p.stderr).toMatch(/^tslirp: cannot open tcp:127\.0\.0\.1:\d+: .*EADDRINUSE/)
    } finally {
      busy.close()
    }
  })

  it("bin/tslirp.js runs main.ts on Node 24, and re-launches it from an older or forced Node", async () => {
    const direct = spawnSync(NODE, [join(ROOT, "bin/tslirp.js"), "--help"], { encoding: "utf8" })
    expect(direct.status).toBe(0)
    expect(direct.stdout).toMatch(/^Usage: tslirp/)
    const forced = spawnSync(NODE, [join(ROOT, "bin/tslirp.js"), "--mtu", "1"], { encoding: "utf8", env: { ...process.env, TSLIRP_FORCE_SPAWN: "1" } })
    expect(forced.status).toBe(2)
    expect(forced.stderr).toBe("tslirp: no guest link: give --socket PATH, --listen HOST:PORT or --udp LOCAL,REMOTE (see --help)\n")
    const path = join(dir, "bin.sock")
    const p = new CliProcess(["--socket", path], [NODE, join(ROOT, "bin/tslirp.js")])
    running.push(p)
    await p.waitFor(/ready on unix:/)
    const g = track(await StreamGuest.open({ path }))
    g.send(arpRequest("10.0.2.15", "10.0.2.2"))
    await g.next(arpReplyFor("10.0.2.2"))
    expect(await p.stop("SIGTERM")).toEqual({ code: 0, signal: null })
  })
})
