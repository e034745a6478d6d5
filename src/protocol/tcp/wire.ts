/**
 * TCP header codec (RFC 9293 §3.1) with the options we speak: MSS (RFC 9293 §3.7.1), window
 * scale and timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018).
 *
 * `parseTcp` checks lengths and the checksum over the pseudo header of the segment's family
 * (IPv4 or IPv6: the address type tells, wire/checksum.ts `sumPseudoHeader`) once and returns a
 * view: numbers for the fixed fields, the payload as offsets into the caller's buffer (never
 * copied). Malformed input yields a reason string, never an exception. Unknown options are
 * skipped by their length; a malformed option list ends option parsing (the segment is still
 * used, as Linux does) rather than dropping it.
 *
 * `emitTcpHeader` builds a header (20 bytes + options) with checksum zero: the IP layer fills
 * the checksum over header + payload (output.ts `checksumOffset`).
 */
import { get16, get32, put16, put32 } from "../wire/bytes.ts"
import { finish, type Sum16, sum16, sumPseudoHeader } from "../wire/checksum.ts"
import type { IpAddress } from "../wire/ip-address.ts"

export const TCP_HEADER_LEN = 20
export const TCP_PROTOCOL = 6
/** Offset of the checksum field in the header. */
export const TCP_CHECKSUM_OFFSET = 16

export const FIN = 0x01
export const SYN = 0x02
export const RST = 0x04
export const PSH = 0x08
export const ACK = 0x10
export const URG = 0x20

const OPT_END = 0
const OPT_NOP = 1
const OPT_MSS = 2
const OPT_WSCALE = 3
const OPT_SACK_PERMITTED = 4
const OPT_SACK = 5
const OPT_TIMESTAMP = 8

/** RFC 7323 §2.3: shift counts above 14 are treated as 14. */
export const MAX_WSCALE = 14

export interface TcpView {
  readonly srcPort: number
  readonly dstPort: number
  readonly seq: number
  readonly ack: number
  readonly flags: number
  readonly window: number
  readonly urgent: number
  readonly headerLength: number
  /** MSS option, or -1. */
  readonly mss: number
  /** Window scale shift (clamped to 14), or -1. */
  readonly wscale: number
  readonly sackPermitted: boolean
  readonly hasTimestamp: boolean
  readonly tsVal: number
  readonly tsEcr: number
  /** SACK blocks as flat [left, right) pairs, or undefined. */
  readonly sack: ReadonlyArray<number> | undefined
}

export type TcpParse = { readonly ok: true; readonly tcp: TcpView } | { readonly ok: false; readonly reason: string }

const fail = (reason: string): TcpParse => ({ ok: false, reason })

/**
 * The TCP checksum of `seg` over the pseudo header of `src`'s family; 0 when the stored checksum
 * is right. `sum` is `sum16` or a faster one with the same results (wire/checksum-simd.ts).
 */
export const tcpChecksum = (seg: Uint8Array, src: IpAddress, dst: IpAddress, sum: Sum16 = sum16): number =>
  finish(sum(seg, 0, seg.length, sumPseudoHeader(0, src, dst, seg.length, TCP_PROTOCOL)))

/** Parses `seg` (TCP header + payload of one IPv4 or IPv6 datagram from `src` to `dst`). */
export const parseTcp = (seg: Uint8Array, src: IpAddress, dst: IpAddress, verifyChecksum = true, sum: Sum16 = sum16): TcpParse => {
  if (seg.length < TCP_HEADER_LEN) return fail(`tcp: truncated header (${seg.length} bytes)`)
  const headerLength = (seg[12]! >> 4) * 4
  if (headerLength < TCP_HEADER_LEN) return fail(`tcp: data offset ${headerLength / 4} too small`)
  if (headerLength > seg.length) return fail(`tcp: data offset ${headerLength} > ${seg.length} bytes`)
  if (verifyChecksum && tcpChecksum(seg, src, dst, sum) !== 0) return fail("tcp: bad checksum")
  let mss = -1
  let wscale = -1
  let sackPermitted = false
  let hasTimestamp = false
  let tsVal = 0
  let tsEcr = 0
  let sack: Array<number> | undefined
  let i = TCP_HEADER_LEN
  while (i < headerLength) {
    const kind = seg[i]!
    if (kind === OPT_END) break
    if (kind === OPT_NOP) {
      i++
      continue
    }
    if (i + 1 >= headerLength) break
    const len = seg[i + 1]!
    if (len < 2 || i + len > headerLength) break
    switch (kind) {
      case OPT_MSS:
        if (len === 4) mss = get16(seg, i + 2)
        break
      case OPT_WSCALE:
        if (len === 3) wscale = Math.min(seg[i + 2]!, MAX_WSCALE)
        break
      case OPT_SACK_PERMITTED:
        if (len === 2) sackPermitted = true
        break
      case OPT_SACK:
        if ((len - 2) % 8 === 0 && len > 2) {
          sack = []
          for (let o = i + 2; o < i + len; o += 8) sack.push(get32(seg, o), get32(seg, o + 4))
        }
        break
      case OPT_TIMESTAMP:
        if (len === 10) {
          hasTimestamp = true
          tsVal = get32(seg, i + 2)
          tsEcr = get32(seg, i + 6)
        }
        break
      default:
        // Unknown option: skipped by its length (RFC 9293 §3.1 "must be prepared to handle").
        break
    }
    i += len
  }
  return {
    ok: true,
    tcp: {
      srcPort: get16(seg, 0),
      dstPort: get16(seg, 2),
      seq: get32(seg, 4),
      ack: get32(seg, 8),
      flags: seg[13]!,
      window: get16(seg, 14),
      urgent: get16(seg, 18),
      headerLength,
      mss,
      wscale,
      sackPermitted,
      hasTimestamp,
      tsVal,
      tsEcr,
      sack,
    },
  }
}

export interface TcpHeaderFields {
  readonly srcPort: number
  readonly dstPort: number
  readonly seq: number
  readonly ack: number
  readonly flags: number
  /** The 16-bit window field (already scaled down). */
  readonly window: number
  /** SYN options: MSS (-1 none), window scale (-1 none), SACK-permitted. */
  readonly mss?: number
  readonly wscale?: number
  readonly sackPermitted?: boolean
  /** Timestamps option (RFC 7323 §3), when `timestamp` is true. */
  readonly timestamp?: boolean
  readonly tsVal?: number
  readonly tsEcr?: number
  /** SACK blocks as flat [left, right) pairs (at most 4 blocks; 3 with timestamps). */
  readonly sack?: ReadonlyArray<number>
}

/** Length of the options `f` asks for, padded to 4 bytes. */
const optionsLength = (f: TcpHeaderFields): number => {
  let n = 0
  if (f.mss !== undefined && f.mss >= 0) n += 4
  // SACK-permitted (2) is packed with the timestamp option (10) as Linux does, else NOP NOP + 2.
  if (f.sackPermitted === true) n += f.timestamp === true ? 2 : 4
  if (f.timestamp === true) n += f.sackPermitted === true ? 10 : 12
  if (f.wscale !== undefined && f.wscale >= 0) n += 4
  if (f.sack !== undefined && f.sack.length > 0) n += 4 + 4 * f.sack.length
  return n
}

/** Builds the header with checksum zero. */
export const emitTcpHeader = (f: TcpHeaderFields): Uint8Array => {
  const hl = TCP_HEADER_LEN + optionsLength(f)
  const h = new Uint8Array(hl)
  put16(h, 0, f.srcPort)
  put16(h, 2, f.dstPort)
  put32(h, 4, f.seq)
  put32(h, 8, f.ack)
  h[12] = (hl / 4) << 4
  h[13] = f.flags
  put16(h, 14, f.window)
  let i = TCP_HEADER_LEN
  if (f.mss !== undefined && f.mss >= 0) {
    h[i] = OPT_MSS
    h[i + 1] = 4
    put16(h, i + 2, f.mss)
    i += 4
  }
  if (f.sackPermitted === true) {
    if (f.timestamp !== true) {
      h[i++] = OPT_NOP
      h[i++] = OPT_NOP
    }
    h[i] = OPT_SACK_PERMITTED
    h[i + 1] = 2
    i += 2
  }
  if (f.timestamp === true) {
    if (f.sackPermitted !== true) {
      h[i++] = OPT_NOP
      h[i++] = OPT_NOP
    }
    h[i] = OPT_TIMESTAMP
    h[i + 1] = 10
    put32(h, i + 2, f.tsVal ?? 0)
    put32(h, i + 6, f.tsEcr ?? 0)
    i += 10
  }
  if (f.wscale !== undefined && f.wscale >= 0) {
    h[i] = OPT_NOP
    h[i + 1] = OPT_WSCALE
    h[i + 2] = 3
    h[i + 3] = f.wscale
    i += 4
  }
  if (f.sack !== undefined && f.sack.length > 0) {
    h[i] = OPT_NOP
    h[i + 1] = OPT_NOP
    h[i + 2] = OPT_SACK
    h[i + 3] = 2 + 4 * f.sack.length
    i += 4
    for (const edge of f.sack) {
      put32(h, i, edge)
      i += 4
    }
  }
  return h
}

/** Assembles header + payload with the checksum filled: for tests and for the simulation's wire. */
export const assembleSegment = (header: Uint8Array, payload: Uint8Array | undefined, src: IpAddress, dst: IpAddress): Uint8Array => {
  const plen = payload === undefined ? 0 : payload.length
  const seg = new Uint8Array(header.length + plen)
  seg.set(header, 0)
  if (payload !== undefined) seg.set(payload, header.length)
  put16(seg, TCP_CHECKSUM_OFFSET, 0)
  put16(seg, TCP_CHECKSUM_OFFSET, tcpChecksum(seg, src, dst))
  return seg
}
