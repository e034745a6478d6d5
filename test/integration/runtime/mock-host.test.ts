import { it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { afterEach, describe, expect } from "vitest"
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { socketId, type TimerId, timerId } from "../../../src/effects/ids.ts"

import { instant } from "../../../src/effects/instant.ts"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import type { StackMachine } from "../../../src/runtime/host/session.ts"
import { makeMockHost, type MockHostOptions } from "../../../src/runtime/mock/mock-host.ts"
import { arpRequest, dnsQuery, readArpReply, readUdp, udpFrame } from "./frames.ts"
import { checkedMachine } from "../../support/checked.ts"

/** Test timers named by a letter (the key is its char code). */
const T = (letter: string): TimerId => timerId("arp", letter.charCodeAt(0))
const name = (t: TimerId): string => String.fromCharCode(t.key)

// The real stack runs through the referential-transparency harness (test/support/checked.ts).
const checked = checkedMachine()
const createMockHost = (o: MockHostOptions = {}) => makeMockHost({ machine: checked.machine as StackMachine<unknown>, ...o })
afterEach(() => expect(checked.failures.splice(0)).toEqual([]))

const sock = socketId(1)
const collect = (): { events: Array<StackEvent>; report: (e: StackEvent) => void } => {
  const events: Array<StackEvent> = []
  return { events, report: (e) => void events.push(e) }
}

// Every test runs on a TestClock (it.effect): the host's deferred actions are sleeps on it.
describe("mocked host: ports", () => {
  it.effect("a scripted UDP responder answers a UdpSend after the latency, from its endpoint", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 5 })
      host.udpResponder({ address: "127.0.0.1", port: 7777 }, (data, _from, ctx) => ctx.reply(Uint8Array.from([...data].reverse())))
      const { events, report } = collect()
      const udp = host.deps(memoryLogger()).udp(report)
      udp.open(sock, 4)
      udp.send(sock, { family: 4, address: "127.0.0.1", port: 7777 }, Uint8Array.of(1, 2, 3))
      yield* host.advance(5)
      expect(events).toEqual([]) // the responder got it at 5; its reply takes another 5
      yield* host.advance(5)
      expect(events).toEqual([
        { _tag: "HostUdpDatagram", now: instant(10), sock, from: { family: 4, address: "127.0.0.1", port: 7777 }, data: Uint8Array.of(3, 2, 1) },
      ])
      expect(host.udpSent.map((d) => [d.at, d.to.port, [...d.data]])).toEqual([[0, 7777, [1, 2, 3]]])
    }),
  )

  it.effect("actions are sleeps on the test's TestClock: TestClock.adjust wakes them; closeAll takes a port's away", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 5 })
      host.udpEcho("127.0.0.1", 7)
      const { events, report } = collect()
      const udp = host.deps(memoryLogger()).udp(report)
      const timers = host.deps(memoryLogger()).timers(report)
      udp.open(sock, 4)
      udp.send(sock, { family: 4, address: "127.0.0.1", port: 7 }, Uint8Array.of(1))
      expect(host.nextDeadline()).toBe(5)
      yield* TestClock.adjust(10) // the echo hears it at 5 and answers at 10
      expect(events.map((e) => [e._tag, e.now])).toEqual([["HostUdpDatagram", 10]])
      timers.set(T("a"), instant(50))
      udp.send(sock, { family: 4, address: "127.0.0.1", port: 7 }, Uint8Array.of(2))
      expect(host.nextDeadline()).toBe(15)
      udp.closeAll()
      timers.closeAll()
      expect(host.nextDeadline()).toBe(undefined)
      yield* TestClock.adjust(100)
      expect(events).toHaveLength(1)
    }),
  )

  it.effect("a scripted host that throws fails the test at the next settle, never silently", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.udpResponder({ address: "127.0.0.1", port: 7 }, () => {
        throw new Error("script bug")
      })
      const udp = host.deps(memoryLogger()).udp(collect().report)
      udp.open(sock, 4)
      udp.send(sock, { family: 4, address: "127.0.0.1", port: 7 }, Uint8Array.of(1))
      const exit = yield* Effect.exit(host.settle)
      expect(String(exit)).toContain("script bug")
    }),
  )

  it.effect("a refused UDP endpoint reports HostUnreachable port; an unscripted one stays silent", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.refuseUdp("127.0.0.1", 9)
      const { events, report } = collect()
      const udp = host.deps(memoryLogger()).udp(report)
      udp.open(sock, 4)
      udp.send(sock, { family: 4, address: "127.0.0.1", port: 9 }, Uint8Array.of(1))
      udp.send(sock, { family: 4, address: "192.0.2.1", port: 9 }, Uint8Array.of(1))
      yield* host.advance(1000)
      expect(events).toEqual([{ _tag: "HostUnreachable", now: instant(0), sock, to: { family: 4, address: "127.0.0.1", port: 9 }, reason: "port" }])
    }),
  )

  it.effect("timers fire in TestClock order, each with its deadline as now; cancel and re-arm count", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ start: 1000 })
      const { events, report } = collect()
      const timers = host.deps(memoryLogger()).timers(report)
      timers.set(T("a"), instant(1030))
      timers.set(T("b"), instant(1010))
      timers.set(T("c"), instant(1020))
      timers.set(T("d"), instant(1020))
      timers.cancel(T("c"))
      timers.set(T("a"), instant(1005)) // moved earlier: fires once, at 1005
      yield* host.advance(15)
      expect(events.map((e) => e._tag === "TimerFired" && [name(e.timer), e.now])).toEqual([
        ["a", 1005],
        ["b", 1010],
      ])
      expect(host.now).toBe(1015)
      expect(host.nextDeadline()).toBe(1020)
      yield* host.advance(100)
      expect(events.map((e) => e._tag === "TimerFired" && [name(e.timer), e.now])).toEqual([
        ["a", 1005],
        ["b", 1010],
        ["d", 1020],
      ])
      timers.set(T("e"), instant(2000))
      timers.closeAll()
      yield* host.advance(10_000)
      expect(events).toHaveLength(3)
    }),
  )

  it.effect("ICMP: a responder echoes with its TTL; denyPing refuses the socket", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.icmpResponder("192.0.2.7", 57)
      const { events, report } = collect()
      const icmp = host.deps(memoryLogger()).icmp(report)
      icmp.open(sock, 4)
      icmp.send(sock, "192.0.2.7", 3, Uint8Array.of(9, 9))
      icmp.send(sock, "192.0.2.8", 4, Uint8Array.of(9, 9))
      yield* host.settle
      expect(events).toEqual([{ _tag: "HostIcmpEchoReply", now: instant(0), sock, from: "192.0.2.7", sequence: 3, payload: Uint8Array.of(9, 9), ttl: 57 }])
      host.denyPing()
      const denied = collect()
      host.deps(memoryLogger()).icmp(denied.report).open(sock, 4)
      yield* host.settle
      expect(denied.events).toEqual([{ _tag: "HostSocketError", now: instant(0), sock, code: "EACCES" }])
    }),
  )

  it.effect("TCP: a scripted listener talks both ways, half-closes; unscripted endpoints refuse", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 1 })
      host.tcpListener({ address: "127.0.0.1", port: 80 }, (peer) => {
        peer.onData = (d) => peer.write(Uint8Array.from([...d].map((b) => b + 1)))
        peer.onEnd = () => peer.end()
      })
      const { events, report } = collect()
      const tcp = host.deps(memoryLogger()).tcp(report)
      const s = socketId(5)
      tcp.connect(s, { family: 4, address: "127.0.0.1", port: 80 })
      tcp.connect(socketId(6), { family: 4, address: "127.0.0.1", port: 81 })
      yield* host.advance(1)
      tcp.write(s, [Uint8Array.of(1), Uint8Array.of(2)])
      tcp.shutdownWrite(s)
      yield* host.advance(10)
      expect(events.map((e) => [e._tag, e.now])).toEqual([
        ["HostTcpConnected", 1],
        ["HostSocketError", 1],
        ["HostSocketClosed", 1],
        ["HostTcpWritten", 1],
        ["HostTcpData", 3],
        ["HostTcpEof", 3],
      ])
      expect(events.find((e) => e._tag === "HostTcpData")).toMatchObject({ data: Uint8Array.of(2, 3) })
      expect(host.tcpPeers[0]!.received()).toEqual(Uint8Array.of(1, 2))
      expect(host.tcpPeers[0]!.eof).toBe(true)
    }),
  )

  it.effect("TCP: TcpSetReading false holds the peer's data until reading resumes", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.tcpListener({ address: "127.0.0.1", port: 80 }, (peer) => peer.write(Uint8Array.of(7)))
      const { events, report } = collect()
      const tcp = host.deps(memoryLogger()).tcp(report)
      const s = socketId(5)
      tcp.connect(s, { family: 4, address: "127.0.0.1", port: 80 })
      tcp.setReading(s, false)
      yield* host.advance(100)
      expect(events.map((e) => e._tag)).toEqual(["HostTcpConnected"])
      tcp.setReading(s, true)
      yield* host.settle
      expect(events.map((e) => e._tag)).toEqual(["HostTcpConnected", "HostTcpData"])
    }),
  )
})

/** A toy reducer that forwards every guest frame as a UDP datagram and delivers every reply. */
const udpRelay: StackMachine<{ opened: boolean }> = {
  create: () => ({ opened: false }),
  reduce(state, event) {
    const out: Array<StackEffect> = []
    switch (event._tag) {
      case "FrameFromGuest":
        if (!state.opened) out.push({ _tag: "UdpOpen", sock, family: 4 })
        out.push({ _tag: "UdpSend", sock, to: { family: 4, address: "127.0.0.1", port: 7 }, data: event.frame })
        out.push({ _tag: "SetTimer", timer: timerId("flows", 0), at: instant(event.now + 100) })
        return [{ opened: true }, out]
      case "HostUdpDatagram":
        return [state, [{ _tag: "DeliverFrame", frame: event.data }]]
      case "TimerFired":
        return [state, [{ _tag: "Log", level: "info", message: `timer ${event.timer.layer} at ${event.now}` }, { _tag: "SocketClose", sock }]]
      case "Shutdown":
        return [state, [{ _tag: "Log", level: "info", message: "bye" }]]
      default:
        return [state, []]
    }
  },
}

describe("mocked host: sessions", () => {
  it.effect("the interpreter carries out effects and feeds the answers back at TestClock instants", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 2 })
      host.udpEcho("127.0.0.1", 7)
      const guest = host.attach({}, { machine: udpRelay as StackMachine<unknown> })
      yield* guest.send(Uint8Array.of(1, 2, 3))
      expect(guest.take()).toEqual([])
      yield* host.advance(4)
      expect(guest.frames).toEqual([{ at: 4, frame: Uint8Array.of(1, 2, 3) }])
      yield* host.advance(200)
      expect(guest.logs).toEqual([{ level: "info", message: "timer flows at 100" }])
      expect(guest.effects.map((e) => e._tag)).toEqual(["UdpOpen", "UdpSend", "SetTimer", "DeliverFrame", "Log", "SocketClose"])
      yield* guest.shutdown()
      expect(guest.logs.at(-1)).toEqual({ level: "info", message: "bye" })
      expect(guest.session.closed).toBe(true)
    }),
  )

  it.effect("after shutdown nothing more reaches the guest: pending replies and timers are dropped", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 10 })
      host.udpEcho("127.0.0.1", 7)
      const guest = host.attach({}, { machine: udpRelay as StackMachine<unknown> })
      yield* guest.send(Uint8Array.of(1))
      expect(host.nextDeadline()).toBe(10) // the echo's answer, then the relay's timer at 100
      yield* guest.shutdown()
      expect(host.nextDeadline()).toBe(undefined) // the session's sleeps were interrupted with it
      yield* host.advance(1000)
      expect(guest.frames).toEqual([])
      expect(guest.logs).toEqual([{ level: "info", message: "bye" }])
    }),
  )

  it.effect("the real stack: ARP for the gateway, then UDP to 10.0.2.2 reaches 127.0.0.1 and the echo comes back", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.udpEcho("127.0.0.1", 7777)
      const guest = host.attach()
      yield* guest.send(arpRequest("10.0.2.15", "10.0.2.2"))
      const [reply] = guest.take()
      const arp = reply === undefined ? undefined : readArpReply(reply)
      expect(arp?.ip).toBe("10.0.2.2")
      yield* guest.send(udpFrame({ dstMac: arp!.mac, src: "10.0.2.15", dst: "10.0.2.2", srcPort: 5000, dstPort: 7777, payload: Buffer.from("ping") }))
      expect(host.udpSent.map((d) => [d.to.address, d.to.port, Buffer.from(d.data).toString()])).toEqual([["127.0.0.1", 7777, "ping"]])
      const back = guest.take().map(readUdp)
      expect(back).toEqual([{ src: "10.0.2.2", dst: "10.0.2.15", srcPort: 7777, dstPort: 5000, payload: Uint8Array.from(Buffer.from("ping")) }])
    }),
  )

  it.effect("the real stack: a DNS query to 10.0.2.3 is answered by the scripted upstream", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.dnsResponder("127.0.0.1", 5353, { "host.test": "192.0.2.80" })
      const guest = host.attach({ dnsUpstream: { family: 4, address: "127.0.0.1", port: 5353 } })
      yield* guest.send(arpRequest("10.0.2.15", "10.0.2.3"))
      const arp = readArpReply(guest.take()[0]!)
      yield* guest.send(udpFrame({ dstMac: arp!.mac, src: "10.0.2.15", dst: "10.0.2.3", srcPort: 40000, dstPort: 53, payload: dnsQuery(0x1234, "host.test") }))
      const [answer] = guest.take().map(readUdp)
      expect(answer).toMatchObject({ src: "10.0.2.3", dst: "10.0.2.15", srcPort: 53, dstPort: 40000 })
      const p = answer!.payload
      expect([p[0], p[1], p[3]! & 0x0f, p[7]]).toEqual([0x12, 0x34, 0, 1]) // same id, NOERROR, one answer
      expect([...p.subarray(p.length - 4)]).toEqual([192, 0, 2, 80])
    }),
  )
})
