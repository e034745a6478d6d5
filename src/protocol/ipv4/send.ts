/**
 * The IPv4 output layer: what the stack calls for every IPv4 `PacketToGuest` and
 * `ErrorToGuest` the layers produce. It numbers the datagram (the IPv4 Identification, one
 * counter per stack), builds its frames (output.ts: fragmented to the MTU, from the caller's
 * frame allocator), turns errors into ICMPv4 (icmp-error.ts), and hands the frames to ARP
 * (ethernet/neighbors.ts, through the `NeighborResolution` interface) for addressing.
 *
 * Contract: effects are appended to `fx` in order (a fresh array of the caller's call); the
 * state it is given is never written, a new `Ipv4OutState` is returned. A datagram that cannot
 * be built (over 65535 bytes, DF over the MTU) is dropped with a warning; an error that must
 * not be sent is dropped with a debug line. An ipv6/ layer will sit beside this one.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { Instant } from "../../effects/instant.ts"
import type { FrameAllocator } from "../ethernet/frame-buffer.ts"
import { type NeighborContext, type NeighborState, arp } from "../ethernet/neighbors.ts"
import { isGuestAddress } from "../policy/policy.ts"
import type { Ipv4ErrorToGuest, Ipv4PacketToGuest } from "../stack/output.ts"
import { icmpErrorPacket } from "./icmp-error.ts"
import { buildIpv4Frames } from "./output.ts"

export interface Ipv4OutState {
  /** IPv4 Identification of our next datagram. */
  readonly ipId: number
  readonly neighbors: NeighborState
}

export interface Ipv4SendContext {
  readonly neighbor: NeighborContext
  readonly now: Instant
  readonly frames: FrameAllocator
}

export const ipv4Send = (s: Ipv4OutState, ctx: Ipv4SendContext, o: Ipv4PacketToGuest, fx: Array<StackEffect>): Ipv4OutState => {
  const c = ctx.neighbor.config
  const built = buildIpv4Frames(o, s.ipId, c.mtu, ctx.frames)
  const ipId = (s.ipId + 1) & 0xffff
  if (!built.ok) {
    fx.push({ _tag: "Log", level: "warn", message: built.reason })
    return { ipId, neighbors: s.neighbors }
  }
  let neighbors = s.neighbors
  // A reply addressed by MAC (DHCP) teaches us the guest's address for what follows.
  if (o.dstMac !== undefined && isGuestAddress(c, o.dst)) {
    const [n, lfx] = arp.learn(neighbors, ctx.neighbor, o.dst, o.dstMac)
    neighbors = n
    for (const e of lfx) fx.push(e)
  }
  for (const f of built.frames) {
    const [n, nfx] = arp.send(neighbors, ctx.neighbor, ctx.now, o.dst, f, o.dstMac)
    neighbors = n
    for (const e of nfx) fx.push(e)
  }
  return { ipId, neighbors }
}

export const ipv4SendError = (s: Ipv4OutState, ctx: Ipv4SendContext, e: Ipv4ErrorToGuest, fx: Array<StackEffect>): Ipv4OutState => {
  const p = icmpErrorPacket(ctx.neighbor.config, e)
  if (p === undefined) {
    fx.push({ _tag: "Log", level: "debug", message: "icmp: no error sent about a datagram that must not get one" })
    return s
  }
  return ipv4Send(s, ctx, p, fx)
}
