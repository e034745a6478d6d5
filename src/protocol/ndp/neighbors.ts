/**
 * Neighbour discovery for the guest's link (RFC 4861 §7): what ARP (ethernet/neighbors.ts) is
 * for IPv4. `ndp` is its `NeighborResolution` (ethernet/neighbor-resolution.ts), through which
 * the IPv6 output addresses every frame; `ndpInput` handles the guest's NS and NA.
 *
 * Contract:
 * - Neighbor solicitations are answered only for our own addresses (gateway and DNS, global
 *   and their fe80:: twins, policy/policy.ts): a DAD probe (source ::, RFC 4862 §5.4.3) for one
 *   of them is defended with an NA to all-nodes (RFC 4861 §7.2.4), so a guest that picked our
 *   address learns it is taken; a probe for any other address is never answered, so the guest
 *   keeps the address it chose.
 * - The cache learns from the source link-layer option of an NS with a source address (§7.2.3),
 *   from the target link-layer option of an NA (§7.2.5), and from the guest's traffic (the
 *   stack), only for guest addresses (in the prefix or link-local, not ours). At most
 *   NDP_CACHE_MAX entries; the oldest learned is evicted first.
 * - A frame to an unresolved address waits in a bounded queue (per address and in total), one
 *   NS goes to the solicited-node group, and the queue is dropped with a debug line after
 *   NDP_PENDING_TIMEOUT_MS (libslirp: 1 s for both ARP and NDP). Multicast destinations need
 *   no resolution (RFC 2464 §7).
 * - Timers are `{ layer: "ndp", key: addressHash(ip) }`.
 * Pure: maps are replaced on change (rare), never written; queued frames are never written
 * after they were queued (the delivered frame is an addressed copy).
 */
import type { StackEffect } from "../../effects/effect.ts"
import { type TimerId, timerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"
import type { NeighborContext } from "../ethernet/neighbors.ts"
import type { NeighborResolution } from "../ethernet/neighbor-resolution.ts"
import { ETHERTYPE_IPV6, writeEthernetHeader } from "../ethernet/wire.ts"
import { ipv6Frame } from "../ipv6/output.ts"
import { NH_ICMPV6 } from "../ipv6/wire.ts"
import { isGuestAddress6, isOurIpv6 } from "../policy/policy.ts"
import { ALL_NODES, type Ipv6, formatIpv6, ipv6Equals, ipv6Key, isLinkLocal, isMulticast6, isUnspecified, linkLocalOf, multicastMac, solicitedNode } from "../wire/ipv6-address.ts"
import { type Mac, ZERO_MAC, formatMac, macEquals } from "../wire/mac.ts"
import { NA_OVERRIDE, NA_ROUTER, NA_SOLICITED, type NdpMessage, emitNeighborAdvert, emitNeighborSolicit } from "./wire.ts"

export const NDP_CACHE_MAX = 64
export const NDP_PENDING_TIMEOUT_MS = 1000
export const NDP_PENDING_MAX_ADDRESSES = 16
export const NDP_PENDING_MAX_FRAMES = 64
export const NDP_PENDING_MAX_BYTES = 256 * 1024
/** RFC 4861 §6.1.2, §7.1: NDP is sent and accepted with hop limit 255 only. */
export const NDP_HOP_LIMIT = 255

export interface Neighbor6 {
  readonly ip: Ipv6
  readonly mac: Mac
}

export interface PendingResolution6 {
  readonly ip: Ipv6
  readonly frames: ReadonlyArray<Uint8Array>
  readonly bytes: number
  readonly deadline: Instant
}

/** Keyed by `ipv6Key` (16 characters, one per byte): small maps, replaced on change. */
export interface NdpState {
  readonly cache: ReadonlyMap<string, Neighbor6>
  /**
   * The entry learned last (also in `cache`): every frame to or from the guest looks its
   * address up, and comparing 16 bytes with this one first saves building a key string per
   * frame (a guest mostly talks from one address).
   */
  readonly recent: Neighbor6 | undefined
  readonly pending: ReadonlyMap<string, PendingResolution6>
  readonly pendingBytes: number
}

export const emptyNdp: NdpState = { cache: new Map(), recent: undefined, pending: new Map(), pendingBytes: 0 }

/** The cache's entry for `ip` (16 bytes at `ip[0]`), if any. */
export const neighborOf = (s: NdpState, ip: Uint8Array): Neighbor6 | undefined => {
  const r = s.recent
  if (r !== undefined && ipv6Equals(r.ip, 0, ip)) return r
  return s.cache.size === 0 ? undefined : s.cache.get(ipv6Key(ip))
}

type Result = readonly [NdpState, ReadonlyArray<StackEffect>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })

/** FNV-1a over the 16 bytes: the integer key of the address's timer. */
export const addressHash = (a: Uint8Array): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < 16; i++) h = Math.imul(h ^ a[i]!, 0x01000193)
  return h >>> 0
}

export const ndpTimerId = (ip: Uint8Array): TimerId => timerId("ndp", addressHash(ip))

/** Our address on the same scope as `peer`: fe80:: twin of the gateway for link-local peers. */
export const ourSourceFor = (ctx: NeighborContext, peer: Uint8Array): Ipv6 => (isLinkLocal(peer) ? linkLocalOf(ctx.config.ipv6Host) : ctx.config.ipv6Host)

/** A frame of our own, addressed now (NDP never waits for NDP). */
const deliver = (ctx: NeighborContext, dstMac: Uint8Array, frame: Uint8Array): StackEffect => {
  writeEthernetHeader(frame, dstMac, ctx.gatewayMac, ETHERTYPE_IPV6)
  return { _tag: "DeliverFrame", frame }
}

export const learn6 = (s: NdpState, ctx: NeighborContext, ip: Uint8Array, mac: Uint8Array): Result => {
  if (!isGuestAddress6(ctx.config, ip)) return [s, []]
  const key = ipv6Key(ip)
  const known = s.cache.get(key)
  let cache = s.cache
  let recent = s.recent
  if (known === undefined || !macEquals(known.mac, 0, mac)) {
    const next = new Map(s.cache)
    next.delete(key)
    if (next.size >= NDP_CACHE_MAX) {
      const oldest = next.keys().next()
      if (!oldest.done) next.delete(oldest.value)
    }
    recent = { ip: ip.slice(0, 16), mac: mac.slice(0, 6) }
    next.set(key, recent)
    cache = next
  }
  const waiting = s.pending.get(key)
  if (waiting === undefined) return cache === s.cache ? [s, []] : [{ ...s, cache, recent }, []]
  const pending = new Map(s.pending)
  pending.delete(key)
  const dst = cache.get(key)!.mac
  const effects: Array<StackEffect> = [{ _tag: "CancelTimer", timer: ndpTimerId(ip) }]
  for (const f of waiting.frames) {
    const frame = f.slice()
    frame.set(dst, 0)
    effects.push({ _tag: "DeliverFrame", frame })
  }
  return [{ cache, recent, pending, pendingBytes: s.pendingBytes - waiting.bytes }, effects]
}

/** Sends an IPv6 frame (Ethernet header space at 0) to `dst`, resolving its MAC if needed. */
export const sendIpv6Frame = (s: NdpState, ctx: NeighborContext, now: Instant, dst: Ipv6, frame: Uint8Array, dstMac: Mac | undefined): Result => {
  const mac = dstMac ?? (isMulticast6(dst) ? multicastMac(dst) : neighborOf(s, dst)?.mac)
  if (mac !== undefined) return [s, [deliver(ctx, mac, frame)]]
  if (!isGuestAddress6(ctx.config, dst)) return [s, [debug(`ndp: ${formatIpv6(dst)} is not on the guest's link, frame dropped`)]]
  writeEthernetHeader(frame, ZERO_MAC, ctx.gatewayMac, ETHERTYPE_IPV6)
  const key = ipv6Key(dst)
  const waiting = s.pending.get(key)
  if (
    (waiting === undefined && s.pending.size >= NDP_PENDING_MAX_ADDRESSES) ||
    (waiting !== undefined && waiting.frames.length >= NDP_PENDING_MAX_FRAMES) ||
    s.pendingBytes + frame.length > NDP_PENDING_MAX_BYTES
  ) {
    return [s, [debug(`ndp: queue for ${formatIpv6(dst)} full, frame dropped`)]]
  }
  const pending = new Map(s.pending)
  const deadline = waiting?.deadline ?? addMillis(now, NDP_PENDING_TIMEOUT_MS)
  pending.set(key, { ip: waiting?.ip ?? dst.slice(0, 16), frames: waiting === undefined ? [frame] : [...waiting.frames, frame], bytes: (waiting?.bytes ?? 0) + frame.length, deadline })
  const next: NdpState = { ...s, pending, pendingBytes: s.pendingBytes + frame.length }
  if (waiting !== undefined) return [next, []]
  // RFC 4861 §7.2.2: multicast to the solicited-node group, with our link-layer address.
  const src = ourSourceFor(ctx, dst)
  const group = solicitedNode(dst)
  const ns = ipv6Frame(src, group, NH_ICMPV6, NDP_HOP_LIMIT, emitNeighborSolicit(dst, ctx.gatewayMac, src, group))
  return [next, [deliver(ctx, multicastMac(group), ns), { _tag: "SetTimer", timer: ndpTimerId(dst), at: deadline }]]
}

/** A resolution deadline passed: drop the queues (of this hash) that are overdue. */
export const ndpTimeout = (s: NdpState, key: number, now: Instant): Result => {
  let pending: Map<string, PendingResolution6> | undefined
  let bytes = s.pendingBytes
  const fx: Array<StackEffect> = []
  for (const [k, p] of s.pending) {
    if (addressHash(p.ip) !== key || now < p.deadline) continue
    pending ??= new Map(s.pending)
    pending.delete(k)
    bytes -= p.bytes
    fx.push(debug(`ndp: no answer for ${formatIpv6(p.ip)} in ${NDP_PENDING_TIMEOUT_MS} ms, ${p.frames.length} frame(s) dropped`))
  }
  return pending === undefined ? [s, []] : [{ ...s, pending, pendingBytes: bytes }, fx]
}

/** An NDP message from the guest, other than RS/RA (the router's, ndp/router.ts). */
export interface NdpIn {
  /** The IPv6 source and destination (16 bytes each). */
  readonly src: Uint8Array
  readonly dst: Uint8Array
  /** The Ethernet source of the frame. */
  readonly srcMac: Uint8Array
  readonly msg: NdpMessage
}

export const ndpInput = (s: NdpState, ctx: NeighborContext, m: NdpIn): Result => {
  const c = ctx.config
  const msg = m.msg
  switch (msg._tag) {
    case "NeighborSolicitation": {
      const dad = isUnspecified(m.src)
      // RFC 4861 §7.1.1: a DAD probe goes to a solicited-node group and carries no SLLA.
      if (dad && (msg.options.sourceLinkAddr !== undefined || !isMulticast6(m.dst))) return [s, [debug("ndp: malformed DAD probe dropped")]]
      let s1 = s
      const fx: Array<StackEffect> = []
      if (!dad && msg.options.sourceLinkAddr !== undefined) {
        const [n, lfx] = learn6(s, ctx, m.src, msg.options.sourceLinkAddr)
        s1 = n
        fx.push(...lfx)
      }
      // Never answer for an address that is not ours: DAD of the guest's own address succeeds.
      if (!isOurIpv6(c, msg.target)) return [s1, fx]
      if (dad) {
        // §7.2.4: defend the address to all nodes, not solicited.
        const na = emitNeighborAdvert(NA_ROUTER | NA_OVERRIDE, msg.target, ctx.gatewayMac, msg.target, ALL_NODES)
        fx.push(deliver(ctx, multicastMac(ALL_NODES), ipv6Frame(msg.target, ALL_NODES, NH_ICMPV6, NDP_HOP_LIMIT, na)))
        fx.push({ _tag: "Log", level: "warn", message: `ndp: the guest probed for our address ${formatIpv6(msg.target)} (DAD), defended` })
        return [s1, fx]
      }
      const na = emitNeighborAdvert(NA_ROUTER | NA_SOLICITED | NA_OVERRIDE, msg.target, ctx.gatewayMac, msg.target, m.src)
      fx.push(deliver(ctx, msg.options.sourceLinkAddr ?? m.srcMac, ipv6Frame(msg.target, m.src, NH_ICMPV6, NDP_HOP_LIMIT, na)))
      return [s1, fx]
    }
    case "NeighborAdvertisement": {
      if (isOurIpv6(c, msg.target)) return [s, [{ _tag: "Log", level: "warn", message: `ndp: the guest advertises our address ${formatIpv6(msg.target)} as ${formatMac(m.srcMac)}, ignored` }]]
      const mac = msg.options.targetLinkAddr
      return mac === undefined ? [s, []] : learn6(s, ctx, msg.target, mac)
    }
    case "RouterSolicitation":
    case "RouterAdvertisement":
      return [s, [debug(`ndp: ${msg._tag} is the router's (not handled here)`)]]
  }
}

export const describeNeighbors6 = (s: NdpState): ReadonlyArray<string> => [...s.cache.values()].map((n) => `${formatIpv6(n.ip)} ${formatMac(n.mac)}`)

/** NDP as the IPv6 layer's neighbour resolution. */
export const ndp: NeighborResolution<NdpState, NeighborContext, Ipv6> = {
  send: sendIpv6Frame,
  learn: learn6,
  timeout: (s, timer, now) => (timer.layer === "ndp" ? ndpTimeout(s, timer.key, now) : [s, []]),
  shutdown: (s) => [...s.pending.values()].map((p): StackEffect => ({ _tag: "CancelTimer", timer: ndpTimerId(p.ip) })),
}
