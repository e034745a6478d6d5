/**
 * UDP header (RFC 768). `parseUdp` checks the length field against the bytes present and, when
 * the checksum field is not zero, the checksum over the IPv4 pseudo header; `parseUdp6` the same
 * over the IPv6 pseudo header, where a zero checksum is refused (RFC 8200 §8.1). The payload is
 * a view. `emitUdpHeader` returns the 8 header bytes with the checksum left zero for the IP layer
 * to fill (it sends a computed 0 as 0xffff).
 */
import { get16, put16 } from "../wire/bytes.ts"
import { finish, sum16, sum32, sumIpv6Pseudo } from "../wire/checksum.ts"
import type { Ipv4 } from "../wire/ipv4-address.ts"

export const UDP_HEADER_LEN = 8
export const UDP_CHECKSUM_OFFSET = 6
const PROTO_UDP = 17

export interface UdpView {
  readonly srcPort: number
  readonly dstPort: number
  readonly payload: Uint8Array
}

export type UdpParse = { readonly ok: true; readonly udp: UdpView } | { readonly ok: false; readonly reason: string }

/** `seg` is the IP payload (UDP header + data), `src`/`dst` the IP addresses for the pseudo header. */
export const parseUdp = (seg: Uint8Array, src: Ipv4, dst: Ipv4): UdpParse => {
  if (seg.length < UDP_HEADER_LEN) return { ok: false, reason: `udp: truncated (${seg.length} bytes)` }
  const length = get16(seg, 4)
  if (length < UDP_HEADER_LEN || length > seg.length) return { ok: false, reason: `udp: length ${length} with ${seg.length} bytes present` }
  if (get16(seg, UDP_CHECKSUM_OFFSET) !== 0) {
    const pseudo = sum32(sum32(src, 0), dst) + PROTO_UDP + length
    if (finish(sum16(seg, 0, length, pseudo)) !== 0) return { ok: false, reason: "udp: bad checksum" }
  }
  return { ok: true, udp: { srcPort: get16(seg, 0), dstPort: get16(seg, 2), payload: seg.subarray(UDP_HEADER_LEN, length) } }
}

export const emitUdpHeader = (srcPort: number, dstPort: number, payloadLength: number): Uint8Array => {
  const h = new Uint8Array(UDP_HEADER_LEN)
  put16(h, 0, srcPort)
  put16(h, 2, dstPort)
  put16(h, 4, UDP_HEADER_LEN + payloadLength)
  return h
}

/** UDP over IPv6: the addresses are read from `ip` at `srcOff`/`dstOff` (the guest's frame). */
export const parseUdp6 = (seg: Uint8Array, ip: Uint8Array, srcOff: number, dstOff: number): UdpParse => {
  if (seg.length < UDP_HEADER_LEN) return { ok: false, reason: `udp: truncated (${seg.length} bytes)` }
  const length = get16(seg, 4)
  if (length < UDP_HEADER_LEN || length > seg.length) return { ok: false, reason: `udp: length ${length} with ${seg.length} bytes present` }
  // RFC 8200 §8.1: IPv6 receivers discard UDP with a zero checksum (RFC 6935's tunnel exception is not ours).
  if (get16(seg, UDP_CHECKSUM_OFFSET) === 0) return { ok: false, reason: "udp: zero checksum over IPv6" }
  if (finish(sum16(seg, 0, length, sumIpv6Pseudo(0, ip, srcOff, ip, dstOff, length, PROTO_UDP))) !== 0) return { ok: false, reason: "udp: bad checksum" }
  return { ok: true, udp: { srcPort: get16(seg, 0), dstPort: get16(seg, 2), payload: seg.subarray(UDP_HEADER_LEN, length) } }
}
