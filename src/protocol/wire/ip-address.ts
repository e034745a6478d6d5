/**
 * An address of either family, as the layers that carry both (UDP, the flow table) hold it:
 * an IPv4 address is its uint32 number, an IPv6 address its 16 bytes, so the type tells the
 * family and IPv4's per-packet path keeps its cheap number comparisons.
 */
import type { IpFamily } from "../../effects/address.ts"
import { type Ipv4, formatIpv4 } from "./ipv4-address.ts"
import { type Ipv6, formatIpv6, ipv6Equals } from "./ipv6-address.ts"

export type IpAddress = Ipv4 | Ipv6

export const familyOf = (a: IpAddress): IpFamily => (typeof a === "number" ? 4 : 6)

export const ipEquals = (a: IpAddress, b: IpAddress): boolean =>
  typeof a === "number" ? a === b : typeof b !== "number" && ipv6Equals(a, 0, b)

export const formatIp = (a: IpAddress): string => (typeof a === "number" ? formatIpv4(a) : formatIpv6(a))
