/**
 * The ICMPv6 layer for messages addressed to us (neighbour discovery aside, ndp/): echo
 * requests to the gateway and DNS addresses (global or link-local) are answered here, as
 * libslirp does and as the IPv4 ICMP layer does. Echo requests to other destinations are
 * dropped with a debug line in this slice: forwarding them through the host's ICMPv6 echo
 * socket (the native addon, as for IPv4) is the next session's work. Other types from the
 * guest (MLD reports, errors) are ignored with a debug line.
 *
 * Contract: a plain function of the config and the message; no state, never throws.
 */
import type { StackEffect } from "../../effects/effect.ts"
import { isOurIpv6 } from "../policy/policy.ts"
import type { StackConfig } from "../stack/config.ts"
import type { LayerOutput } from "../stack/output.ts"
import { NH_ICMPV6 } from "../ipv6/wire.ts"
import { formatIpv6 } from "../wire/ipv6-address.ts"
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, type Icmpv6View, emitEcho6 } from "./wire.ts"

export interface Icmpv6In {
  readonly src: Uint8Array
  readonly dst: Uint8Array
  readonly icmp: Icmpv6View
}

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })

export const icmpv6FromGuest = (c: StackConfig, m: Icmpv6In): ReadonlyArray<LayerOutput> => {
  const { icmp } = m
  if (icmp.type !== ICMPV6_ECHO_REQUEST) return [debug(`icmpv6: type ${icmp.type} from the guest ignored`)]
  if (!isOurIpv6(c, m.dst)) return [debug(`icmpv6: echo to ${formatIpv6(m.dst)} dropped (forwarding ICMPv6 echo is not implemented yet)`)]
  const src = m.dst.slice(0, 16)
  const dst = m.src.slice(0, 16)
  return [
    {
      _tag: "PacketToGuest",
      family: 6,
      src,
      dst,
      protocol: NH_ICMPV6,
      header: emitEcho6(ICMPV6_ECHO_REPLY, icmp.ident, icmp.sequence, icmp.body, src, dst),
      checksumOffset: -1,
      pseudoHeader: false,
    },
  ]
}
