/**
 * States are plain data (issue 7): `structuredClone` of a stack state in the middle of
 * everything (a DHCP lease, UDP and ICMP flows, a datagram half reassembled, a frame waiting
 * for ARP) is a state that behaves exactly like the original. Both are fed the same events;
 * each step gives equal effects and equal states (deep comparison, bytes included), and the
 * clone shares no object with the original.
 */
import { describe, expect, it } from "vitest"
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { type SocketId, timerId } from "../../../src/effects/ids.ts"
import { addMillis, instant } from "../../../src/effects/instant.ts"
import { BOOTREQUEST, DHCPDISCOVER, DHCPREQUEST, OPT, emitDhcp, optIpv4, optU8 } from "../../../src/protocol/dhcp/wire.ts"
import { ARP_REPLY } from "../../../src/protocol/ethernet/arp-wire.ts"
import { createSlabAllocator } from "../../../src/protocol/ethernet/frame-buffer.ts"
import { FLOW_SWEEP_TIMER } from "../../../src/protocol/flows/flow-table.ts"
import { UDP_IDLE_MS } from "../../../src/protocol/udp/layer.ts"
import { type StackState, reduce as rawReduce } from "../../../src/protocol/stack/stack.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC } from "../../../src/protocol/wire/mac.ts"
import { checkedStackReduce } from "../../support/checked.ts"
import { firstDifference } from "../../support/referential.ts"
import { StackDriver, ofTag } from "./driver.ts"
import { GUEST, GUEST_MAC, GW_MAC, HOST, arp, bytes, ether, icmpEcho, ipv4Packet, pingFrame, udpFrame, udpSegment } from "./frames.ts"

const reduce = checkedStackReduce((s: StackState, e: StackEvent) => rawReduce(s, e))

const dhcpFrame = (type: number, extra: ReadonlyArray<readonly [number, Uint8Array]> = []) => {
  const msg = emitDhcp({ op: BOOTREQUEST, xid: 0x77, chaddr: GUEST_MAC, options: [[OPT.messageType, optU8(type)], ...extra] }).bytes
  return ether(BROADCAST_MAC, 0x0800, ipv4Packet(0, 0xffffffff, 17, udpSegment(0, 0xffffffff, 68, 67, msg)))
}

const FAR = ipv4(192, 0, 2, 5)
const payload = new Uint8Array(3000).map((_, i) => (i * 13) & 0xff)
const seg = udpSegment(GUEST, HOST, 41000, 7777, payload)
const fragment = (off: number, len: number, last: boolean) =>
  ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 17, seg.subarray(off, off + len), { id: 99, mf: !last, fragOffset: off }))

/** Where everything is in progress; returns the state and the host sockets it opened. */
const midway = () => {
  const d = new StackDriver()
  d.frame(dhcpFrame(DHCPDISCOVER))
  d.frame(dhcpFrame(DHCPREQUEST, [[50, optIpv4(GUEST)], [54, optIpv4(HOST)]]))
  d.frame(udpFrame(GUEST, HOST, 40000, 7777, bytes("udp flow")))
  d.frame(pingFrame(FAR, 0x51, 1, bytes("icmp flow")))
  d.frame(fragment(0, 1480, false)) // reassembly in progress
  // 64 other guests push GUEST out of the ARP cache (ARP_CACHE_MAX), so a reply for it waits.
  for (let i = 0; i < 64; i++) {
    const mac = new Uint8Array([0x52, 0x54, 0, 0, 1, i])
    d.frame(ether(GW_MAC, 0x0800, ipv4Packet(ipv4(10, 0, 2, 100 + i), HOST, 1, icmpEcho(8, 1, 1, bytes("hi"))), mac))
  }
  const fx = d.take()
  const udpSock = ofTag(fx, "UdpOpen")[0]!.sock
  const icmpSock = ofTag(fx, "IcmpOpen")[0]!.sock
  // The host answers the UDP flow: the reply to GUEST now waits for ARP.
  d.event({ _tag: "HostUdpDatagram", sock: udpSock, from: { family: 4, address: "127.0.0.1", port: 7777 }, data: bytes("reply") })
  const queued = d.take()
  expect(queued.map((e) => e._tag)).toEqual(["DeliverFrame", "SetTimer"]) // the ARP request and its timer
  expect(d.state.ipv4.neighbors.pending.size).toBe(1)
  expect(d.state.reassembly.datagrams.size).toBe(1)
  expect(d.state.napt.flows.bySock.size).toBe(2)
  expect(d.state.dhcp.leases.size).toBe(1)
  return { state: d.state, now: d.now, udpSock, icmpSock }
}

/** The same events for both: host replies, the rest of the datagram, ARP's answer, timers. */
const continuation = (now: ReturnType<typeof midway>["now"], udpSock: SocketId, icmpSock: SocketId): ReadonlyArray<StackEvent> => [
  { _tag: "HostIcmpEchoReply", now, sock: icmpSock, from: "192.0.2.5", sequence: 1, payload: bytes("icmp flow"), ttl: 50 },
  { _tag: "FrameFromGuest", now, frame: fragment(1480, 1480, false) },
  { _tag: "FrameFromGuest", now, frame: fragment(2960, seg.length - 2960, true) },
  { _tag: "FrameFromGuest", now, frame: arp(ARP_REPLY, GUEST_MAC, GUEST, GW_MAC, HOST) },
  { _tag: "HostUdpDatagram", now, sock: udpSock, from: { family: 4, address: "127.0.0.1", port: 7777 }, data: bytes("second reply") },
  { _tag: "FrameFromGuest", now, frame: dhcpFrame(DHCPREQUEST, [[50, optIpv4(GUEST)]]) },
  { _tag: "FrameFromGuest", now, frame: fragment(0, 1480, false) }, // another datagram starts
  { _tag: "TimerFired", now: addMillis(now, 1000), timer: timerId("arp", GUEST) },
  { _tag: "TimerFired", now: addMillis(now, 30_000), timer: timerId("reassembly", 2) },
  { _tag: "TimerFired", now: addMillis(now, UDP_IDLE_MS + 5000), timer: FLOW_SWEEP_TIMER },
  { _tag: "HostSocketClosed", now: addMillis(now, UDP_IDLE_MS + 5000), sock: icmpSock },
  { _tag: "Shutdown", now: addMillis(now, UDP_IDLE_MS + 6000) },
]

/** True when no object of `b` is an object of `a` (typed arrays included). */
const sharesNothing = (a: unknown, b: unknown): boolean => {
  const seen = new Set<object>()
  const walk = (x: unknown, add: boolean): boolean => {
    if (x === null || typeof x !== "object") return true
    if (add) {
      if (seen.has(x)) return true
      seen.add(x)
    } else if (seen.has(x)) return false
    const children = x instanceof Map ? [...x.entries()].flat() : ArrayBuffer.isView(x) ? [] : Object.values(x)
    return children.every((c) => walk(c, add))
  }
  walk(a, true)
  return walk(b, false)
}

describe("stack: a structuredClone of a state is a state", () => {
  it("clone and original, mid DHCP/UDP/ICMP/reassembly/ARP, give equal effects and states for the same events", () => {
    const { state, now, udpSock, icmpSock } = midway()
    const clone = structuredClone(state)
    expect(sharesNothing(state, clone)).toBe(true)
    expect(firstDifference(state, clone)).toBeUndefined()
    let a = state
    let b = clone
    const delivered: Array<string> = []
    for (const e of continuation(now, udpSock, icmpSock)) {
      const ra = reduce(a, e)
      const rb = reduce(b, e)
      expect(firstDifference(ra, rb), e._tag).toBeUndefined()
      a = ra[0]
      b = rb[0]
      delivered.push(...ra[1].map((x: StackEffect) => x._tag))
    }
    // The continuation did what it says: the queued reply and the reassembled datagram went out.
    expect(delivered).toContain("UdpSend")
    expect(delivered).toContain("DeliverFrame")
    expect(delivered).toContain("SocketClose")
  })

  it("the original state, reduced again after its clone was used, still gives the same results (old states stay valid)", () => {
    const { state, now, udpSock, icmpSock } = midway()
    const events = continuation(now, udpSock, icmpSock)
    const run = (s0: StackState) => {
      const out: Array<unknown> = []
      let s = s0
      for (const e of events) {
        const r = reduce(s, e)
        out.push(r)
        s = r[0]
      }
      return out
    }
    const first = run(structuredClone(state))
    const second = run(state)
    const third = run(state)
    expect(firstDifference(first, second)).toBeUndefined()
    expect(firstDifference(second, third)).toBeUndefined()
  })

  it("the frame allocator changes no result: a slab allocator and fresh memory give equal effects and states", () => {
    // (Equal bytes, not equal buffers: slab frames are views into shared slabs.)
    const { state, now, udpSock, icmpSock } = midway()
    const slab = createSlabAllocator()
    let a = state
    let b = state
    for (const e of continuation(now, udpSock, icmpSock)) {
      const ra = rawReduce(a, e)
      const rb = rawReduce(b, e, slab)
      expect(firstDifference(ra, rb), e._tag).toBeUndefined()
      a = ra[0]
      b = rb[0]
    }
  })
})
