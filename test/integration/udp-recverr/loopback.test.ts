/**
 * The Node runtime's UDP port on the native sockets, against real sockets on this host's
 * loopback (127.0.0.1 and ::1), in the test process: ICMP port unreachable, plain exchange,
 * many datagrams both ways, close semantics. The router cases live in netns-router.test.ts.
 */
import { execFile, execFileSync } from "node:child_process"
import { createSocket, type Socket } from "node:dgram"
import { fileURLToPath } from "node:url"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import type { HostEndpoint } from "../../../src/effects/address.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { socketId } from "../../../src/effects/ids.ts"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import type { UdpPort } from "../../../src/runtime/host/ports.ts"
import { nodeClock } from "../../../src/runtime/node/clock.ts"
import { nodeUdp } from "../../../src/runtime/node/udp.ts"
import { loadUdpAddon, openNativeUdpSocket } from "../../../src/runtime/node/udp-native.ts"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const NODE = `${root}node_modules/.bin/node`
const GC_CHILD = fileURLToPath(new URL("./gc-child.ts", import.meta.url))
const S1 = socketId(0x40000001)
const S2 = socketId(0x40000002)

interface Harness {
  readonly port: UdpPort
  readonly events: StackEvent[]
  /** Resolves once `n` events (in total) have been reported; rejects after `ms`. */
  until(n: number, ms?: number): Promise<void>
}

const open: Array<{ close(): void }> = []

const harness = (options: { outbound4?: string; outbound6?: string; logger?: ReturnType<typeof memoryLogger> } = {}): Harness => {
  const events: StackEvent[] = []
  const waiters: Array<() => void> = []
  const { logger = memoryLogger(), ...outbound } = options
  const port = nodeUdp(nodeClock, logger, { backend: "native", ...outbound })((e) => {
    events.push(e)
    for (const w of waiters.splice(0)) w()
  })
  open.push({ close: () => port.closeAll() })
  const until = (n: number, ms = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${events.length} of ${n} events after ${ms} ms: ${summary(events)}`)), ms)
      const check = (): void => {
        if (events.length >= n) {
          clearTimeout(timer)
          resolve()
        } else waiters.push(check)
      }
      check()
    })
  return { port, events, until }
}

const summary = (events: StackEvent[]): string =>
  JSON.stringify(events.slice(0, 5).map((e) => ({ ...e, now: undefined, data: "data" in e ? e.data.length : undefined })))

/** A dgram socket on `address` that answers "echo:" + datagram, and counts what it got. */
const echoServer = (type: "udp4" | "udp6", address: string): Promise<{ socket: Socket; port: number; got: Buffer[] }> =>
  new Promise((resolve, reject) => {
    const socket = createSocket(type)
    const got: Buffer[] = []
    socket.on("message", (msg, rinfo) => {
      got.push(msg)
      socket.send(Buffer.concat([Buffer.from("echo:"), msg]), rinfo.port, rinfo.address)
    })
    socket.once("error", reject)
    socket.bind(0, address, () => {
      open.push({ close: () => socket.close() })
      resolve({ socket, port: socket.address().port, got })
    })
  })

/** A port on `address` that was free a moment ago (nothing listens on it now). */
const closedPort = (type: "udp4" | "udp6", address: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createSocket(type)
    s.once("error", reject)
    s.bind(0, address, () => {
      const port = s.address().port
      s.close(() => resolve(port))
    })
  })

const v4 = (address: string, port: number): HostEndpoint => ({ family: 4, address, port })
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r))

beforeAll(() => {
  execFileSync("sh", [`${root}native/build.sh`, "--if-needed"], { stdio: ["ignore", "ignore", "pipe"] })
  const addon = loadUdpAddon()
  if (typeof addon === "string") throw new Error(addon)
})

afterEach(() => {
  for (const o of open.splice(0)) o.close()
})

describe("native UDP port on loopback", () => {
  it("a datagram to a closed port on 127.0.0.1 -> HostUnreachable port, to that endpoint, from 127.0.0.1", async () => {
    const h = harness()
    const port = await closedPort("udp4", "127.0.0.1")
    h.port.open(S1, 4)
    h.port.send(S1, v4("127.0.0.1", port), Buffer.from("anyone?"))
    await h.until(1)
    expect(h.events).toMatchObject([{ _tag: "HostUnreachable", sock: S1, to: v4("127.0.0.1", port), reason: "port", from: "127.0.0.1" }])
    expect(h.events[0]).not.toHaveProperty("mtu")
  })

  it("a datagram to a closed port on ::1 -> HostUnreachable port (ICMPv6)", async () => {
    const h = harness()
    const port = await closedPort("udp6", "::1")
    h.port.open(S1, 6)
    h.port.send(S1, { family: 6, address: "::1", port }, Buffer.from("anyone?"))
    await h.until(1)
    expect(h.events).toMatchObject([{ _tag: "HostUnreachable", sock: S1, to: { family: 6, address: "::1", port }, reason: "port", from: "::1" }])
  })

  it("plain exchange: the echo's reply arrives as HostUdpDatagram from the echo's endpoint, byte for byte", async () => {
    const h = harness()
    const echo = await echoServer("udp4", "127.0.0.1")
    h.port.open(S1, 4)
    const payloads = [Buffer.alloc(0), Buffer.from("hello"), Buffer.alloc(1472, 0xab), Buffer.alloc(65507 - 5, 0x5a)]
    for (const p of payloads) h.port.send(S1, v4("127.0.0.1", echo.port), p)
    await h.until(payloads.length)
    expect(h.events.map((e) => e._tag)).toEqual(payloads.map(() => "HostUdpDatagram"))
    for (const [i, e] of h.events.entries()) {
      if (e._tag !== "HostUdpDatagram") continue
      expect(e.from).toEqual(v4("127.0.0.1", echo.port))
      expect(Buffer.from(e.data).equals(Buffer.concat([Buffer.from("echo:"), payloads[i] ?? Buffer.alloc(0)]))).toBe(true)
    }
  })

  it("the pending error a port unreachable leaves does not eat the next send (sent in the same turn)", async () => {
    const h = harness()
    const echo = await echoServer("udp4", "127.0.0.1")
    const closed = await closedPort("udp4", "127.0.0.1")
    h.port.open(S1, 4)
    for (let i = 0; i < 5; i++) {
      h.port.send(S1, v4("127.0.0.1", closed), Buffer.from([i]))
      h.port.send(S1, v4("127.0.0.1", echo.port), Buffer.from([i]))
    }
    await h.until(10)
    const tags = h.events.map((e) => (e._tag === "HostUnreachable" ? `${e._tag} ${e.reason} ${e.to.port}` : e._tag)).sort()
    expect(tags).toEqual([...Array(5).fill(`HostUnreachable port ${closed}`), ...Array(5).fill("HostUdpDatagram")].sort())
    expect(echo.got).toHaveLength(5)
  })

  it("many datagrams both ways: 4000 to the echo, 4000 echoed back, none lost or altered, in order", async () => {
    const h = harness()
    const echo = await echoServer("udp4", "127.0.0.1")
    h.port.open(S1, 4)
    const N = 4000
    const BURST = 100
    for (let i = 0; i < N; i += BURST) {
      for (let j = i; j < i + BURST; j++) {
        const b = Buffer.alloc(200, j & 0xff)
        b.writeUInt32BE(j, 0)
        h.port.send(S1, v4("127.0.0.1", echo.port), b)
      }
      // Let the echo answer before the next burst: loopback drops what a full receive
      // buffer cannot take, and this test is about our socket, not about that.
      await h.until(i + BURST)
    }
    expect(echo.got).toHaveLength(N)
    const seqs = h.events.map((e) => (e._tag === "HostUdpDatagram" ? Buffer.from(e.data).readUInt32BE(5) : -1))
    expect(seqs).toEqual(Array.from({ length: N }, (_, i) => i))
    for (const e of h.events) {
      if (e._tag !== "HostUdpDatagram") continue
      const seq = Buffer.from(e.data).readUInt32BE(5)
      expect(e.data.length).toBe(205)
      expect(e.data[204]).toBe(seq & 0xff)
    }
  })

  it("a burst from the host at once (200 datagrams, sent before we read any) all arrive in order; the socket reads on", async () => {
    const h = harness()
    h.port.open(S1, 4)
    // Learn our socket's port from the echo's view of a first datagram.
    const echo = await echoServer("udp4", "127.0.0.1")
    const ours = await new Promise<number>((resolve) => {
      echo.socket.once("message", (_m, rinfo) => resolve(rinfo.port))
      h.port.send(S1, v4("127.0.0.1", echo.port), Buffer.from("hi"))
    })
    await h.until(1)
    const sender = createSocket("udp4")
    open.push({ close: () => sender.close() })
    await new Promise<void>((r) => sender.bind(0, "127.0.0.1", () => r()))
    // 200 small datagrams fit a default 208 KiB receive buffer (about 830 bytes each in the
    // kernel's accounting); more than that would be dropped by the kernel, not by us.
    const N = 200
    for (let i = 0; i < N; i++) sender.send(Buffer.from([i >> 8, i & 0xff]), ours, "127.0.0.1")
    await h.until(1 + N)
    sender.send(Buffer.from([N >> 8, N & 0xff]), ours, "127.0.0.1")
    await h.until(1 + N + 1)
    const got = h.events.slice(1).map((e) => (e._tag === "HostUdpDatagram" ? (e.data[0]! << 8) | e.data[1]! : -1))
    expect(got).toEqual(Array.from({ length: N + 1 }, (_, i) => i))
  })

  it("close: true once, then false; closeAll after it is harmless; nothing is reported after close", async () => {
    const h = harness()
    const closed = await closedPort("udp4", "127.0.0.1")
    h.port.open(S1, 4)
    h.port.open(S2, 4)
    h.port.send(S1, v4("127.0.0.1", closed), Buffer.from("x"))
    expect(h.port.close(S1)).toBe(true)
    expect(h.port.close(S1)).toBe(false)
    h.port.send(S1, v4("127.0.0.1", closed), Buffer.from("after close")) // ignored
    // S2 still works, and its error arrives after anything S1 could still have reported.
    h.port.send(S2, v4("127.0.0.1", closed), Buffer.from("y"))
    await h.until(1)
    await nextTurn()
    expect(h.events).toMatchObject([{ _tag: "HostUnreachable", sock: S2 }])
    h.port.closeAll()
    h.port.closeAll()
    expect(h.port.close(S2)).toBe(false)
  })

  it("the socket itself: close twice, send after close, close inside its own handler", async () => {
    const closed = await closedPort("udp4", "127.0.0.1")
    const seen: string[] = []
    const s = openNativeUdpSocket(4, {
      onMessage: () => seen.push("message"),
      onUnreachable: (_to, _port, reason) => {
        seen.push(reason)
        s.close()
        s.close()
      },
      onSendError: (_to, _port, code) => seen.push(code),
      onNotice: (m) => seen.push(m),
    })
    expect(s.localPort).toBeGreaterThan(0)
    // Two errors queued; the handler closes the socket on the first, so the second is never seen.
    s.send("127.0.0.1", closed, Buffer.from("1"))
    s.send("127.0.0.1", closed, Buffer.from("2"))
    await new Promise((r) => setTimeout(r, 200))
    expect(seen).toEqual(["port"])
    expect(s.localPort).toBe(0)
    s.send("127.0.0.1", closed, Buffer.from("3"))
    s.close()
    await nextTurn()
    expect(seen).toEqual(["port"])
  })

  it("bad input to send is reported, never thrown: wrong family -> HostSocketError EINVAL; port 0 likewise", async () => {
    const h = harness()
    h.port.open(S1, 4)
    h.port.send(S1, { family: 6, address: "::1", port: 9 }, Buffer.from("v6 on v4"))
    h.port.send(S1, v4("127.0.0.1", 0), Buffer.from("port 0"))
    await h.until(2)
    expect(h.events).toMatchObject([
      { _tag: "HostSocketError", sock: S1, code: "EINVAL" },
      { _tag: "HostSocketError", sock: S1, code: "EINVAL" },
    ])
  })
})

describe("native UDP socket: garbage collection", () => {
  it("64 sockets dropped without close are closed by the finalizer, and the process exits on its own", async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(NODE, ["--expose-gc", GC_CHILD], { timeout: 20_000 }, (err, stdout, stderr) =>
        err === null ? resolve(stdout) : reject(new Error(`${err.message}\n${stderr}`)),
      ),
    )
    const r = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { before: number; opened: number; after: number }
    expect(r.opened).toBe(r.before + 64)
    expect(r.after).toBe(r.before)
  })
})

describe("native UDP port with an outbound address (--outbound-addr)", () => {
  it("bound to 127.0.0.2: the receiver sees that source, its answer comes back, and a closed port is still HostUnreachable", async () => {
    const h = harness({ outbound4: "127.0.0.2" })
    const seen: string[] = []
    const echo = await echoServer("udp4", "127.0.0.1")
    echo.socket.on("message", (_m, rinfo) => seen.push(rinfo.address))
    const closed = await closedPort("udp4", "127.0.0.1")
    h.port.open(S1, 4)
    h.port.send(S1, v4("127.0.0.1", echo.port), Buffer.from("from .2"))
    await h.until(1)
    h.port.send(S1, v4("127.0.0.1", closed), Buffer.from("anyone?"))
    await h.until(2)
    expect(seen).toEqual(["127.0.0.2"])
    expect(h.events[0]).toMatchObject({ _tag: "HostUdpDatagram", sock: S1, from: v4("127.0.0.1", echo.port) })
    expect(h.events[1]).toMatchObject({ _tag: "HostUnreachable", sock: S1, to: v4("127.0.0.1", closed), reason: "port", from: "127.0.0.1" })
  })

  it("an outbound address this host lacks -> the datagram sent with the open is unreachable (net), then HostSocketError EADDRNOTAVAIL; one warning", async () => {
    const logger = memoryLogger()
    const h = harness({ outbound4: "192.0.2.1", outbound6: "2001:db8::1", logger })
    // As the stack does: open for a datagram, send it in the same batch of effects.
    h.port.open(S1, 4)
    h.port.send(S1, v4("127.0.0.1", 9), Buffer.from("lost?"))
    h.port.open(S2, 6)
    await h.until(3)
    expect(h.events).toMatchObject([
      { _tag: "HostUnreachable", sock: S1, to: v4("127.0.0.1", 9), reason: "net" },
      { _tag: "HostSocketError", sock: S1, code: "EADDRNOTAVAIL" },
      { _tag: "HostSocketError", sock: S2, code: "EADDRNOTAVAIL" },
    ])
    // Once per process (each test file has its own module state): the first at warn, the rest at debug.
    const lines = logger.lines.filter((l) => l.message.includes("EADDRNOTAVAIL"))
    expect(lines.map((l) => l.level)).toEqual(["warn", "debug"])
    expect(lines[0]?.message).toContain("outbound address 192.0.2.1")
  })
})

describe("node:dgram UDP port with an outbound address this host lacks", () => {
  it("the bind fails: each datagram that waited for it is unreachable (net), then HostSocketError", async () => {
    const events: StackEvent[] = []
    const port = nodeUdp(nodeClock, memoryLogger(), { backend: "dgram", outbound4: "192.0.2.1" })((e) => events.push(e))
    open.push({ close: () => port.closeAll() })
    port.open(S1, 4)
    port.send(S1, v4("127.0.0.1", 9), Buffer.from("one"))
    port.send(S1, v4("127.0.0.1", 10), Buffer.from("two"))
    const deadline = Date.now() + 10_000
    while (events.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    expect(events).toMatchObject([
      { _tag: "HostUnreachable", sock: S1, to: v4("127.0.0.1", 9), reason: "net" },
      { _tag: "HostUnreachable", sock: S1, to: v4("127.0.0.1", 10), reason: "net" },
      { _tag: "HostSocketError", sock: S1, code: "EADDRNOTAVAIL" },
    ])
  })
})
