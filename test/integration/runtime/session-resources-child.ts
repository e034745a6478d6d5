/**
 * Run by session-resources.test.ts inside a network namespace of its own (only `lo`, ping
 * sockets allowed): opens a guest session on the Node host layer with a TCP, a UDP and an ICMP
 * flow and armed timers, ends it in the way named on the command line, and prints one JSON
 * line: the process's socket descriptors and live timers before, during and after, and how the
 * session program ended.
 *
 * Timers are counted by wrapping the global setTimeout/clearTimeout before anything else runs:
 * the Node host's timers (and Effect's own) are made through them.
 */
import { readdirSync, readlinkSync } from "node:fs"
import { createServer } from "node:net"
import { createSocket } from "node:dgram"

const live = new Set<unknown>()
const realSet = globalThis.setTimeout
const realClear = globalThis.clearTimeout
globalThis.setTimeout = ((fn: (...a: Array<unknown>) => void, ms?: number, ...args: Array<unknown>) => {
  const h: ReturnType<typeof realSet> = realSet(
    (...a: Array<unknown>) => {
      live.delete(h)
      fn(...a)
    },
    ms,
    ...args,
  )
  live.add(h)
  return h
}) as typeof setTimeout
globalThis.clearTimeout = ((h: ReturnType<typeof realSet> | undefined) => {
  live.delete(h)
  realClear(h)
}) as typeof clearTimeout

const { Effect, Exit, Fiber, Layer } = await import("effect")
const { defaultConfig } = await import("../../../src/protocol/stack/config.ts")
const { guestSession } = await import("../../../src/runtime/host/guest-session.ts")
const { memoryLogger } = await import("../../../src/runtime/host/logger.ts")
const { realStack } = await import("../../../src/runtime/host/session.ts")
const { logLayer, nodeHostLayer } = await import("../../../src/runtime/node/layer.ts")
const { arp, ether, GUEST, GUEST_MAC, GW_MAC, HOST, ipv4Packet, pingFrame, udpFrame } = await import("../stack/frames.ts")
const { ipv4 } = await import("../../../src/protocol/wire/ipv4-address.ts")
const { put16, put32 } = await import("../../../src/protocol/wire/bytes.ts")
const { finish, sum16 } = await import("../../../src/protocol/wire/checksum.ts")

type Way = "guest-gone" | "link-error" | "reducer-error" | "shutdown"
const way = process.argv[2] as Way

const sockets = (): number =>
  new Set(
    readdirSync("/proc/self/fd")
      .map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`)
        } catch {
          return ""
        }
      })
      .filter((l) => l.startsWith("socket:")),
  ).size

const tcpSyn = (dport: number): Uint8Array => {
  const t = new Uint8Array(20)
  put16(t, 0, 40000)
  put16(t, 2, dport)
  put32(t, 4, 1000)
  t[12] = 5 << 4
  t[13] = 0x02 // SYN
  put16(t, 14, 64240)
  const pseudo = (GUEST >>> 16) + (GUEST & 0xffff) + (HOST >>> 16) + (HOST & 0xffff) + 6 + t.length
  put16(t, 16, finish(sum16(t, 0, t.length, pseudo)))
  return ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 6, t))
}

// The hosts the flows reach, on this namespace's loopback.
const tcpServer = createServer(() => undefined)
await new Promise<void>((r) => tcpServer.listen(0, "127.0.0.1", () => r()))
const tcpPort = (tcpServer.address() as { port: number }).port
const udpEcho = createSocket("udp4")
udpEcho.on("message", (m, r) => udpEcho.send(m, r.port, r.address))
await new Promise<void>((r) => udpEcho.bind(0, "127.0.0.1", () => r()))
const udpPort = udpEcho.address().port

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))
const until = async (what: string, cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => realSet(r, 2))
  if (!cond()) throw new Error(`never saw ${what}`)
}

// A frame of an ethertype no stack knows makes this one throw: a reducer failing on cue.
const FAIL_TYPE = 0x88b5
type Machine = import("../../../src/runtime/host/session.ts").StackMachine<import("../../../src/protocol/stack/stack.ts").StackState>
const machine: Machine = {
  create: realStack.create,
  reduce: (s, e) => {
    if (e._tag === "FrameFromGuest" && e.frame[12] === FAIL_TYPE >> 8 && e.frame[13] === (FAIL_TYPE & 0xff)) throw new Error("failing on cue")
    return realStack.reduce(s, e)
  },
}

await tick()
const before = { sockets: sockets(), timers: live.size }

const toGuest: Array<Uint8Array> = []
let linkClosed = 0
let handlers: import("../../../src/runtime/link/guest-link.ts").GuestHandlers | undefined
const conn = {
  peer: "test:1",
  send: (f: Uint8Array) => void toGuest.push(f.slice()),
  flush: () => undefined,
  close: () => void linkClosed++,
}
const log = memoryLogger()
const fiber = Effect.runFork(
  guestSession(defaultConfig, conn, { ready: (h) => (handlers = h), machine: machine as Machine as unknown as import("../../../src/runtime/host/session.ts").StackMachine<unknown> }).pipe(
    Effect.provide(Layer.provideMerge(nodeHostLayer, logLayer(log))),
  ),
)
const h = handlers!
h.onFrame(ether(new Uint8Array(6).fill(0xff), 0x0806, arp(1, GUEST_MAC, GUEST, new Uint8Array(6), HOST)))
h.onFrame(udpFrame(GUEST, HOST, 5000, udpPort, new TextEncoder().encode("x")))
h.onFrame(tcpSyn(tcpPort))
// TEST-NET-1: no route in this namespace; the ping socket is opened all the same.
h.onFrame(pingFrame(ipv4(192, 0, 2, 1), 7, 1, new Uint8Array(8)))
// Guest -> stack -> host UDP echo -> stack -> guest; and the host's SYN-ACK answer.
await until("the UDP echo and the SYN-ACK", () => toGuest.filter((f) => f[23] === 17).length > 0 && toGuest.some((f) => f[23] === 6 && (f[47]! & 0x12) === 0x12))
await tick()
const during = { sockets: sockets(), timers: live.size }

switch (way) {
  case "guest-gone":
    h.onClose()
    break
  case "link-error":
    h.onClose("ECONNRESET")
    break
  case "reducer-error":
    h.onFrame(ether(GW_MAC, FAIL_TYPE, new Uint8Array(46)))
    break
  case "shutdown":
    await Effect.runPromise(Fiber.interrupt(fiber))
    break
}
const exit = await Effect.runPromise(Fiber.await(fiber))
const ended = Exit.isFailure(exit) ? (exit.cause.toString().match(/GuestGone|LinkFailed|ReducerFailed/)?.[0] ?? (Exit.hasInterrupts(exit) ? "Interrupted" : "other")) : "success"
// Closing a socket is immediate; give the event loop a few turns for close callbacks anyway.
for (let i = 0; i < 5; i++) await tick()
const after = { sockets: sockets(), timers: live.size }
tcpServer.close()
udpEcho.close()
process.stdout.write(`${JSON.stringify({ way, ended, before, during, after, linkClosed, errors: log.lines.filter((l) => l.level === "error").length })}\n`)
