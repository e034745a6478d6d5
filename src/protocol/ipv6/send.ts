/**
 * The IPv6 output layer, beside ipv4/send.ts: what the stack calls for every family-6
 * `PacketToGuest` and `ErrorToGuest`. It builds the frames (output.ts: fragmented as the source
 * when over the MTU, with an Identification from one counter per stack), turns errors into
 * ICMPv6 (icmp-error.ts), and hands frames to NDP (ndp/neighbors.ts, through the
 * `NeighborResolution` interface) for addressing.
 *
 * Contract: effects are appended to `fx` in order; the state it is given is never written, a
 * new `Ipv6OutState` is returned. A datagram that cannot be built is dropped with a warning;
 * an error that must not be sent is dropped with a debug line.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { Instant } from "../../effects/instant.ts"
import type { FrameAllocator } from "../ethernet/frame-buffer.ts"
import type { NeighborContext } from "../ethernet/neighbors.ts"
import { type NdpState, ndp } from "../ndp/neighbors.ts"
import { isGuestAddress6 } from "../policy/policy.ts"
import type { Ipv6ErrorToGuest, Ipv6PacketToGuest } from "../stack/output.ts"
import { icmpv6ErrorPacket } from "./icmp-error.ts"
import { buildIpv6Frames } from "./output.ts"

export interface Ipv6OutState {
  /** Identification of our next fragmented datagram. */
  readonly fragmentId: number
  readonly neighbors: NdpState
}

export interface Ipv6SendContext {
  readonly neighbor: NeighborContext
  readonly now: Instant
  readonly frames: FrameAllocator
}

export const ipv6Send = (s: Ipv6OutState, ctx: Ipv6SendContext, o: Ipv6PacketToGuest, fx: Array<StackEffect>): Ipv6OutState => {
  const c = ctx.neighbor.config
  const built = buildIpv6Frames(o, s.fragmentId, c.mtu, ctx.frames)
  if (!built.ok) {
    fx.push({ _tag: "Log", level: "warn", message: built.reason })
    return s
  }
  // The counter moves only when it was used, so unfragmented traffic leaves the state alone.
  const fragmentId = built.frames.length > 1 ? (s.fragmentId + 1) >>> 0 : s.fragmentId
  let neighbors = s.neighbors
  if (o.dstMac !== undefined && isGuestAddress6(c, o.dst)) {
    const [n, lfx] = ndp.learn(neighbors, ctx.neighbor, o.dst, o.dstMac)
    neighbors = n
    for (const e of lfx) fx.push(e)
  }
  for (const f of built.frames) {
    const [n, nfx] = ndp.send(neighbors, ctx.neighbor, ctx.now, o.dst, f, o.dstMac)
    neighbors = n
    for (const e of nfx) fx.push(e)
  }
  return neighbors === s.neighbors && fragmentId === s.fragmentId ? s : { fragmentId, neighbors }
}

export const ipv6SendError = (s: Ipv6OutState, ctx: Ipv6SendContext, e: Ipv6ErrorToGuest, fx: Array<StackEffect>): Ipv6OutState => {
  const p = icmpv6ErrorPacket(ctx.neighbor.config, e)
  if (p === undefined) {
    fx.push({ _tag: "Log", level: "debug", message: "icmpv6: no error sent about a datagram that must not get one" })
    return s
  }
  return ipv6Send(s, ctx, p, fx)
}
