/**
 * ICMPv4 (RFC 792): views of echo messages and emitters of echo replies and errors.
 *
 * Contract: `parseIcmp` checks the length and the checksum over the whole message once, never
 * throws and never copies; the echo payload is a view. Emitters return the ICMP message only
 * (type..data) with its checksum filled; the IP layer wraps it.
 */
import { get16, put16, put32 } from "../wire/bytes.ts"
import { checksum } from "../wire/checksum.ts"

export const ICMP_ECHO_REPLY = 0
export const ICMP_DEST_UNREACHABLE = 3
export const ICMP_ECHO_REQUEST = 8
export const ICMP_TIME_EXCEEDED = 11

/** Destination unreachable codes (RFC 792, RFC 1812 §5.2.7.1). */
export const UNREACH_NET = 0
export const UNREACH_HOST = 1
export const UNREACH_PROTOCOL = 2
export const UNREACH_PORT = 3
export const UNREACH_NEEDFRAG = 4
export const UNREACH_ADMIN = 13

export const ICMP_HEADER_LEN = 8
/** RFC 1812 §4.3.2.3: an ICMP error should not make a datagram larger than 576 bytes. */
export const ICMP_ERROR_MAX_DATAGRAM = 576

export interface IcmpView {
  readonly type: number
  readonly code: number
  /** For echo: identifier and sequence (bytes 4..8). */
  readonly ident: number
  readonly sequence: number
  /** The bytes after the 8-byte header: echo data, or the quoted datagram of an error. */
  readonly body: Uint8Array
}

export type IcmpParse = { readonly ok: true; readonly icmp: IcmpView } | { readonly ok: false; readonly reason: string }

export const parseIcmp = (msg: Uint8Array): IcmpParse => {
  if (msg.length < ICMP_HEADER_LEN) return { ok: false, reason: `icmp: truncated (${msg.length} bytes)` }
  if (checksum(msg, 0, msg.length) !== 0) return { ok: false, reason: "icmp: bad checksum" }
  return {
    ok: true,
    icmp: { type: msg[0]!, code: msg[1]!, ident: get16(msg, 4), sequence: get16(msg, 6), body: msg.subarray(ICMP_HEADER_LEN) },
  }
}

/** Is this an ICMP error type (about which no further error may be sent, RFC 1122 §3.2.2)? */
export const isIcmpError = (type: number): boolean => type === 3 || type === 4 || type === 5 || type === 11 || type === 12

/** An echo message (request or reply) with `data` copied in. */
export const emitEcho = (type: number, ident: number, sequence: number, data: Uint8Array): Uint8Array => {
  const m = new Uint8Array(ICMP_HEADER_LEN + data.length)
  m[0] = type
  put16(m, 4, ident)
  put16(m, 6, sequence)
  m.set(data, ICMP_HEADER_LEN)
  put16(m, 2, checksum(m, 0, m.length))
  return m
}

/**
 * An error message quoting `original` (the offending datagram from its IP header on), trimmed so
 * the whole IP datagram stays within 576 bytes. `mtu` fills the next-hop MTU of code 4 (RFC 1191).
 */
export const emitIcmpError = (type: number, code: number, original: Uint8Array, mtu = 0): Uint8Array => {
  const quoted = Math.min(original.length, ICMP_ERROR_MAX_DATAGRAM - 20 - ICMP_HEADER_LEN)
  const m = new Uint8Array(ICMP_HEADER_LEN + quoted)
  m[0] = type
  m[1] = code
  put32(m, 4, type === ICMP_DEST_UNREACHABLE && code === UNREACH_NEEDFRAG ? mtu & 0xffff : 0)
  m.set(original.subarray(0, quoted), ICMP_HEADER_LEN)
  put16(m, 2, checksum(m, 0, m.length))
  return m
}
