import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import type { StackEffect } from "../../../src/effects/effect.ts"
import { instant } from "../../../src/effects/instant.ts"
import { ARP_REPLY, ARP_REQUEST, emitArpFrame, parseArp, type ArpPacket } from "../../../src/protocol/ethernet/arp-wire.ts"
import {
  ARP_CACHE_MAX,
  ARP_PENDING_MAX_ADDRESSES,
  ARP_PENDING_MAX_BYTES,
  ARP_PENDING_MAX_FRAMES,
  ARP_PENDING_TIMEOUT_MS,
  type NeighborContext,
  type NeighborState,
  arpInput as rawArpInput,
  arpTimeout as rawArpTimeout,
  arpTimerId,
  describeNeighbors,
  emptyNeighbors,
  learn as rawLearn,
  sendIpv4Frame as rawSendIpv4Frame,
} from "../../../src/protocol/ethernet/neighbors.ts"
import { ETHERTYPE_IPV4 } from "../../../src/protocol/ethernet/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { fromHex, get16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { type Ipv4, ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC, formatMac, virtualMac } from "../../../src/protocol/wire/mac.ts"
import { checkedLayer } from "../../support/checked.ts"

// Every call is checked by the referential-transparency harness (test/support/checked.ts).
const arpInput = checkedLayer(rawArpInput)
const arpTimeout = checkedLayer(rawArpTimeout)
const learn = checkedLayer(rawLearn)
const sendIpv4Frame = checkedLayer(rawSendIpv4Frame)

const NET = ipv4(10, 0, 2, 0)
const GW = ipv4(10, 0, 2, 2)
const DNS = ipv4(10, 0, 2, 3)
const GUEST = ipv4(10, 0, 2, 15)
const GUEST_MAC = fromHex("525400123456")
const GW_MAC = virtualMac(GW)

const ctx: NeighborContext = {
  config: { ...defaultConfig, network: NET, prefixLength: 24, host: GW, dns: DNS },
  gatewayMac: GW_MAC,
}

const T0 = instant(5_000)

const arp = (op: number, sha: Uint8Array, spa: Ipv4, tha: Uint8Array, tpa: Ipv4): ArpPacket => {
  const p = parseArp(emitArpFrame(BROADCAST_MAC, op, sha, spa, tha, tpa), 14)
  if (!p.ok) throw new Error(p.reason)
  return p.packet
}

/** An IPv4 frame to the guest as the IP layer hands it over: Ethernet header space at 0. */
const ipFrame = (len = 60, mark = 0): Uint8Array => {
  const f = new Uint8Array(len)
  f[14] = 0x45
  f[len - 1] = mark
  return f
}

const frames = (fx: ReadonlyArray<StackEffect>) =>
  fx.flatMap((e) => (e._tag === "DeliverFrame" ? [e.frame] : []))
const tags = (fx: ReadonlyArray<StackEffect>) => fx.map((e) => e._tag)

const withGuest = (): NeighborState => learn(emptyNeighbors, ctx, GUEST, GUEST_MAC)[0]

describe("neighbors: answering ARP", () => {
  it("neighbors: request for the gateway is answered with 52:55:0a:00:02:02, byte for byte as Linux answers", () => {
    const req = parseArp(golden("arp-request"), 14)
    if (!req.ok) throw new Error(req.reason)
    const [, fx] = arpInput(emptyNeighbors, ctx, req.packet)
    const out = frames(fx)
    expect(out).toHaveLength(1)
    // The captured reply came from a Linux router with the same MAC: same bytes, plus padding.
    const captured = golden("arp-reply")
    expect(toHex(out[0]!.subarray(0, captured.length))).toBe(toHex(captured))
    expect(out[0]!.length).toBe(60)
  })

  it("neighbors: request for the DNS address is answered with its virtual MAC", () => {
    const [, fx] = arpInput(emptyNeighbors, ctx, arp(ARP_REQUEST, GUEST_MAC, GUEST, new Uint8Array(6), DNS))
    const p = parseArp(frames(fx)[0]!, 14)
    if (!p.ok) throw new Error(p.reason)
    expect(p.packet.op).toBe(ARP_REPLY)
    expect(formatMac(p.packet.sha)).toBe("52:55:0a:00:02:03")
    expect(p.packet.spa).toBe(DNS)
    expect(formatMac(p.packet.tha)).toBe("52:54:00:12:34:56")
    expect(p.packet.tpa).toBe(GUEST)
  })

  it("neighbors: request for an address that is not ours gets no answer but teaches the sender", () => {
    const [s, fx] = arpInput(emptyNeighbors, ctx, arp(ARP_REQUEST, GUEST_MAC, GUEST, new Uint8Array(6), ipv4(10, 0, 2, 77)))
    expect(frames(fx)).toHaveLength(0)
    expect(describeNeighbors(s)).toEqual(["10.0.2.15 52:54:00:12:34:56"])
  })

  it("neighbors: request learns the sender (RFC 826 merge) as well as answering", () => {
    const req = parseArp(golden("arp-request"), 14)
    if (!req.ok) throw new Error(req.reason)
    const [s] = arpInput(emptyNeighbors, ctx, req.packet)
    expect(describeNeighbors(s)).toEqual(["10.0.2.15 52:54:00:12:34:56"])
  })

  it("neighbors: gratuitous ARP (captured arping -U) is learned and not answered", () => {
    const g = parseArp(golden("arp-gratuitous"), 14)
    if (!g.ok) throw new Error(g.reason)
    const [s, fx] = arpInput(emptyNeighbors, ctx, g.packet)
    expect(fx).toEqual([])
    expect(describeNeighbors(s)).toEqual(["10.0.2.15 52:54:00:12:34:56"])
  })

  it("neighbors: gratuitous ARP reply (arping -A style) is learned", () => {
    const [s, fx] = arpInput(emptyNeighbors, ctx, arp(ARP_REPLY, GUEST_MAC, GUEST, GUEST_MAC, GUEST))
    expect(frames(fx)).toEqual([])
    expect(s.cache.has(GUEST)).toBe(true)
  })

  it("neighbors: gratuitous ARP with a new MAC replaces the cached one", () => {
    const newMac = fromHex("020000aabbcc")
    const [s] = arpInput(withGuest(), ctx, arp(ARP_REQUEST, newMac, GUEST, BROADCAST_MAC, GUEST))
    expect(describeNeighbors(s)).toEqual(["10.0.2.15 02:00:00:aa:bb:cc"])
  })

  it("neighbors: ARP reply from the guest is learned", () => {
    const [s, fx] = arpInput(emptyNeighbors, ctx, arp(ARP_REPLY, GUEST_MAC, GUEST, GW_MAC, GW))
    expect(fx).toEqual([])
    expect(describeNeighbors(s)).toEqual(["10.0.2.15 52:54:00:12:34:56"])
  })

  it("neighbors: unknown opcode (RARP 3) is ignored with a debug log and not learned", () => {
    const [s, fx] = arpInput(emptyNeighbors, ctx, arp(3, GUEST_MAC, GUEST, GW_MAC, GW))
    expect(s).toBe(emptyNeighbors)
    expect(tags(fx)).toEqual(["Log"])
  })

  it("neighbors: RFC 5227 probe (sender 0.0.0.0) is not learned, but a probe for our address is answered", () => {
    const [s, fx] = arpInput(emptyNeighbors, ctx, arp(ARP_REQUEST, GUEST_MAC, 0, new Uint8Array(6), GW))
    expect(s.cache.size).toBe(0)
    const p = parseArp(frames(fx)[0]!, 14)
    if (!p.ok) throw new Error(p.reason)
    expect(p.packet.op).toBe(ARP_REPLY)
    expect(p.packet.spa).toBe(GW)
    expect(p.packet.tpa).toBe(0)
  })

  it("neighbors: a probe for the guest's own address is not answered", () => {
    const [, fx] = arpInput(emptyNeighbors, ctx, arp(ARP_REQUEST, GUEST_MAC, 0, new Uint8Array(6), GUEST))
    expect(fx).toEqual([])
  })

  it("neighbors: senders outside the network, our own addresses or broadcast are not learned", () => {
    for (const spa of [ipv4(192, 168, 1, 5), GW, DNS, NET, ipv4(10, 0, 2, 255), 0xffffffff]) {
      const [s] = arpInput(emptyNeighbors, ctx, arp(ARP_REPLY, GUEST_MAC, spa, GW_MAC, GW))
      expect(s.cache.size, `spa ${spa.toString(16)}`).toBe(0)
    }
  })

  it("neighbors: a gratuitous ARP claiming the gateway address gets no reply and changes nothing", () => {
    const [s, fx] = arpInput(emptyNeighbors, ctx, arp(ARP_REQUEST, GUEST_MAC, GW, BROADCAST_MAC, GW))
    expect(s.cache.size).toBe(0)
    expect(frames(fx)).toEqual([])
  })

  it("neighbors: the learned MAC is a copy, not a view into the guest's frame", () => {
    const f = golden("arp-gratuitous")
    const g = parseArp(f, 14)
    if (!g.ok) throw new Error(g.reason)
    const [s] = arpInput(emptyNeighbors, ctx, g.packet)
    f.fill(0xee)
    expect(describeNeighbors(s)).toEqual(["10.0.2.15 52:54:00:12:34:56"])
  })

  it("neighbors: learning the same MAC again returns the same state (no copy, no effects)", () => {
    const s = withGuest()
    const [s2, fx] = learn(s, ctx, GUEST, GUEST_MAC)
    expect(s2).toBe(s)
    expect(fx).toEqual([])
  })

  it(`neighbors: the cache holds at most ${ARP_CACHE_MAX} entries, the oldest learned is evicted`, () => {
    let s = emptyNeighbors
    const ips: Array<Ipv4> = []
    for (let i = 0; i < ARP_CACHE_MAX + 1; i++) {
      const ip = ipv4(10, 0, 2, 20 + i)
      ips.push(ip)
      s = learn(s, ctx, ip, new Uint8Array([2, 0, 0, 0, 0, i]))[0]
    }
    expect(s.cache.size).toBe(ARP_CACHE_MAX)
    expect(s.cache.has(ips[0]!)).toBe(false)
    expect(s.cache.has(ips[1]!)).toBe(true)
    expect(s.cache.has(ips[ARP_CACHE_MAX]!)).toBe(true)
  })

  it("neighbors: a MAC change moves the entry to newest, so it is not evicted next", () => {
    let s = emptyNeighbors
    for (let i = 0; i < ARP_CACHE_MAX; i++) s = learn(s, ctx, ipv4(10, 0, 2, 20 + i), new Uint8Array([2, 0, 0, 0, 0, i]))[0]
    s = learn(s, ctx, ipv4(10, 0, 2, 20), fromHex("020000000099"))[0] // changed: now newest
    s = learn(s, ctx, ipv4(10, 0, 2, 200), fromHex("0200000000c8"))[0]
    expect(s.cache.has(ipv4(10, 0, 2, 20))).toBe(true)
    expect(s.cache.has(ipv4(10, 0, 2, 21))).toBe(false)
  })
})

describe("neighbors: sending IPv4 to the guest", () => {
  it("neighbors: known guest -> frame delivered at once with dst guest MAC, src gateway MAC, type IPv4", () => {
    const f = ipFrame()
    const s = withGuest()
    const [s2, fx] = sendIpv4Frame(s, ctx, T0, GUEST, f, undefined)
    expect(s2).toBe(s)
    expect(fx).toEqual([{ _tag: "DeliverFrame", frame: f }])
    expect(formatMac(f, 0)).toBe("52:54:00:12:34:56")
    expect(formatMac(f, 6)).toBe("52:55:0a:00:02:02")
    expect(get16(f, 12)).toBe(ETHERTYPE_IPV4)
  })

  it("neighbors: explicit dstMac (DHCP before an address) is used without ARP", () => {
    const f = ipFrame()
    const [s, fx] = sendIpv4Frame(emptyNeighbors, ctx, T0, ipv4(10, 0, 2, 15), f, GUEST_MAC)
    expect(s).toBe(emptyNeighbors)
    expect(frames(fx)).toEqual([f])
    expect(formatMac(f, 0)).toBe("52:54:00:12:34:56")
  })

  it("neighbors: broadcast destinations (subnet and limited) go to ff:ff:ff:ff:ff:ff without ARP", () => {
    for (const dst of [ipv4(10, 0, 2, 255), 0xffffffff]) {
      const f = ipFrame()
      const [s, fx] = sendIpv4Frame(emptyNeighbors, ctx, T0, dst, f, undefined)
      expect(s.pending.size).toBe(0)
      expect(frames(fx)).toEqual([f])
      expect(formatMac(f, 0)).toBe("ff:ff:ff:ff:ff:ff")
    }
  })

  it("neighbors: unresolved guest -> one broadcast ARP request from the gateway and a 1 s timer; frame queued", () => {
    const f = ipFrame()
    const [s, fx] = sendIpv4Frame(emptyNeighbors, ctx, T0, GUEST, f, undefined)
    expect(tags(fx)).toEqual(["DeliverFrame", "SetTimer"])
    const req = frames(fx)[0]!
    expect(formatMac(req, 0)).toBe("ff:ff:ff:ff:ff:ff")
    const p = parseArp(req, 14)
    if (!p.ok) throw new Error(p.reason)
    expect(p.packet.op).toBe(ARP_REQUEST)
    expect(formatMac(p.packet.sha)).toBe("52:55:0a:00:02:02")
    expect(p.packet.spa).toBe(GW)
    expect(formatMac(p.packet.tha)).toBe("00:00:00:00:00:00")
    expect(p.packet.tpa).toBe(GUEST)
    expect(fx[1]).toEqual({ _tag: "SetTimer", timer: arpTimerId(GUEST), at: T0 + ARP_PENDING_TIMEOUT_MS })
    expect(s.pending.get(GUEST)?.frames).toEqual([f])
    expect(s.pendingBytes).toBe(60)
  })

  it("neighbors: a second frame to the same unresolved guest is queued without a second request", () => {
    const [s1] = sendIpv4Frame(emptyNeighbors, ctx, T0, GUEST, ipFrame(), undefined)
    const [s2, fx] = sendIpv4Frame(s1, ctx, instant(T0 + 100), GUEST, ipFrame(100), undefined)
    expect(fx).toEqual([])
    expect(s2.pending.get(GUEST)?.frames).toHaveLength(2)
    expect(s2.pendingBytes).toBe(160)
    expect(s2.pending.get(GUEST)?.bytes).toBe(160)
  })

  it("neighbors: the guest's ARP reply cancels the timer and sends the queued frames in order with its MAC", () => {
    const a = ipFrame(60, 1)
    const b = ipFrame(80, 2)
    const [s1] = sendIpv4Frame(emptyNeighbors, ctx, T0, GUEST, a, undefined)
    const [s2] = sendIpv4Frame(s1, ctx, T0, GUEST, b, undefined)
    const [s3, fx] = arpInput(s2, ctx, arp(ARP_REPLY, GUEST_MAC, GUEST, GW_MAC, GW))
    expect(fx.map((e) => e._tag)).toEqual(["CancelTimer", "DeliverFrame", "DeliverFrame"])
    expect(fx[0]).toEqual({ _tag: "CancelTimer", timer: arpTimerId(GUEST) })
    const sent = fx.flatMap((e) => (e._tag === "DeliverFrame" ? [e.frame] : []))
    for (const [f, queued] of [[sent[0]!, a], [sent[1]!, b]] as const) {
      expect(formatMac(f, 0)).toBe("52:54:00:12:34:56")
      expect(formatMac(f, 6)).toBe("52:55:0a:00:02:02")
      // The rest is the queued frame; the queued frame itself (held by s2) is not written.
      expect(f.subarray(12)).toEqual(queued.subarray(12))
      expect(formatMac(queued, 0)).toBe("00:00:00:00:00:00")
    }
    expect(s3.pending.size).toBe(0)
    expect(s3.pendingBytes).toBe(0)
    expect(s3.cache.has(GUEST)).toBe(true)
  })

  it("neighbors: a gratuitous ARP from the guest also releases its queue", () => {
    const [s1] = sendIpv4Frame(emptyNeighbors, ctx, T0, GUEST, ipFrame(), undefined)
    const g = parseArp(golden("arp-gratuitous"), 14)
    if (!g.ok) throw new Error(g.reason)
    const [s2, fx] = arpInput(s1, ctx, g.packet)
    expect(tags(fx)).toEqual(["CancelTimer", "DeliverFrame"])
    expect(s2.pending.size).toBe(0)
  })

  it("neighbors: no answer within 1 s -> the queue is dropped with a debug log", () => {
    const [s1] = sendIpv4Frame(emptyNeighbors, ctx, T0, GUEST, ipFrame(), undefined)
    const [s2] = sendIpv4Frame(s1, ctx, T0, GUEST, ipFrame(), undefined)
    const [s3, fx] = arpTimeout(s2, GUEST, instant(T0 + ARP_PENDING_TIMEOUT_MS))
    expect(tags(fx)).toEqual(["Log"])
    expect(fx[0]!._tag === "Log" && fx[0]!.level).toBe("debug")
    expect(s3.pending.size).toBe(0)
    expect(s3.pendingBytes).toBe(0)
  })

  it("neighbors: after a timeout the next frame sends a fresh request", () => {
    const [s1] = sendIpv4Frame(emptyNeighbors, ctx, T0, GUEST, ipFrame(), undefined)
    const [s2] = arpTimeout(s1, GUEST, instant(T0 + ARP_PENDING_TIMEOUT_MS))
    const [, fx] = sendIpv4Frame(s2, ctx, instant(T0 + 2000), GUEST, ipFrame(), undefined)
    expect(tags(fx)).toEqual(["DeliverFrame", "SetTimer"])
    expect(fx[1]).toEqual({ _tag: "SetTimer", timer: arpTimerId(GUEST), at: T0 + 3000 })
  })

  it("neighbors: a timer for an address with nothing pending is a no-op", () => {
    const s = withGuest()
    const [s2, fx] = arpTimeout(s, GUEST, instant(T0 + ARP_PENDING_TIMEOUT_MS))
    expect(s2).toBe(s)
    expect(fx).toEqual([])
  })

  it("neighbors: a timer firing before the queue's 1 s deadline is stale and a no-op", () => {
    // ids.ts: timers may race with cancellation. Queue A (deadline T0+1 s) is gone; a new queue
    // for the same address starts at T0+600 ms; A's firing arriving at T0+1 s must not drop it.
    const [s1] = sendIpv4Frame(emptyNeighbors, ctx, T0, GUEST, ipFrame(), undefined)
    const [s2] = arpTimeout(s1, GUEST, instant(T0 + ARP_PENDING_TIMEOUT_MS)) // A dropped
    const [s3, fx3] = sendIpv4Frame(s2, ctx, instant(T0 + 600), GUEST, ipFrame(), undefined)
    expect(fx3[1]).toEqual({ _tag: "SetTimer", timer: arpTimerId(GUEST), at: T0 + 600 + ARP_PENDING_TIMEOUT_MS })
    const [s4, fx4] = arpTimeout(s3, GUEST, instant(T0 + ARP_PENDING_TIMEOUT_MS))
    expect(s4).toBe(s3)
    expect(fx4).toEqual([])
    const [s5] = arpTimeout(s3, GUEST, instant(T0 + 600 + ARP_PENDING_TIMEOUT_MS))
    expect(s5.pending.size).toBe(0)
  })

  it("neighbors: frames queued later do not extend the 1 s deadline of the first request", () => {
    const [s1] = sendIpv4Frame(emptyNeighbors, ctx, T0, GUEST, ipFrame(), undefined)
    const [s2] = sendIpv4Frame(s1, ctx, instant(T0 + 900), GUEST, ipFrame(), undefined)
    const [s3, fx] = arpTimeout(s2, GUEST, instant(T0 + ARP_PENDING_TIMEOUT_MS))
    expect(s3.pending.size).toBe(0)
    expect(fx[0]!._tag === "Log" && fx[0]!.message).toMatch(/2 frame\(s\) dropped/)
  })

  it(`neighbors: at most ${ARP_PENDING_MAX_FRAMES} frames wait per address; more are dropped with a log`, () => {
    let s = emptyNeighbors
    for (let i = 0; i < ARP_PENDING_MAX_FRAMES; i++) s = sendIpv4Frame(s, ctx, T0, GUEST, ipFrame(), undefined)[0]
    const [s2, fx] = sendIpv4Frame(s, ctx, T0, GUEST, ipFrame(), undefined)
    expect(s2).toBe(s)
    expect(tags(fx)).toEqual(["Log"])
    expect(s.pending.get(GUEST)?.frames).toHaveLength(ARP_PENDING_MAX_FRAMES)
  })

  it(`neighbors: at most ${ARP_PENDING_MAX_ADDRESSES} addresses wait at once; a new one is dropped, known ones still queue`, () => {
    let s = emptyNeighbors
    for (let i = 0; i < ARP_PENDING_MAX_ADDRESSES; i++) s = sendIpv4Frame(s, ctx, T0, ipv4(10, 0, 2, 100 + i), ipFrame(), undefined)[0]
    const [s2, fx] = sendIpv4Frame(s, ctx, T0, ipv4(10, 0, 2, 200), ipFrame(), undefined)
    expect(s2).toBe(s)
    expect(tags(fx)).toEqual(["Log"])
    const [s3, fx3] = sendIpv4Frame(s, ctx, T0, ipv4(10, 0, 2, 100), ipFrame(), undefined)
    expect(fx3).toEqual([])
    expect(s3.pending.get(ipv4(10, 0, 2, 100))?.frames).toHaveLength(2)
  })

  it(`neighbors: at most ${ARP_PENDING_MAX_BYTES} bytes wait in total`, () => {
    let s = emptyNeighbors
    // Four addresses x 64 KiB-ish frames: the fifth frame would pass 256 KiB.
    const big = 65_000
    for (let i = 0; i < 3; i++) s = sendIpv4Frame(s, ctx, T0, ipv4(10, 0, 2, 100 + i), ipFrame(big), undefined)[0]
    expect(s.pendingBytes).toBe(3 * big)
    const fill = ARP_PENDING_MAX_BYTES - 3 * big
    s = sendIpv4Frame(s, ctx, T0, ipv4(10, 0, 2, 103), ipFrame(fill), undefined)[0]
    expect(s.pendingBytes).toBe(ARP_PENDING_MAX_BYTES) // exactly at the bound is allowed
    const [s2, fx] = sendIpv4Frame(s, ctx, T0, ipv4(10, 0, 2, 103), ipFrame(60), undefined)
    expect(s2).toBe(s)
    expect(tags(fx)).toEqual(["Log"])
  })

  it("neighbors: a dropped queue frees its bytes for other addresses", () => {
    let s = emptyNeighbors
    for (let i = 0; i < 4; i++) s = sendIpv4Frame(s, ctx, T0, ipv4(10, 0, 2, 100 + i), ipFrame(ARP_PENDING_MAX_BYTES / 4), undefined)[0]
    expect(sendIpv4Frame(s, ctx, T0, ipv4(10, 0, 2, 110), ipFrame(), undefined)[1].map((e) => e._tag)).toEqual(["Log"])
    s = arpTimeout(s, ipv4(10, 0, 2, 100), instant(T0 + ARP_PENDING_TIMEOUT_MS))[0]
    expect(s.pendingBytes).toBe((3 * ARP_PENDING_MAX_BYTES) / 4)
    expect(tags(sendIpv4Frame(s, ctx, T0, ipv4(10, 0, 2, 110), ipFrame(), undefined)[1])).toEqual(["DeliverFrame", "SetTimer"])
  })

  it("neighbors: state is never mutated in place", () => {
    const s0 = withGuest()
    const snapshot = describeNeighbors(s0)
    const [s1] = sendIpv4Frame(s0, ctx, T0, ipv4(10, 0, 2, 16), ipFrame(), undefined)
    arpInput(s1, ctx, arp(ARP_REPLY, fromHex("020000000016"), ipv4(10, 0, 2, 16), GW_MAC, GW))
    arpTimeout(s1, ipv4(10, 0, 2, 16), instant(T0 + ARP_PENDING_TIMEOUT_MS))
    expect(describeNeighbors(s0)).toEqual(snapshot)
    expect(s0.pending.size).toBe(0)
    expect(s1.pending.size).toBe(1)
    expect(s1.pendingBytes).toBe(60)
  })
})
