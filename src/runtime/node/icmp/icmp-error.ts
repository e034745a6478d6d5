/**
 * What an error reported on a host ping socket means for the guest.
 *
 * Contract: pure functions from the numbers Linux hands back (the `sock_extended_err` of an
 * `IP_RECVERR`/`IPV6_RECVERR` error-queue message, or the errno of a failed `sendmsg`) to either
 * an unreachability the stack can turn into an ICMP error for the guest, or a plain error code.
 * They never throw: unknown types and codes fall back to the coarsest sensible answer.
 */
import type { HostUnreachableReason } from "../../../effects/event.ts"

export type IcmpErrorVerdict =
  | { readonly _tag: "Unreachable"; readonly reason: HostUnreachableReason; readonly mtu?: number }
  | { readonly _tag: "Error"; readonly errno: number }

export type SendErrorVerdict =
  | { readonly _tag: "Unreachable"; readonly reason: HostUnreachableReason }
  | { readonly _tag: "Error"; readonly code: string }

/** `ee_origin` values, <linux/errqueue.h>. */
export const SO_EE_ORIGIN_LOCAL = 1
export const SO_EE_ORIGIN_ICMP = 2
export const SO_EE_ORIGIN_ICMP6 = 3

/** Linux errno values that matter here (x86-64 and every other Linux architecture). */
const EMSGSIZE = 90

const unreachable = (reason: HostUnreachableReason, mtu?: number): IcmpErrorVerdict =>
  mtu === undefined ? { _tag: "Unreachable", reason } : { _tag: "Unreachable", reason, mtu }

/** ICMPv4 Destination Unreachable codes, RFC 792 (0-5) and RFC 1122 §3.2.2.1 / RFC 1812 §5.2.7.1 (6-15). */
const icmp4Unreachable = (code: number, info: number): IcmpErrorVerdict => {
  switch (code) {
    case 0: // net unreachable
    case 6: // destination network unknown
    case 11: // network unreachable for TOS
      return unreachable("net")
    case 2:
      return unreachable("protocol")
    case 3:
      return unreachable("port")
    case 4: // fragmentation needed and DF set; RFC 1191 puts the next-hop MTU in the header
      return unreachable("fragmentation-needed", info > 0 ? info : undefined)
    case 9: // network administratively prohibited
    case 10: // host administratively prohibited
    case 13: // communication administratively prohibited
    case 14: // host precedence violation
    case 15: // precedence cutoff in effect
      return unreachable("admin")
    default: // 1 host, 5 source route failed, 7 host unknown, 8 source isolated, 12 host for TOS, others
      return unreachable("host")
  }
}

/** ICMPv6 Destination Unreachable codes, RFC 4443 §3.1. */
const icmp6Unreachable = (code: number): IcmpErrorVerdict => {
  switch (code) {
    case 0: // no route to destination
      return unreachable("net")
    case 1: // communication administratively prohibited
    case 5: // source address failed ingress/egress policy
    case 6: // reject route to destination
      return unreachable("admin")
    case 4:
      return unreachable("port")
    default: // 2 beyond scope of source address, 3 address unreachable, others
      return unreachable("host")
  }
}

/**
 * Classify one error-queue message. `info` is `ee_info`: the MTU for "fragmentation needed" /
 * "packet too big" and for local `EMSGSIZE` reports.
 */
export const classifyIcmpError = (
  origin: number,
  type: number,
  code: number,
  errno: number,
  info: number,
): IcmpErrorVerdict => {
  if (origin === SO_EE_ORIGIN_ICMP) {
    if (type === 3) return icmp4Unreachable(code, info)
    if (type === 11) return unreachable("ttl-exceeded") // RFC 792: TTL or reassembly time exceeded
    return { _tag: "Error", errno } // parameter problem, or a type Linux adds later
  }
  if (origin === SO_EE_ORIGIN_ICMP6) {
    if (type === 1) return icmp6Unreachable(code)
    if (type === 2) return unreachable("fragmentation-needed", info > 0 ? info : undefined) // RFC 4443 §3.2
    if (type === 3) return unreachable("ttl-exceeded") // RFC 4443 §3.3
    return { _tag: "Error", errno } // parameter problem
  }
  if (origin === SO_EE_ORIGIN_LOCAL && errno === EMSGSIZE) {
    // The local path MTU is smaller than the echo; Linux reports it in ee_info.
    return unreachable("fragmentation-needed", info > 0 ? info : undefined)
  }
  return { _tag: "Error", errno }
}

/**
 * Classify the errno name of a failed send. Routing refusals (an `unreachable` or `prohibit`
 * route, a firewall rule on output) are what an ICMP error from the first hop would have said.
 */
export const classifySendError = (code: string): SendErrorVerdict => {
  switch (code) {
    case "EHOSTUNREACH":
      return { _tag: "Unreachable", reason: "host" }
    case "ENETUNREACH":
      return { _tag: "Unreachable", reason: "net" }
    case "EACCES": // `prohibit` route, or a broadcast destination
    case "EPERM": // netfilter dropped it on output
      return { _tag: "Unreachable", reason: "admin" }
    default:
      return { _tag: "Error", code }
  }
}
