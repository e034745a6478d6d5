/**
 * DNS message header and question (RFC 1035 §4.1.1, §4.1.2): enough for the DNS proxy to
 * forward a query, match the upstream's reply to it (id + first question) and log the name.
 * Parsing never throws: malformed input gives undefined. Resource records are never parsed;
 * the proxy passes them through untouched.
 */
import { get16, put16 } from "../wire/bytes.ts"
import { readDnsName } from "./name.ts"

export const DNS_HEADER_LEN = 12
export const DNS_PORT = 53

/** RFC 1035 §4.1.1 / RFC 6895 §2.3 rcodes the stack may log. */
export const RCODE_NOERROR = 0
export const RCODE_FORMERR = 1
export const RCODE_SERVFAIL = 2
export const RCODE_NXDOMAIN = 3

export interface DnsHeader {
  readonly id: number
  /** Response (true) or query. */
  readonly qr: boolean
  readonly opcode: number
  readonly aa: boolean
  /** Truncated: the guest retries over TCP. */
  readonly tc: boolean
  readonly rd: boolean
  readonly ra: boolean
  /** RFC 4035 bits, kept so a forwarder can log them; the proxy never changes them. */
  readonly ad: boolean
  readonly cd: boolean
  readonly rcode: number
  readonly qdcount: number
  readonly ancount: number
  readonly nscount: number
  readonly arcount: number
}

export const parseDnsHeader = (b: Uint8Array): DnsHeader | undefined => {
  if (b.length < DNS_HEADER_LEN) return undefined
  const fl = get16(b, 2)
  return {
    id: get16(b, 0),
    qr: (fl & 0x8000) !== 0,
    opcode: (fl >> 11) & 0xf,
    aa: (fl & 0x0400) !== 0,
    tc: (fl & 0x0200) !== 0,
    rd: (fl & 0x0100) !== 0,
    ra: (fl & 0x0080) !== 0,
    ad: (fl & 0x0020) !== 0,
    cd: (fl & 0x0010) !== 0,
    rcode: fl & 0xf,
    qdcount: get16(b, 4),
    ancount: get16(b, 6),
    nscount: get16(b, 8),
    arcount: get16(b, 10),
  }
}

/** Fields of `emitDnsHeader`; flags default to a plain recursive query. */
export interface DnsHeaderFields {
  readonly id: number
  readonly qr?: boolean
  readonly opcode?: number
  readonly aa?: boolean
  readonly tc?: boolean
  readonly rd?: boolean
  readonly ra?: boolean
  readonly ad?: boolean
  readonly cd?: boolean
  readonly rcode?: number
  readonly qdcount?: number
  readonly ancount?: number
  readonly nscount?: number
  readonly arcount?: number
}

export const writeDnsHeader = (b: Uint8Array, h: DnsHeaderFields): void => {
  put16(b, 0, h.id)
  put16(
    b,
    2,
    (h.qr === true ? 0x8000 : 0) |
      (((h.opcode ?? 0) & 0xf) << 11) |
      (h.aa === true ? 0x0400 : 0) |
      (h.tc === true ? 0x0200 : 0) |
      (h.rd === true ? 0x0100 : 0) |
      (h.ra === true ? 0x0080 : 0) |
      (h.ad === true ? 0x0020 : 0) |
      (h.cd === true ? 0x0010 : 0) |
      ((h.rcode ?? 0) & 0xf),
  )
  put16(b, 4, h.qdcount ?? 0)
  put16(b, 6, h.ancount ?? 0)
  put16(b, 8, h.nscount ?? 0)
  put16(b, 10, h.arcount ?? 0)
}

/** Writes a new id into `b`, a message buffer the caller owns (a forwarder that multiplexes guests onto one upstream socket needs it). */
export const setDnsId = (b: Uint8Array, id: number): void => put16(b, 0, id)

export interface DnsQuestion {
  /** Presentation form, no trailing dot; compare with `sameQuestion` (names are case-insensitive). */
  readonly name: string
  readonly qtype: number
  readonly qclass: number
  /** Offset just after the question. */
  readonly next: number
}

/** Reads the question at `offset` (12 for the first one). */
export const parseQuestion = (b: Uint8Array, offset: number): DnsQuestion | undefined => {
  const n = readDnsName(b, offset)
  if (n === undefined || n.next + 4 > b.length) return undefined
  return { name: n.name, qtype: get16(b, n.next), qclass: get16(b, n.next + 2), next: n.next + 4 }
}

/** Header plus first question, or undefined if the message has no readable question. */
export const parseDnsQuery = (b: Uint8Array): { readonly header: DnsHeader; readonly question: DnsQuestion } | undefined => {
  const header = parseDnsHeader(b)
  if (header === undefined || header.qdcount === 0) return undefined
  const question = parseQuestion(b, DNS_HEADER_LEN)
  return question === undefined ? undefined : { header, question }
}

/** RFC 1035 §2.3.3: names compare case-insensitively (ASCII only); types and classes exactly. */
export const sameQuestion = (a: DnsQuestion, b: DnsQuestion): boolean =>
  a.qtype === b.qtype && a.qclass === b.qclass && a.name.toLowerCase() === b.name.toLowerCase()

/** Common qtypes, for logs. */
export const qtypeName = (t: number): string =>
  ({ 1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 65: "HTTPS", 255: "ANY" })[t] ??
  `TYPE${t}`
