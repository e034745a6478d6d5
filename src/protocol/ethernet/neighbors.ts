/**
 * The ARP layer: answers ARP for the stack's virtual addresses, keeps the guest's IPv4->MAC
 * cache, and resolves the destination of every IPv4 frame we send to the guest. `arp` is its
 * `NeighborResolution` (neighbor-resolution.ts), the interface NDP will implement too.
 *
 * Contract:
 * - Learns from requests, replies and gratuitous ARP (RFC 826 "merge" rule, RFC 5227), but only
 *   for sender addresses inside the virtual network that are not the stack's own.
 * - A frame to an unresolved address triggers one ARP request and waits in a bounded queue
 *   (per address and in total); the queue is dropped 1 s after the request if no answer came
 *   (libslirp's behaviour), with a debug log line.
 * - The cache holds at most ARP_CACHE_MAX entries; the oldest learned entry is evicted first.
 * - Timers are `{ layer: "arp", key: <the IPv4 address> }`.
 * Pure: state is replaced, never written: the maps (at most ARP_CACHE_MAX and
 * ARP_PENDING_MAX_ADDRESSES entries) are copied only when an entry changes, which is rare (the
 * guest's MAC changes almost never), so the per-frame path allocates nothing. Queued frames are
 * never written after they were queued: the delivered frame is an addressed copy.
 */
import type { StackEffect } from "../../effects/effect.ts"
import { type TimerId, timerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"
import { isGuestAddress, virtualMacFor } from "../policy/policy.ts"
import type { StackConfig } from "../stack/config.ts"
import { type Ipv4, formatIpv4 } from "../wire/ipv4-address.ts"
import { BROADCAST_MAC, type Mac, ZERO_MAC, formatMac, macEquals } from "../wire/mac.ts"
import { ARP_REPLY, ARP_REQUEST, type ArpPacket, emitArpFrame } from "./arp-wire.ts"
import type { NeighborResolution } from "./neighbor-resolution.ts"
import { ETHERTYPE_IPV4, writeEthernetHeader } from "./wire.ts"

export const ARP_CACHE_MAX = 64
export const ARP_PENDING_TIMEOUT_MS = 1000
export const ARP_PENDING_MAX_ADDRESSES = 16
export const ARP_PENDING_MAX_FRAMES = 64
export const ARP_PENDING_MAX_BYTES = 256 * 1024

export interface PendingResolution {
  readonly frames: ReadonlyArray<Uint8Array>
  readonly bytes: number
  /** When the queue is dropped; a timer firing earlier is a stale one from a previous queue. */
  readonly deadline: Instant
}

export interface NeighborState {
  readonly cache: ReadonlyMap<Ipv4, Mac>
  readonly pending: ReadonlyMap<Ipv4, PendingResolution>
  readonly pendingBytes: number
}

/**
 * What the ARP layer needs to know about the stack, as plain data: the config (our addresses
 * and the network, read through policy/policy.ts) and the MAC our virtual hosts send from.
 */
export interface NeighborContext {
  readonly config: StackConfig
  readonly gatewayMac: Mac
}

export const emptyNeighbors: NeighborState = { cache: new Map(), pending: new Map(), pendingBytes: 0 }

export const arpTimerId = (ip: Ipv4): TimerId => timerId("arp", ip)

type Result = readonly [NeighborState, ReadonlyArray<StackEffect>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })

/** Records ip -> mac (copying the MAC) and sends any frames waiting for that address. */
export const learn = (s: NeighborState, ctx: NeighborContext, ip: Ipv4, mac: Uint8Array): Result => {
  if (!isGuestAddress(ctx.config, ip)) return [s, []]
  const known = s.cache.get(ip)
  let cache = s.cache
  if (known === undefined || !macEquals(known, 0, mac)) {
    const next = new Map(s.cache)
    next.delete(ip)
    if (next.size >= ARP_CACHE_MAX) {
      const oldest = next.keys().next()
      if (!oldest.done) next.delete(oldest.value)
    }
    next.set(ip, mac.slice(0, 6))
    cache = next
  }
  const waiting = s.pending.get(ip)
  if (waiting === undefined) return cache === s.cache ? [s, []] : [{ ...s, cache }, []]
  const pending = new Map(s.pending)
  pending.delete(ip)
  const dst = cache.get(ip)!
  const effects: Array<StackEffect> = [{ _tag: "CancelTimer", timer: arpTimerId(ip) }]
  for (const f of waiting.frames) {
    // The queued frame belongs to the state we were given (an earlier state may still deliver
    // it): address a copy. Rare path: only the frames sent before the first answer.
    const frame = f.slice()
    frame.set(dst, 0)
    effects.push({ _tag: "DeliverFrame", frame })
  }
  return [{ cache, pending, pendingBytes: s.pendingBytes - waiting.bytes }, effects]
}

/** An ARP packet from the guest. */
export const arpInput = (s: NeighborState, ctx: NeighborContext, arp: ArpPacket): Result => {
  if (arp.op !== ARP_REQUEST && arp.op !== ARP_REPLY) return [s, [debug(`arp: op ${arp.op} ignored`)]]
  // RFC 826 merge: learn the sender whatever the target (covers gratuitous ARP); RFC 5227
  // probes have sender 0.0.0.0, which isGuestAddress rejects.
  const [s1, fx] = learn(s, ctx, arp.spa, arp.sha)
  if (arp.op !== ARP_REQUEST) return [s1, fx]
  const mac = virtualMacFor(ctx.config, arp.tpa)
  if (mac === undefined || arp.spa === arp.tpa) return [s1, fx]
  const reply = emitArpFrame(arp.sha, ARP_REPLY, mac, arp.tpa, arp.sha, arp.spa)
  return [s1, [...fx, { _tag: "DeliverFrame", frame: reply }]]
}

/**
 * Sends an IPv4 frame (Ethernet header space at offset 0, source and type filled here) to the
 * guest at `dstIp`, or to `dstMac` when given (DHCP replies before the guest has an address).
 */
export const sendIpv4Frame = (
  s: NeighborState,
  ctx: NeighborContext,
  now: Instant,
  dstIp: Ipv4,
  frame: Uint8Array,
  dstMac: Mac | undefined,
): Result => {
  const mac = dstMac ?? (isGuestAddress(ctx.config, dstIp) ? s.cache.get(dstIp) : BROADCAST_MAC)
  if (mac !== undefined) {
    writeEthernetHeader(frame, mac, ctx.gatewayMac, ETHERTYPE_IPV4)
    return [s, [{ _tag: "DeliverFrame", frame }]]
  }
  writeEthernetHeader(frame, ZERO_MAC, ctx.gatewayMac, ETHERTYPE_IPV4)
  const waiting = s.pending.get(dstIp)
  if (
    (waiting === undefined && s.pending.size >= ARP_PENDING_MAX_ADDRESSES) ||
    (waiting !== undefined && waiting.frames.length >= ARP_PENDING_MAX_FRAMES) ||
    s.pendingBytes + frame.length > ARP_PENDING_MAX_BYTES
  ) {
    return [s, [debug(`arp: queue for ${formatIpv4(dstIp)} full, frame dropped`)]]
  }
  const pending = new Map(s.pending)
  pending.set(dstIp, {
    frames: waiting === undefined ? [frame] : [...waiting.frames, frame],
    bytes: (waiting?.bytes ?? 0) + frame.length,
    deadline: waiting?.deadline ?? addMillis(now, ARP_PENDING_TIMEOUT_MS),
  })
  const next: NeighborState = { ...s, pending, pendingBytes: s.pendingBytes + frame.length }
  if (waiting !== undefined) return [next, []]
  const request = emitArpFrame(BROADCAST_MAC, ARP_REQUEST, ctx.gatewayMac, ctx.config.host, ZERO_MAC, dstIp)
  return [
    next,
    [
      { _tag: "DeliverFrame", frame: request },
      { _tag: "SetTimer", timer: arpTimerId(dstIp), at: addMillis(now, ARP_PENDING_TIMEOUT_MS) },
    ],
  ]
}

/** The 1 s resolution deadline for `ip` passed: drop what waits for it. */
export const arpTimeout = (s: NeighborState, ip: Ipv4, now: Instant): Result => {
  const waiting = s.pending.get(ip)
  if (waiting === undefined || now < waiting.deadline) return [s, []]
  const pending = new Map(s.pending)
  pending.delete(ip)
  return [
    { ...s, pending, pendingBytes: s.pendingBytes - waiting.bytes },
    [debug(`arp: no answer for ${formatIpv4(ip)} in ${ARP_PENDING_TIMEOUT_MS} ms, ${waiting.frames.length} frame(s) dropped`)],
  ]
}

export const describeNeighbors = (s: NeighborState): ReadonlyArray<string> =>
  [...s.cache].map(([ip, mac]) => `${formatIpv4(ip)} ${formatMac(mac)}`)

/** ARP as the IPv4 layer's neighbour resolution. */
export const arp: NeighborResolution<NeighborState, NeighborContext, Ipv4> = {
  send: sendIpv4Frame,
  learn,
  timeout: (s, timer, now) => (timer.layer === "arp" ? arpTimeout(s, timer.key, now) : [s, []]),
  shutdown: (s) => [...s.pending.keys()].map((ip): StackEffect => ({ _tag: "CancelTimer", timer: arpTimerId(ip) })),
}
