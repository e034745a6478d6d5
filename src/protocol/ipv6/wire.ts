/**
 * IPv6 header (RFC 8200 §3) and the walk over its extension headers (§4).
 *
 * `parseIpv6` validates once (version, payload length against the bytes present) and walks
 * the chain: hop-by-hop (only first, §4.1), destination options, routing, and at most one
 * fragment header, each length checked against the datagram before it is read. The walk stops
 * at the first upper-layer header (or No Next Header) and reports it with its offset; a chain
 * longer than `MAX_EXTENSION_HEADERS`, a repeated or misplaced header, or one running past the
 * datagram is refused. Options of hop-by-hop and destination options headers are walked: one
 * running past its header, or an unrecognised one whose type says "discard" (§4.2), refuses
 * the datagram; recognised and skippable ones are skipped, never interpreted.
 * Trailing bytes past Payload Length (Ethernet padding) are excluded. Never throws, never copies.
 */
import { get16, get32, put16 } from "../wire/bytes.ts"

export const IPV6_HEADER_LEN = 40
/** RFC 8200 §5: every link carries at least 1280 bytes. */
export const IPV6_MIN_MTU = 1280

export const NH_HOP_BY_HOP = 0
export const NH_TCP = 6
export const NH_UDP = 17
export const NH_ROUTING = 43
export const NH_FRAGMENT = 44
export const NH_ICMPV6 = 58
export const NH_NONE = 59
export const NH_DEST_OPTIONS = 60

export const FRAGMENT_HEADER_LEN = 8

/** A guest gets at most this many extension headers walked before the datagram is dropped. */
export const MAX_EXTENSION_HEADERS = 8

export interface FragmentInfo {
  /** Offset of the fragment header in `buf`. */
  readonly headerOffset: number
  /** Next Header field of the fragment header: the protocol of the reassembled datagram's rest. */
  readonly nextHeader: number
  /** Fragment offset in bytes. */
  readonly offset: number
  readonly more: boolean
  readonly id: number
}

export interface Ipv6View {
  readonly buf: Uint8Array
  /** Offset of the fixed header in `buf`. */
  readonly offset: number
  readonly trafficClass: number
  readonly flowLabel: number
  /** Payload Length: everything after the fixed header, extension headers included. */
  readonly payloadLength: number
  readonly hopLimit: number
  /** Offsets of the addresses in `buf` (16 bytes each): views, copy before keeping. */
  readonly srcOffset: number
  readonly dstOffset: number
  /** The upper-layer protocol (or NH_NONE, or a fragment's next header once reassembled). */
  readonly protocol: number
  /** Offset of the upper-layer header (or of the fragment data) in `buf`, and its length. */
  readonly upperOffset: number
  readonly upperLength: number
  /** Present when the datagram carries a fragment header. */
  readonly fragment: FragmentInfo | undefined
  /** Whether a hop-by-hop options header was present (MLD, router alert). */
  readonly hasHopByHop: boolean
}

export type Ipv6Parse = { readonly ok: true; readonly ip: Ipv6View } | { readonly ok: false; readonly reason: string }

const fail = (reason: string): Ipv6Parse => ({ ok: false, reason })

export const parseIpv6Header = (buf: Uint8Array, offset: number): Ipv6Parse => {
  const avail = buf.length - offset
  if (avail < IPV6_HEADER_LEN) return fail(`ipv6: truncated header (${avail} bytes)`)
  const w0 = get32(buf, offset)
  if (w0 >>> 28 !== 6) return fail(`ipv6: version ${w0 >>> 28}`)
  const payloadLength = get16(buf, offset + 4)
  // A zero Payload Length means a jumbogram (RFC 2675), which no link of ours can carry.
  if (payloadLength === 0 && buf[offset + 6] === NH_HOP_BY_HOP) return fail("ipv6: jumbogram refused")
  if (IPV6_HEADER_LEN + payloadLength > avail) return fail(`ipv6: payload length ${payloadLength} > ${avail - IPV6_HEADER_LEN} bytes present`)
  const end = offset + IPV6_HEADER_LEN + payloadLength
  let nh = buf[offset + 6]!
  let at = offset + IPV6_HEADER_LEN
  let fragment: FragmentInfo | undefined
  let hasHopByHop = false
  let seenDestBeforeRouting = false
  let seenRouting = false
  for (let n = 0; ; n++) {
    if (n > MAX_EXTENSION_HEADERS) return fail(`ipv6: more than ${MAX_EXTENSION_HEADERS} extension headers`)
    switch (nh) {
      case NH_HOP_BY_HOP:
      case NH_DEST_OPTIONS:
      case NH_ROUTING: {
        // RFC 8200 §4.3: hop-by-hop only immediately after the fixed header.
        if (nh === NH_HOP_BY_HOP && n !== 0) return fail("ipv6: hop-by-hop header not first")
        if (nh === NH_ROUTING) {
          if (seenRouting) return fail("ipv6: two routing headers")
          seenRouting = true
        }
        if (nh === NH_DEST_OPTIONS && !seenRouting) {
          if (seenDestBeforeRouting) return fail("ipv6: repeated destination options header")
          seenDestBeforeRouting = true
        }
        if (end - at < 8) return fail("ipv6: truncated extension header")
        const len = (buf[at + 1]! + 1) * 8
        if (end - at < len) return fail(`ipv6: extension header of ${len} bytes runs past the datagram`)
        // Routing header with segments left: we are not the last hop, and we route nothing
        // through ourselves; RFC 8200 §4.4 would send a parameter problem, we drop.
        if (nh === NH_ROUTING && buf[at + 3] !== 0) return fail("ipv6: routing header with segments left")
        if (nh !== NH_ROUTING) {
          const bad = checkOptions(buf, at + 2, at + len)
          if (bad !== undefined) return fail(`ipv6: ${bad}`)
        }
        if (nh === NH_HOP_BY_HOP) hasHopByHop = true
        nh = buf[at]!
        at += len
        break
      }
      case NH_FRAGMENT: {
        if (fragment !== undefined) return fail("ipv6: two fragment headers")
        if (end - at < FRAGMENT_HEADER_LEN) return fail("ipv6: truncated fragment header")
        const fo = get16(buf, at + 2)
        fragment = { headerOffset: at, nextHeader: buf[at]!, offset: fo & 0xfff8, more: (fo & 1) !== 0, id: get32(buf, at + 4) }
        at += FRAGMENT_HEADER_LEN
        // An atomic fragment (offset 0, M clear; RFC 6946) is a whole datagram: keep walking.
        if (fragment.offset === 0 && !fragment.more) {
          nh = fragment.nextHeader
          break
        }
        // Past the fragment header of a real fragment the bytes are data, not headers (for the
        // first fragment the rest of the chain is walked after reassembly).
        return done(buf, offset, payloadLength, fragment.nextHeader, at, end, fragment, hasHopByHop)
      }
      default:
        return done(buf, offset, payloadLength, nh, at, end, fragment, hasHopByHop)
    }
  }
}

/** Option types we know (RFC 8200 §4.2 Pad1 and PadN, RFC 2711 router alert): skipped. */
const OPT_PAD1 = 0
const OPT_PADN = 1
const OPT_ROUTER_ALERT = 5

/**
 * RFC 8200 §4.2: walks the TLV options of a hop-by-hop or destination options header in
 * `buf[from, end)`. An option running past the header is malformed; an unrecognised option whose
 * two high-order bits are not 00 orders the datagram discarded (we send no Parameter Problem:
 * dropping is what matters, and the guest is the only sender). Returns why, or undefined.
 */
const checkOptions = (buf: Uint8Array, from: number, end: number): string | undefined => {
  let o = from
  while (o < end) {
    const type = buf[o]!
    if (type === OPT_PAD1) {
      o += 1
      continue
    }
    if (o + 2 > end || o + 2 + buf[o + 1]! > end) return `option ${type} runs past its header`
    if (type !== OPT_PADN && type !== OPT_ROUTER_ALERT && type >> 6 !== 0) return `unrecognised option ${type} (action ${type >> 6}) discards the datagram`
    o += 2 + buf[o + 1]!
  }
  return undefined
}

const done = (buf: Uint8Array, offset: number, payloadLength: number, protocol: number, at: number, end: number, fragment: FragmentInfo | undefined, hasHopByHop: boolean): Ipv6Parse => {
  const w0 = get32(buf, offset)
  return {
    ok: true,
    ip: {
      buf,
      offset,
      trafficClass: (w0 >>> 20) & 0xff,
      flowLabel: w0 & 0xfffff,
      payloadLength,
      hopLimit: buf[offset + 7]!,
      srcOffset: offset + 8,
      dstOffset: offset + 24,
      protocol,
      upperOffset: at,
      upperLength: end - at,
      fragment,
      hasHopByHop,
    },
  }
}

/** A fragment header whose offset is 0 and M flag clear is an atomic fragment (RFC 6946): not a fragment. */
export const isFragment6 = (ip: Ipv6View): boolean => ip.fragment !== undefined && (ip.fragment.more || ip.fragment.offset !== 0)

export interface Ipv6HeaderFields {
  readonly payloadLength: number
  readonly nextHeader: number
  readonly hopLimit: number
  readonly src: Uint8Array
  readonly dst: Uint8Array
  readonly trafficClass?: number
  readonly flowLabel?: number
}

/** Writes the 40-byte fixed header at `o`. */
export const writeIpv6Header = (b: Uint8Array, o: number, h: Ipv6HeaderFields): void => {
  const tc = h.trafficClass ?? 0
  const fl = h.flowLabel ?? 0
  b[o] = 0x60 | (tc >>> 4)
  b[o + 1] = ((tc & 0x0f) << 4) | ((fl >>> 16) & 0x0f)
  put16(b, o + 2, fl & 0xffff)
  put16(b, o + 4, h.payloadLength)
  b[o + 6] = h.nextHeader
  b[o + 7] = h.hopLimit
  b.set(h.src.subarray(0, 16), o + 8)
  b.set(h.dst.subarray(0, 16), o + 24)
}
