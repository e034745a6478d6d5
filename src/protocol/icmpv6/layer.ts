/**
 * The ICMPv6 layer for messages from the guest (neighbour discovery aside, ndp/): echo requests
 * to the gateway and DNS addresses (global or link-local) are answered here, as libslirp does
 * and as the IPv4 ICMP layer does; echo requests to addresses the policy lets out
 * (policy.ts `isForwardable6`) go through the host's ICMPv6 ping socket of their flow, by the
 * echo NAPT both families share (icmp/layer.ts `forwardEcho`, whose `icmpHostEvent` also turns
 * the replies and the host's errors into ICMPv6 for the guest). Echoes to the rest of the
 * prefix, to multicast or reserved addresses are dropped with a debug line; so are other types
 * from the guest (MLD reports, errors).
 *
 * Contract: pure; the NAPT state is replaced, never written; never throws.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { LogFlow } from "../../effects/log.ts"
import { echoFlow, logLine } from "../flows/log-flow.ts"
import type { NaptState } from "../flows/napt.ts"
import { type IcmpContext, forwardEcho } from "../icmp/layer.ts"
import { gatewayFor6, isForwardable6, isOurIpv6 } from "../policy/policy.ts"
import type { LayerOutput } from "../stack/output.ts"
import { NH_ICMPV6 } from "../ipv6/wire.ts"
import { formatIpv6 } from "../wire/ipv6-address.ts"
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, type Icmpv6View, emitEcho6 } from "./wire.ts"

export interface Icmpv6In {
  readonly src: Uint8Array
  readonly dst: Uint8Array
  /** The hop limit the guest sent with. */
  readonly hopLimit: number
  /** The guest's whole datagram from its IPv6 header on (quoted by time exceeded). */
  readonly datagram: Uint8Array
  readonly icmp: Icmpv6View
}

type Result = readonly [NaptState, ReadonlyArray<LayerOutput>]

const debug = (message: string, flow?: LogFlow): StackEffect => logLine("debug", message, flow)

export const icmpv6FromGuest = (s: NaptState, ctx: IcmpContext, m: Icmpv6In): Result => {
  const c = ctx.config
  const { icmp } = m
  if (icmp.type !== ICMPV6_ECHO_REQUEST) return [s, [debug(`icmpv6: type ${icmp.type} from the guest ignored`)]]
  if (isOurIpv6(c, m.dst)) {
    const src = m.dst.slice(0, 16)
    const dst = m.src.slice(0, 16)
    const reply: LayerOutput = {
      _tag: "PacketToGuest",
      family: 6,
      src,
      dst,
      protocol: NH_ICMPV6,
      header: emitEcho6(ICMPV6_ECHO_REPLY, icmp.ident, icmp.sequence, icmp.body, src, dst),
      checksumOffset: -1,
      pseudoHeader: false,
    }
    return [s, [reply]]
  }
  if (!isForwardable6(c, m.dst)) return [s, [debug(`icmpv6: echo to ${formatIpv6(m.dst)} dropped (nobody there)`, echoFlow(m.src, icmp.ident, m.dst))]]
  return forwardEcho(s, ctx, {
    src: m.src,
    dst: m.dst,
    ttl: m.hopLimit,
    ident: icmp.ident,
    sequence: icmp.sequence,
    body: icmp.body,
    datagram: m.datagram,
    gateway: gatewayFor6(c, m.src),
  })
}
