/**
 * ICMPv4 errors to the guest (RFC 792): how a family-neutral `ErrorToGuest` reason becomes a
 * type and code, and the RFC 1122 §3.2.2 rules about which datagrams must not get an error.
 *
 * Contract: `icmpErrorPacket` returns the packet to send, or undefined when the quoted datagram
 * must not get an error (an ICMP error, a non-initial fragment, a source that is not a single
 * guest host, or fewer bytes than an IP header). Pure; the message is freshly allocated.
 */
import type { HostUnreachableReason } from "../../effects/event.ts"
import { absurd } from "../../effects/absurd.ts"
import {
  ICMP_DEST_UNREACHABLE,
  ICMP_TIME_EXCEEDED,
  UNREACH_ADMIN,
  UNREACH_HOST,
  UNREACH_NEEDFRAG,
  UNREACH_NET,
  UNREACH_PORT,
  UNREACH_PROTOCOL,
  emitIcmpError,
  isIcmpError,
} from "../icmp/wire.ts"
import { isGuestAddress } from "../policy/policy.ts"
import type { StackConfig } from "../stack/config.ts"
import type { Ipv4ErrorToGuest, Ipv4PacketToGuest } from "../stack/output.ts"
import { get16, get32 } from "../wire/bytes.ts"
import { IPV4_HEADER_LEN, PROTO_ICMP } from "./wire.ts"

export const icmpForHostReason = (reason: HostUnreachableReason): { readonly type: 3 | 11; readonly code: number } => {
  switch (reason) {
    case "net":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_NET }
    case "host":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_HOST }
    case "port":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_PORT }
    case "protocol":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_PROTOCOL }
    case "admin":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_ADMIN }
    case "fragmentation-needed":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_NEEDFRAG }
    case "ttl-exceeded":
      return { type: ICMP_TIME_EXCEEDED, code: 0 }
    default:
      return absurd(reason)
  }
}

/** The ICMPv4 error datagram for `e`, or undefined when RFC 1122 §3.2.2 forbids one. */
export const icmpErrorPacket = (c: StackConfig, e: Ipv4ErrorToGuest): Ipv4PacketToGuest | undefined => {
  const original = e.original
  if (original.length < IPV4_HEADER_LEN) return undefined
  const ihl = (original[0]! & 0x0f) * 4
  const origSrc = get32(original, 12)
  if (!isGuestAddress(c, origSrc)) return undefined
  if ((get16(original, 6) & 0x1fff) !== 0) return undefined
  if (original[9] === PROTO_ICMP && original.length > ihl && isIcmpError(original[ihl]!)) return undefined
  const { type, code } = icmpForHostReason(e.reason)
  return {
    _tag: "PacketToGuest",
    family: 4,
    src: e.src,
    dst: origSrc,
    protocol: PROTO_ICMP,
    header: emitIcmpError(type, code, original, e.mtu),
    checksumOffset: -1,
    pseudoHeader: false,
  }
}
