/**
 * ICMPv6 (RFC 4443): the message view, echo, and the four error messages (destination
 * unreachable, packet too big, time exceeded, parameter problem). NDP's messages are ICMPv6
 * too; their bodies are read in ndp/wire.ts.
 *
 * Contract: `parseIcmpv6` checks the length and the checksum (over the IPv6 pseudo header,
 * RFC 4443 §2.3, through the one checksum module) once, never throws and never copies.
 * Emitters return the ICMPv6 message (type..data) with its checksum filled for the given
 * source and destination; the IP layer wraps it.
 */
import { get16, get32, put16, put32 } from "../wire/bytes.ts"
import { finish, sum16, sumIpv6Pseudo } from "../wire/checksum.ts"
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, NH_ICMPV6 } from "../ipv6/wire.ts"

export const ICMPV6_DEST_UNREACHABLE = 1
export const ICMPV6_PACKET_TOO_BIG = 2
export const ICMPV6_TIME_EXCEEDED = 3
export const ICMPV6_PARAMETER_PROBLEM = 4
export const ICMPV6_ECHO_REQUEST = 128
export const ICMPV6_ECHO_REPLY = 129

/** Destination unreachable codes (RFC 4443 §3.1). */
export const UNREACH6_NO_ROUTE = 0
export const UNREACH6_ADMIN = 1
export const UNREACH6_ADDRESS = 3
export const UNREACH6_PORT = 4

export const ICMPV6_HEADER_LEN = 8

export interface Icmpv6View {
  readonly type: number
  readonly code: number
  /** Bytes 4..8: echo identifier and sequence, the MTU of Packet Too Big, NDP flags. */
  readonly word: number
  readonly ident: number
  readonly sequence: number
  /** The whole message (for NDP, whose fields start at byte 4). */
  readonly message: Uint8Array
  /** The bytes after the 8-byte header. */
  readonly body: Uint8Array
}

export type Icmpv6Parse = { readonly ok: true; readonly icmp: Icmpv6View } | { readonly ok: false; readonly reason: string }

/** The checksum of `msg` sent from `src` to `dst` (16-byte addresses at the offsets). */
export const icmpv6Checksum = (msg: Uint8Array, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): number =>
  finish(sum16(msg, 0, msg.length, sumIpv6Pseudo(0, src, srcOff, dst, dstOff, msg.length, NH_ICMPV6)))

export const parseIcmpv6 = (msg: Uint8Array, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): Icmpv6Parse => {
  if (msg.length < ICMPV6_HEADER_LEN) return { ok: false, reason: `icmpv6: truncated (${msg.length} bytes)` }
  if (icmpv6Checksum(msg, src, srcOff, dst, dstOff) !== 0) return { ok: false, reason: "icmpv6: bad checksum" }
  return {
    ok: true,
    icmp: { type: msg[0]!, code: msg[1]!, word: get32(msg, 4), ident: get16(msg, 4), sequence: get16(msg, 6), message: msg, body: msg.subarray(ICMPV6_HEADER_LEN) },
  }
}

/** RFC 4443 §2.1: types 0..127 are errors, about which no error is ever sent (§2.4 e.1). */
export const isIcmpv6Error = (type: number): boolean => type < 128

/** Fills the checksum field of a message the caller just built (and owns), and returns it. */
export const sealIcmpv6 = (m: Uint8Array, src: Uint8Array, dst: Uint8Array): Uint8Array => {
  put16(m, 2, 0)
  put16(m, 2, icmpv6Checksum(m, src, 0, dst, 0))
  return m
}

/** An echo message (request or reply) with `data` copied in. */
export const emitEcho6 = (type: number, ident: number, sequence: number, data: Uint8Array, src: Uint8Array, dst: Uint8Array): Uint8Array => {
  const m = new Uint8Array(ICMPV6_HEADER_LEN + data.length)
  m[0] = type
  put16(m, 4, ident)
  put16(m, 6, sequence)
  m.set(data, ICMPV6_HEADER_LEN)
  return sealIcmpv6(m, src, dst)
}

/**
 * An error message quoting `original` (the offending datagram from its IPv6 header on), trimmed
 * so the whole error datagram stays within the minimum MTU (RFC 4443 §2.4 c). `word` is the
 * MTU of Packet Too Big or the pointer of Parameter Problem, else 0.
 */
export const emitIcmpv6Error = (type: number, code: number, original: Uint8Array, src: Uint8Array, dst: Uint8Array, word = 0): Uint8Array => {
  const quoted = Math.min(original.length, IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN)
  const m = new Uint8Array(ICMPV6_HEADER_LEN + quoted)
  m[0] = type
  m[1] = code
  put32(m, 4, word)
  m.set(original.subarray(0, quoted), ICMPV6_HEADER_LEN)
  return sealIcmpv6(m, src, dst)
}
