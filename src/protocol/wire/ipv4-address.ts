/**
 * IPv4 addresses inside the stack are uint32 numbers (host order of the big-endian wire value),
 * which makes comparisons, masks and map keys cheap.
 */
export type Ipv4 = number

export const ipv4 = (a: number, b: number, c: number, d: number): Ipv4 => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0

/** Parses a dotted quad; returns undefined unless it is exactly four decimal octets. */
export const parseIpv4 = (s: string): Ipv4 | undefined => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s)
  if (m === null) return undefined
  const parts = m.slice(1).map(Number)
  if (parts.some((p) => p > 255)) return undefined
  return ipv4(parts[0]!, parts[1]!, parts[2]!, parts[3]!)
}

export const formatIpv4 = (a: Ipv4): string => `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`

export const prefixMask = (len: number): Ipv4 => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0)

export const inSubnet = (a: Ipv4, network: Ipv4, mask: Ipv4): boolean => ((a & mask) >>> 0) === ((network & mask) >>> 0)

export const IPV4_BROADCAST: Ipv4 = 0xffffffff
export const IPV4_ANY: Ipv4 = 0
