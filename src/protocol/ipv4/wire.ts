/**
 * IPv4 header (RFC 791). `parseIpv4` validates once (version, IHL, total length against the
 * bytes present, header checksum) and returns a view; options are skipped by honouring the IHL,
 * never interpreted. Trailing bytes past Total Length (Ethernet padding) are excluded from the
 * payload. `writeIpv4Header` emits a 20-byte header without options.
 */
import { get16, get32, put16, put32 } from "../wire/bytes.ts"
import { checksum } from "../wire/checksum.ts"
import type { Ipv4 } from "../wire/ipv4-address.ts"

export const IPV4_HEADER_LEN = 20
export const IPV4_MAX_DATAGRAM = 65535

export const PROTO_ICMP = 1
export const PROTO_TCP = 6
export const PROTO_UDP = 17

export const FLAG_DF = 0x4000
export const FLAG_MF = 0x2000
const OFFSET_MASK = 0x1fff

export interface Ipv4View {
  readonly buf: Uint8Array
  /** Offset of the IP header in `buf`. */
  readonly offset: number
  readonly headerLength: number
  readonly totalLength: number
  readonly tos: number
  readonly id: number
  readonly dontFragment: boolean
  readonly moreFragments: boolean
  /** Fragment offset in bytes. */
  readonly fragmentOffset: number
  readonly ttl: number
  readonly protocol: number
  readonly src: Ipv4
  readonly dst: Ipv4
  /** Offset of the payload in `buf`, and its length. */
  readonly payloadOffset: number
  readonly payloadLength: number
}

export type Ipv4Parse = { readonly ok: true; readonly ip: Ipv4View } | { readonly ok: false; readonly reason: string }

const fail = (reason: string): Ipv4Parse => ({ ok: false, reason })

export const parseIpv4Header = (buf: Uint8Array, offset: number): Ipv4Parse => {
  const avail = buf.length - offset
  if (avail < IPV4_HEADER_LEN) return fail(`ipv4: truncated header (${avail} bytes)`)
  const vihl = buf[offset]!
  if (vihl >> 4 !== 4) return fail(`ipv4: version ${vihl >> 4}`)
  const headerLength = (vihl & 0x0f) * 4
  if (headerLength < IPV4_HEADER_LEN) return fail(`ipv4: IHL ${headerLength / 4} too small`)
  const totalLength = get16(buf, offset + 2)
  if (totalLength < headerLength) return fail(`ipv4: total length ${totalLength} < header ${headerLength}`)
  if (totalLength > avail) return fail(`ipv4: total length ${totalLength} > ${avail} bytes present`)
  if (checksum(buf, offset, offset + headerLength) !== 0) return fail("ipv4: bad header checksum")
  const fl = get16(buf, offset + 6)
  return {
    ok: true,
    ip: {
      buf,
      offset,
      headerLength,
      totalLength,
      tos: buf[offset + 1]!,
      id: get16(buf, offset + 4),
      dontFragment: (fl & FLAG_DF) !== 0,
      moreFragments: (fl & FLAG_MF) !== 0,
      fragmentOffset: (fl & OFFSET_MASK) * 8,
      ttl: buf[offset + 8]!,
      protocol: buf[offset + 9]!,
      src: get32(buf, offset + 12),
      dst: get32(buf, offset + 16),
      payloadOffset: offset + headerLength,
      payloadLength: totalLength - headerLength,
    },
  }
}

export const isFragment = (ip: Ipv4View): boolean => ip.moreFragments || ip.fragmentOffset !== 0

export interface Ipv4HeaderFields {
  readonly totalLength: number
  readonly id: number
  readonly dontFragment: boolean
  readonly moreFragments: boolean
  readonly fragmentOffset: number
  readonly ttl: number
  readonly protocol: number
  readonly src: Ipv4
  readonly dst: Ipv4
  readonly tos?: number
}

/** Writes a 20-byte header with its checksum at `o`. */
export const writeIpv4Header = (b: Uint8Array, o: number, h: Ipv4HeaderFields): void => {
  b[o] = 0x45
  b[o + 1] = h.tos ?? 0
  put16(b, o + 2, h.totalLength)
  put16(b, o + 4, h.id)
  put16(b, o + 6, (h.dontFragment ? FLAG_DF : 0) | (h.moreFragments ? FLAG_MF : 0) | ((h.fragmentOffset >>> 3) & OFFSET_MASK))
  b[o + 8] = h.ttl
  b[o + 9] = h.protocol
  put16(b, o + 10, 0)
  put32(b, o + 12, h.src)
  put32(b, o + 16, h.dst)
  put16(b, o + 10, checksum(b, o, o + IPV4_HEADER_LEN))
}
