/**
 * TFTP packets (RFC 1350) with the option extension (RFC 2347): RRQ/WRQ (filename, mode,
 * options), DATA, ACK, ERROR and OACK.
 *
 * Contract: `parseTftp` never throws; anything malformed is `{ ok: false, reason }` (one line for
 * a debug log). Strings on the wire are NUL-terminated; a filename that is not UTF-8, or holds a
 * control character, is refused here (netascii names are printable ASCII, and UTF-8 is what
 * hosts use in practice). Modes and option names are returned lower-cased (both are
 * case-insensitive: RFC 1350 §5, RFC 2347); at most TFTP_MAX_OPTIONS distinct options are kept,
 * the first value of each. A DATA payload is a view of the input, not a copy.
 * The emitters return fresh bytes; `emitDataHeader` returns only the 4-byte header, so the file's
 * bytes go to the IP layer as a separate view (copied once, into the frame).
 */
import { get16, put16 } from "../wire/bytes.ts"

/** RFC 1350 §5 opcodes, and OACK from RFC 2347. */
export const OP_RRQ = 1
export const OP_WRQ = 2
export const OP_DATA = 3
export const OP_ACK = 4
export const OP_ERROR = 5
export const OP_OACK = 6

/** RFC 1350 Appendix error codes, and 8 from RFC 2347. */
export const ERR_NOT_DEFINED = 0
export const ERR_FILE_NOT_FOUND = 1
export const ERR_ACCESS_VIOLATION = 2
export const ERR_DISK_FULL = 3
export const ERR_ILLEGAL_OPERATION = 4
export const ERR_UNKNOWN_TID = 5
export const ERR_FILE_EXISTS = 6
export const ERR_NO_SUCH_USER = 7
export const ERR_OPTION_REFUSED = 8

export const TFTP_SERVER_PORT = 69
/** RFC 1350: a DATA block without the blksize option. */
export const TFTP_DEFAULT_BLKSIZE = 512
export const TFTP_DATA_HEADER_LEN = 4

export type TftpOption = readonly [name: string, value: string]

export interface TftpRequest {
  readonly _tag: "Request"
  readonly opcode: typeof OP_RRQ | typeof OP_WRQ
  readonly filename: string
  readonly mode: string
  /** In the order sent, names lower-cased; a repeated name keeps its first value. */
  readonly options: ReadonlyArray<TftpOption>
}
export interface TftpData {
  readonly _tag: "Data"
  readonly block: number
  readonly data: Uint8Array
}
export interface TftpAck {
  readonly _tag: "Ack"
  readonly block: number
}
export interface TftpError {
  readonly _tag: "Error"
  readonly code: number
  readonly message: string
}
export interface TftpOack {
  readonly _tag: "Oack"
  readonly options: ReadonlyArray<TftpOption>
}
export type TftpPacket = TftpRequest | TftpData | TftpAck | TftpError | TftpOack

export type TftpParse = { readonly ok: true; readonly packet: TftpPacket } | { readonly ok: false; readonly reason: string }

const bad = (reason: string): TftpParse => ({ ok: false, reason: `tftp: ${reason}` })

/** NUL-terminated strings from `from` to the end; undefined when the last one is not terminated. */
const strings = (b: Uint8Array, from: number): Array<Uint8Array> | undefined => {
  const out: Array<Uint8Array> = []
  let start = from
  for (let i = from; i < b.length; i++) {
    if (b[i] !== 0) continue
    out.push(b.subarray(start, i))
    start = i + 1
  }
  return start === b.length ? out : undefined
}

const ascii = (b: Uint8Array): string | undefined => {
  let s = ""
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!
    if (c < 0x20 || c > 0x7e) return undefined
    s += String.fromCharCode(c)
  }
  return s
}

const utf8 = (b: Uint8Array): string | undefined => {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(b)
  } catch {
    return undefined
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Distinct options kept from one packet; the rest are ignored. RFC 2347 keeps a request within
 * 512 bytes, so real clients send a handful; a reassembled 64 KiB datagram could carry
 * thousands, which the server would otherwise keep and walk.
 */
export const TFTP_MAX_OPTIONS = 32

/** Option pairs after the mode (RRQ/WRQ) or after the opcode (OACK). */
const options = (parts: ReadonlyArray<Uint8Array>): ReadonlyArray<TftpOption> | string => {
  if (parts.length % 2 !== 0) return "option without a value"
  const out: Array<TftpOption> = []
  const seen = new Set<string>()
  for (let i = 0; i < parts.length; i += 2) {
    const name = ascii(parts[i]!)
    const value = ascii(parts[i + 1]!)
    if (name === undefined || value === undefined || name.length === 0) return "option name or value not printable ASCII"
    const lower = name.toLowerCase()
    if (seen.has(lower) || out.length >= TFTP_MAX_OPTIONS) continue
    seen.add(lower)
    out.push([lower, value])
  }
  return out
}

export const parseTftp = (b: Uint8Array): TftpParse => {
  if (b.length < 4) return bad(`packet of ${b.length} bytes is too short`)
  const op = get16(b, 0)
  switch (op) {
    case OP_RRQ:
    case OP_WRQ: {
      const parts = strings(b, 2)
      if (parts === undefined) return bad("request not NUL-terminated")
      if (parts.length < 2) return bad("request without a mode")
      const filename = utf8(parts[0]!)
      if (filename === undefined || filename.length === 0 || CONTROL.test(filename)) return bad("request filename empty, not UTF-8 or with control characters")
      const mode = ascii(parts[1]!)
      if (mode === undefined || mode.length === 0) return bad("request mode empty or not ASCII")
      const opts = options(parts.slice(2))
      if (typeof opts === "string") return bad(`request ${opts}`)
      return { ok: true, packet: { _tag: "Request", opcode: op, filename, mode: mode.toLowerCase(), options: opts } }
    }
    case OP_DATA:
      return { ok: true, packet: { _tag: "Data", block: get16(b, 2), data: b.subarray(4) } }
    case OP_ACK:
      // Some clients pad; RFC 1350's ACK is exactly 4 bytes, extra bytes are ignored.
      return { ok: true, packet: { _tag: "Ack", block: get16(b, 2) } }
    case OP_ERROR: {
      // The message should end in NUL; a missing one is tolerated (it is only read for a log).
      const end = b.indexOf(0, 4)
      const message = utf8(b.subarray(4, end < 0 ? b.length : end)) ?? "(not UTF-8)"
      return { ok: true, packet: { _tag: "Error", code: get16(b, 2), message } }
    }
    case OP_OACK: {
      const parts = strings(b, 2)
      if (parts === undefined) return bad("OACK not NUL-terminated")
      const opts = options(parts)
      if (typeof opts === "string") return bad(`OACK ${opts}`)
      return { ok: true, packet: { _tag: "Oack", options: opts } }
    }
    default:
      return bad(`unknown opcode ${op}`)
  }
}

/** Opcode followed by NUL-terminated strings. */
const withStrings = (op: number, texts: ReadonlyArray<string>): Uint8Array => {
  const encoded = texts.map((t) => new TextEncoder().encode(t))
  const out = new Uint8Array(2 + encoded.reduce((n, e) => n + e.length + 1, 0))
  put16(out, 0, op)
  let o = 2
  for (const e of encoded) {
    out.set(e, o)
    o += e.length + 1 // the NUL is already there (fresh memory is zero)
  }
  return out
}

export const emitRequest = (r: Omit<TftpRequest, "_tag">): Uint8Array =>
  withStrings(r.opcode, [r.filename, r.mode, ...r.options.flatMap(([n, v]) => [n, v])])

/** The 4 bytes in front of a DATA block's payload. */
export const emitDataHeader = (block: number): Uint8Array => {
  const h = new Uint8Array(TFTP_DATA_HEADER_LEN)
  put16(h, 0, OP_DATA)
  put16(h, 2, block & 0xffff)
  return h
}

export const emitData = (block: number, data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(TFTP_DATA_HEADER_LEN + data.length)
  out.set(emitDataHeader(block), 0)
  out.set(data, TFTP_DATA_HEADER_LEN)
  return out
}

export const emitAck = (block: number): Uint8Array => {
  const out = new Uint8Array(4)
  put16(out, 0, OP_ACK)
  put16(out, 2, block & 0xffff)
  return out
}

export const emitError = (code: number, message: string): Uint8Array => {
  const text = new TextEncoder().encode(message)
  const out = new Uint8Array(5 + text.length)
  put16(out, 0, OP_ERROR)
  put16(out, 2, code)
  out.set(text, 4)
  return out
}

export const emitOack = (opts: ReadonlyArray<TftpOption>): Uint8Array => withStrings(OP_OACK, opts.flatMap(([n, v]) => [n, v]))
