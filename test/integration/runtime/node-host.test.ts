/**
 * The Node host ports against real loopback sockets: what each port reports, with which
 * codes, in which order.
 */
import { createSocket } from "node:dgram"
import { readFileSync } from "node:fs"
import { createServer, type Server, type Socket } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import type { StackEvent } from "../../../src/effects/event.ts"
import { socketId, timerId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import { nodeHostDeps } from "../../../src/runtime/node/deps.ts"

const cleanup: Array<() => void> = []
afterEach(() => {
  for (const c of cleanup.splice(0)) c()
})

const recorder = () => {
  const events: Array<StackEvent> = []
  const waiters: Array<() => void> = []
  return {
    events,
    report: (e: StackEvent) => {
      events.push(e)
      for (const w of waiters.splice(0)) w()
    },
    /** Resolves once an event satisfies `pred` (fails the test after 5 s). */
    until(pred: (e: StackEvent) => boolean): Promise<StackEvent> {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out; events: ${events.map((e) => e._tag).join(",")}`)), 5000)
        const look = (): void => {
          const found = events.find(pred)
          if (found !== undefined) {
            clearTimeout(t)
            resolve(found)
          } else waiters.push(look)
        }
        look()
      })
    },
  }
}

const listen = (onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> =>
  new Promise((resolve) => {
    const server = createServer({ allowHalfOpen: true }, onConn)
    server.listen(0, "127.0.0.1", () => {
      cleanup.push(() => server.close())
      resolve({ server, port: (server.address() as { port: number }).port })
    })
  })

const logger = memoryLogger()
const deps = nodeHostDeps(logger)
const s1 = socketId(1)

describe("Node host TCP", () => {
  it("connect, write (HostTcpWritten), half-close both ways, close", async () => {
    let peer: Socket | undefined
    const got: Array<Buffer> = []
    let peerEnded = false
    const { port } = await listen((s) => {
      peer = s
      s.on("data", (d) => got.push(d))
      s.on("end", () => {
        peerEnded = true
      })
    })
    const r = recorder()
    const tcp = deps.tcp(r.report)
    cleanup.push(() => tcp.closeAll())
    tcp.connect(s1, { family: 4, address: "127.0.0.1", port })
    await r.until((e) => e._tag === "HostTcpConnected")
    tcp.write(s1, [Buffer.from("hel"), Buffer.from("lo")])
    expect(await r.until((e) => e._tag === "HostTcpWritten")).toMatchObject({ sock: s1, bytes: 5 })
    tcp.shutdownWrite(s1)
    await new Promise<void>((res) => {
      const check = (): void => (peerEnded ? res() : void setTimeout(check, 10))
      check()
    })
    expect(Buffer.concat(got).toString()).toBe("hello")
    // Our side is half-closed; the peer can still send, then end.
    peer!.end("bye")
    await r.until((e) => e._tag === "HostTcpEof")
    const data = r.events.filter((e) => e._tag === "HostTcpData").map((e) => (e._tag === "HostTcpData" ? Buffer.from(e.data).toString() : ""))
    expect(data.join("")).toBe("bye")
    expect(tcp.close(s1)).toBe(true)
    await r.until((e) => e._tag === "HostSocketClosed")
    expect(tcp.close(s1)).toBe(false)
  })

  it("a refused connect reports ECONNREFUSED, then closed", async () => {
    const { server, port } = await listen(() => undefined)
    await new Promise((res) => server.close(res))
    const r = recorder()
    const tcp = deps.tcp(r.report)
    tcp.connect(s1, { family: 4, address: "127.0.0.1", port })
    await r.until((e) => e._tag === "HostSocketClosed")
    expect(r.events.map((e) => (e._tag === "HostSocketError" ? e.code : e._tag))).toEqual(["ECONNREFUSED", "HostSocketClosed"])
  })

  it("TcpSetReading false stops HostTcpData until reading resumes", async () => {
    let peer: Socket | undefined
    const { port } = await listen((s) => {
      peer = s
    })
    const r = recorder()
    const tcp = deps.tcp(r.report)
    cleanup.push(() => tcp.closeAll())
    tcp.connect(s1, { family: 4, address: "127.0.0.1", port })
    await r.until((e) => e._tag === "HostTcpConnected")
    tcp.setReading(s1, false)
    peer!.write("held")
    // Give the bytes time to arrive; while paused they must stay in the kernel buffer.
    await new Promise((res) => setTimeout(res, 200))
    expect(r.events.some((e) => e._tag === "HostTcpData")).toBe(false)
    tcp.setReading(s1, true)
    const d = await r.until((e) => e._tag === "HostTcpData")
    expect(d._tag === "HostTcpData" && Buffer.from(d.data).toString()).toBe("held")
  })

  it("TcpReset aborts with RST: the peer sees ECONNRESET", async () => {
    const peerError = new Promise<string>((res) => {
      void listen((s) => {
        s.on("error", (e: NodeJS.ErrnoException) => res(e.code ?? "?"))
        s.on("end", () => res("FIN"))
      }).then(({ port }) => {
        const r = recorder()
        const tcp = deps.tcp(r.report)
        cleanup.push(() => tcp.closeAll())
        tcp.connect(s1, { family: 4, address: "127.0.0.1", port })
        void r.until((e) => e._tag === "HostTcpConnected").then(() => tcp.reset(s1))
      })
    })
    expect(await peerError).toBe("ECONNRESET")
  })
})

describe("Node host UDP", () => {
  it("opens an ephemeral socket, sends, and reports replies with the sender's endpoint", async () => {
    const echo = createSocket("udp4")
    echo.on("message", (m, ri) => echo.send(m, ri.port, ri.address))
    await new Promise<void>((res) => echo.bind(0, "127.0.0.1", () => res()))
    cleanup.push(() => echo.close())
    const port = echo.address().port
    const r = recorder()
    const udp = deps.udp(r.report)
    cleanup.push(() => udp.closeAll())
    const s = socketId(0x40000001)
    udp.open(s, 4)
    udp.send(s, { family: 4, address: "127.0.0.1", port }, Uint8Array.of(1, 2, 3), 5) // sent before the bind completes
    const e = await r.until((x) => x._tag === "HostUdpDatagram")
    expect(e).toMatchObject({ sock: s, from: { family: 4, address: "127.0.0.1", port } })
    expect(e._tag === "HostUdpDatagram" && [...e.data]).toEqual([1, 2, 3])
    expect(udp.close(s)).toBe(true)
    expect(udp.close(s)).toBe(false)
  })

  it("a send the host refuses locally is HostUnreachable: broadcast without SO_BROADCAST -> admin", async () => {
    const r = recorder()
    const udp = deps.udp(r.report)
    cleanup.push(() => udp.closeAll())
    const s = socketId(0x40000001)
    udp.open(s, 4)
    // Linux refuses a broadcast destination on a socket without SO_BROADCAST with EACCES.
    udp.send(s, { family: 4, address: "255.255.255.255", port: 9 }, Uint8Array.of(1))
    const e = await r.until((x) => x._tag === "HostSocketError" || x._tag === "HostUnreachable")
    expect(e).toMatchObject({ _tag: "HostUnreachable", sock: s, to: { address: "255.255.255.255", port: 9 }, reason: "admin" })
  })
})

describe("Node host ICMP", () => {
  it("follows the host's ping_group_range: echo reply when allowed, one warn line and EACCES when not", async () => {
    const range = readFileSync("/proc/sys/net/ipv4/ping_group_range", "utf8").trim().split(/\s+/).map(Number)
    const allowed = range[0]! <= 0 && range[1]! >= 0 // we run as root, gid 0
    const log = memoryLogger()
    const ports = nodeHostDeps(log)
    const r = recorder()
    const icmp = ports.icmp(r.report)
    cleanup.push(() => icmp.closeAll())
    const s = socketId(0x40000002)
    icmp.open(s, 4)
    icmp.send(s, "127.0.0.1", 7, Uint8Array.of(1, 2, 3, 4))
    const e = await r.until((x) => x._tag === "HostIcmpEchoReply" || x._tag === "HostSocketError")
    if (allowed) {
      expect(e).toMatchObject({ _tag: "HostIcmpEchoReply", from: "127.0.0.1", sequence: 7 })
    } else {
      expect(e).toMatchObject({ _tag: "HostSocketError", sock: s, code: "EACCES" })
      icmp.open(socketId(0x40000003), 4)
      await r.until((x) => x._tag === "HostSocketError" && x.sock === 0x40000003)
      const warns = log.lines.filter((l) => l.level === "warn")
      // One warning per process: another test file may have used it up, never two.
      expect(warns.length).toBeLessThanOrEqual(1)
      for (const w of warns) expect(w.message).toMatch(/^ICMP echo to the host network disabled: ping sockets refused \(EACCES\)/)
    }
  })
})

describe("Node timers", () => {
  const [LATE, EARLY, GONE] = [1, 2, 3]
  const NAMES: Record<number, string> = { 1: "late", 2: "early", 3: "gone" }
  it("fire once per arming with now at or after the deadline; cancelled ones never fire", async () => {
    const r = recorder()
    const timers = deps.timers(r.report)
    cleanup.push(() => timers.closeAll())
    const now = deps.clock.now()
    timers.set(timerId("arp", LATE), instant(now + 60))
    timers.set(timerId("arp", EARLY), instant(now + 20))
    timers.set(timerId("arp", GONE), instant(now + 10))
    timers.cancel(timerId("arp", GONE))
    await r.until((e) => e._tag === "TimerFired" && e.timer.key === LATE)
    const fired = r.events.map((e) => (e._tag === "TimerFired" ? [NAMES[e.timer.key], e.now >= now + (e.timer.key === LATE ? 60 : 20)] : e._tag))
    expect(fired).toEqual([
      ["early", true],
      ["late", true],
    ])
  })
})
