/**
 * ICMPv6 errors to the guest (RFC 4443): how a family-neutral `ErrorToGuest` reason becomes a
 * type and code, and the §2.4 (e) rules about which datagrams must not get an error.
 *
 * Contract: `icmpv6ErrorPacket` returns the packet to send, or undefined when the quoted
 * datagram must not get one: an ICMPv6 error message (or one whose type cannot be seen), a
 * source that is not a single guest address (unspecified, multicast, ours), or fewer bytes
 * than an IPv6 header. (Multicast destinations get no error either, except Packet Too Big,
 * §2.4 e.3; nothing we forward has one.) Pure; the message is freshly allocated.
 */
import type { HostUnreachableReason } from "../../effects/event.ts"
import { absurd } from "../../effects/absurd.ts"
import {
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_TIME_EXCEEDED,
  UNREACH6_ADDRESS,
  UNREACH6_ADMIN,
  UNREACH6_NO_ROUTE,
  UNREACH6_PORT,
  emitIcmpv6Error,
  isIcmpv6Error,
} from "../icmpv6/wire.ts"
import { isGuestAddress6 } from "../policy/policy.ts"
import type { StackConfig } from "../stack/config.ts"
import type { Ipv6ErrorToGuest, Ipv6PacketToGuest } from "../stack/output.ts"
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, NH_ICMPV6, parseIpv6Header } from "./wire.ts"

export const icmpv6ForHostReason = (reason: HostUnreachableReason): { readonly type: 1 | 2 | 3; readonly code: number } => {
  switch (reason) {
    case "net":
      return { type: ICMPV6_DEST_UNREACHABLE, code: UNREACH6_NO_ROUTE }
    case "host":
      return { type: ICMPV6_DEST_UNREACHABLE, code: UNREACH6_ADDRESS }
    case "port":
      return { type: ICMPV6_DEST_UNREACHABLE, code: UNREACH6_PORT }
    case "protocol":
      // RFC 4443 has no "protocol unreachable": the closest is parameter problem code 1, which
      // needs a pointer we do not have; port unreachable tells the sender the same thing.
      return { type: ICMPV6_DEST_UNREACHABLE, code: UNREACH6_PORT }
    case "admin":
      return { type: ICMPV6_DEST_UNREACHABLE, code: UNREACH6_ADMIN }
    case "fragmentation-needed":
      return { type: ICMPV6_PACKET_TOO_BIG, code: 0 }
    case "ttl-exceeded":
      return { type: ICMPV6_TIME_EXCEEDED, code: 0 }
    default:
      return absurd(reason)
  }
}

export const icmpv6ErrorPacket = (c: StackConfig, e: Ipv6ErrorToGuest): Ipv6PacketToGuest | undefined => {
  const original = e.original
  if (original.length < IPV6_HEADER_LEN) return undefined
  const src = original.subarray(8, 24)
  if (!isGuestAddress6(c, src)) return undefined
  const p = parseIpv6Header(original, 0)
  // A quote cut short (the IP layer trims) may fail the length check: then only the fixed
  // header's next header tells whether it is ICMPv6.
  const nh = p.ok ? p.ip.protocol : original[6]!
  const upper = p.ok ? p.ip.upperOffset : IPV6_HEADER_LEN
  if (nh === NH_ICMPV6 && (original.length <= upper || isIcmpv6Error(original[upper]!))) return undefined
  const { type, code } = icmpv6ForHostReason(e.reason)
  const dst = src.slice()
  // RFC 8201: a Packet Too Big MTU below the IPv6 minimum is raised to it.
  const word = type === ICMPV6_PACKET_TOO_BIG ? Math.max(IPV6_MIN_MTU, e.mtu ?? IPV6_MIN_MTU) : 0
  return {
    _tag: "PacketToGuest",
    family: 6,
    src: e.src,
    dst,
    protocol: NH_ICMPV6,
    header: emitIcmpv6Error(type, code, original, e.src, dst, word),
    checksumOffset: -1,
    pseudoHeader: false,
  }
}
