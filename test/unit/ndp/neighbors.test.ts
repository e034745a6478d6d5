/**
 * NDP as the IPv6 output's neighbour resolution (RFC 4861 §7.2.2), each call checked by the
 * referential-transparency harness: resolution by NS to the solicited-node group, queueing,
 * delivery when the NA (or any traffic) teaches the address, the 1 s timeout, and the bounds.
 */
import { describe, expect, it } from "vitest"
import type { StackEffect } from "../../../src/effects/effect.ts"
import { instant } from "../../../src/effects/instant.ts"
import type { NeighborContext } from "../../../src/protocol/ethernet/neighbors.ts"
import {
  NDP_CACHE_MAX,
  NDP_PENDING_MAX_ADDRESSES,
  NDP_PENDING_MAX_FRAMES,
  NDP_PENDING_TIMEOUT_MS,
  type NdpState,
  emptyNdp,
  learn6 as rawLearn,
  ndpInput as rawNdpInput,
  ndpTimeout as rawNdpTimeout,
  ndpTimerId,
  neighborOf,
  sendIpv6Frame as rawSend,
} from "../../../src/protocol/ndp/neighbors.ts"
import { parseNdp } from "../../../src/protocol/ndp/wire.ts"
import { parseIcmpv6 } from "../../../src/protocol/icmpv6/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { fromHex, toHex } from "../../../src/protocol/wire/bytes.ts"
import { formatIpv6, parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { formatMac, virtualMac } from "../../../src/protocol/wire/mac.ts"
import { checkedLayer } from "../../support/checked.ts"

const learn = checkedLayer(rawLearn)
const send = checkedLayer(rawSend)
const timeout = checkedLayer(rawNdpTimeout)
const ndpInput = checkedLayer(rawNdpInput)

const a6 = (s: string) => parseIpv6(s)!
const GUEST = a6("fec0::5054:ff:fe12:3456")
const GUEST_MAC = fromHex("525400123456")
const ctx: NeighborContext = { config: defaultConfig, gatewayMac: virtualMac(defaultConfig.host) }
const T0 = instant(5_000)

const frame = (n = 80) => new Uint8Array(n).fill(0xab)
const delivered = (fx: ReadonlyArray<StackEffect>) => fx.flatMap((e) => (e._tag === "DeliverFrame" ? [e.frame] : []))

describe("ndp resolution", () => {
  it("unknown guest address: the frame waits, one NS from fec0::2 to ff02::1:ff12:3456 (33:33:ff:12:34:56) with our SLLA, a 1 s timer", () => {
    const [s, fx] = send(emptyNdp, ctx, T0, GUEST, frame(), undefined)
    const [ns, ...rest] = delivered(fx)
    expect(rest).toEqual([])
    expect(formatMac(ns!.subarray(0, 6))).toBe("33:33:ff:12:34:56")
    expect([formatIpv6(ns!, 22), formatIpv6(ns!, 38), ns![21]]).toEqual(["fec0::2", "ff02::1:ff12:3456", 255])
    const msg = ns!.subarray(54)
    expect(parseIcmpv6(msg, ns!, 22, ns!, 38).ok).toBe(true)
    const p = parseNdp(msg, 255)
    expect(p.ok && p.msg._tag === "NeighborSolicitation" && formatIpv6(p.msg.target) === formatIpv6(GUEST) && formatMac(p.msg.options.sourceLinkAddr!)).toBe("52:55:0a:00:02:02")
    expect(fx).toContainEqual({ _tag: "SetTimer", timer: ndpTimerId(GUEST), at: T0 + NDP_PENDING_TIMEOUT_MS })
    expect(s.pending.size).toBe(1)
  })

  it("a link-local destination is solicited from fe80::2", () => {
    const [, fx] = send(emptyNdp, ctx, T0, a6("fe80::5054:ff:fe12:3456"), frame(), undefined)
    expect(formatIpv6(delivered(fx)[0]!, 22)).toBe("fe80::2")
  })

  it("the guest's NA (TLLA) delivers the queue in order, addressed; the timer is cancelled", () => {
    let [s] = send(emptyNdp, ctx, T0, GUEST, frame(70), undefined)
    ;[s] = send(s, ctx, T0, GUEST, frame(90), undefined)
    const na = { src: GUEST, dst: a6("fec0::2"), srcMac: GUEST_MAC, msg: { _tag: "NeighborAdvertisement" as const, flags: 0x60, target: GUEST, options: { sourceLinkAddr: undefined, targetLinkAddr: GUEST_MAC, prefixes: [], mtu: undefined, nonce: undefined, rdnss: undefined, dnssl: undefined } } }
    const [s2, fx] = ndpInput(s, ctx, na)
    expect(delivered(fx).map((f) => [f.length, toHex(f.subarray(0, 6))])).toEqual([[70, "525400123456"], [90, "525400123456"]])
    expect(fx).toContainEqual({ _tag: "CancelTimer", timer: ndpTimerId(GUEST) })
    expect([s2.pending.size, s2.pendingBytes]).toEqual([0, 0])
    // Known now: the next frame goes out at once.
    const [, fx2] = send(s2, ctx, T0, GUEST, frame(), undefined)
    expect(delivered(fx2).map((f) => toHex(f.subarray(0, 6)))).toEqual(["525400123456"])
  })

  it("no answer in 1 s: the queue is dropped with a debug line; an early (stale) timer is a no-op", () => {
    const [s] = send(emptyNdp, ctx, T0, GUEST, frame(), undefined)
    const key = ndpTimerId(GUEST).key
    const [same] = timeout(s, key, instant(T0 + NDP_PENDING_TIMEOUT_MS - 1))
    expect(same).toBe(s)
    const [s2, fx] = timeout(s, key, instant(T0 + NDP_PENDING_TIMEOUT_MS))
    expect([s2.pending.size, s2.pendingBytes]).toEqual([0, 0])
    expect(fx).toEqual([{ _tag: "Log", level: "debug", message: `ndp: no answer for ${formatIpv6(GUEST)} in 1000 ms, 1 frame(s) dropped` }])
  })

  it("multicast destinations need no resolution (RFC 2464 §7): 33:33 + the low 32 bits", () => {
    const [s, fx] = send(emptyNdp, ctx, T0, a6("ff02::1"), frame(), undefined)
    expect(s).toBe(emptyNdp)
    expect(toHex(delivered(fx)[0]!.subarray(0, 6))).toBe("333300000001")
  })

  it("an address off the guest's link is never solicited", () => {
    const [s, fx] = send(emptyNdp, ctx, T0, a6("2001:db8::1"), frame(), undefined)
    expect(s).toBe(emptyNdp)
    expect(delivered(fx)).toEqual([])
  })

  it("queues are bounded per address and in addresses; the cache in entries (oldest evicted)", () => {
    let s: NdpState = emptyNdp
    for (let i = 0; i < NDP_PENDING_MAX_FRAMES + 5; i++) [s] = send(s, ctx, T0, GUEST, frame(), undefined)
    expect(s.pending.get([...s.pending.keys()][0]!)!.frames.length).toBe(NDP_PENDING_MAX_FRAMES)
    for (let i = 0; i < NDP_PENDING_MAX_ADDRESSES + 5; i++) [s] = send(s, ctx, T0, a6(`fec0::1:${i + 1}`), frame(), undefined)
    expect(s.pending.size).toBe(NDP_PENDING_MAX_ADDRESSES)
    let c: NdpState = emptyNdp
    for (let i = 0; i < NDP_CACHE_MAX + 3; i++) [c] = learn(c, ctx, a6(`fec0::2:${i + 1}`), GUEST_MAC)
    expect(c.cache.size).toBe(NDP_CACHE_MAX)
    expect(neighborOf(c, a6("fec0::2:1"))).toBeUndefined() // the oldest, evicted
    expect(neighborOf(c, a6("fec0::2:4"))).toBeDefined()
    expect(neighborOf(c, a6(`fec0::2:${NDP_CACHE_MAX + 3}`))).toBeDefined()
  })

  it("lookups find the entry learned last (compared by bytes) and every older one (by key); a new MAC replaces the old", () => {
    const A = a6("fec0::a")
    const B = a6("fe80::b")
    const macA = fromHex("525400000a0a")
    const macB = fromHex("525400000b0b")
    const macA2 = fromHex("525400000a0b")
    let [s] = learn(emptyNdp, ctx, A, macA)
    ;[s] = learn(s, ctx, B, macB)
    expect(s.recent?.ip).toEqual(B)
    const macTo = (st: NdpState, ip: Uint8Array): string => formatMac(delivered(send(st, ctx, T0, ip, frame(), undefined)[1])[0]!.subarray(0, 6))
    expect(macTo(s, A)).toBe(formatMac(macA))
    expect(macTo(s, B)).toBe(formatMac(macB))
    // A view into a larger buffer, as the stack passes the guest's source address.
    const inFrame = new Uint8Array(40)
    inFrame.set(A, 8)
    expect(neighborOf(s, inFrame.subarray(8, 24))?.mac).toEqual(macA)
    ;[s] = learn(s, ctx, A, macA2)
    expect(macTo(s, A)).toBe(formatMac(macA2))
    expect(macTo(s, B)).toBe(formatMac(macB))
    expect(neighborOf(emptyNdp, A)).toBeUndefined()
  })

  it("our own addresses, multicast and :: are never learned", () => {
    for (const a of ["fec0::2", "fe80::3", "ff02::1", "::", "2001:db8::1"]) expect(learn(emptyNdp, ctx, a6(a), GUEST_MAC)[0]).toBe(emptyNdp)
  })
})
