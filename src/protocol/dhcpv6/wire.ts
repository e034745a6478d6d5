/**
 * DHCPv6 messages (RFC 8415 §8, §21) between client and server (no relay messages: a relay
 * on our virtual link is impossible). A message is a type, a 24-bit transaction id and a flat
 * list of options; IA_NA and IA Address carry nested options, read by `readIaNa`.
 *
 * Contract: `parseDhcpv6` checks every option length against the message once, never throws
 * and never copies (option data are views). Option builders return fresh bytes; `emitDhcpv6`
 * concatenates them in the order given (the order a reply uses is the server's choice).
 */
import { get16, get32, put16, put32 } from "../wire/bytes.ts"
import { encodeDnsName, readDnsName } from "../dns/name.ts"
import type { Ipv6 } from "../wire/ipv6-address.ts"

export const DHCPV6_CLIENT_PORT = 546
export const DHCPV6_SERVER_PORT = 547

export const SOLICIT = 1
export const ADVERTISE = 2
export const REQUEST = 3
export const CONFIRM = 4
export const RENEW = 5
export const REBIND = 6
export const REPLY = 7
export const RELEASE = 8
export const DECLINE = 9
export const INFORMATION_REQUEST = 11

export const OPTION_CLIENTID = 1
export const OPTION_SERVERID = 2
export const OPTION_IA_NA = 3
export const OPTION_IAADDR = 5
export const OPTION_ORO = 6
export const OPTION_PREFERENCE = 7
export const OPTION_ELAPSED_TIME = 8
export const OPTION_STATUS_CODE = 13
export const OPTION_RAPID_COMMIT = 14
export const OPTION_DNS_SERVERS = 23
export const OPTION_DOMAIN_LIST = 24
export const OPTION_INFORMATION_REFRESH_TIME = 32

/** RFC 8415 §21.13 status codes. */
export const STATUS_SUCCESS = 0
export const STATUS_NO_ADDRS_AVAIL = 2
export const STATUS_NOT_ON_LINK = 4

/** A client's DUID longer than this is refused (RFC 8415 §11.1: at most 128 octets plus type). */
export const DUID_MAX = 130

export interface Dhcpv6Option {
  readonly code: number
  readonly data: Uint8Array
}

export interface Dhcpv6Message {
  readonly msgType: number
  readonly transactionId: number
  readonly options: ReadonlyArray<Dhcpv6Option>
}

export type Dhcpv6Parse = { readonly ok: true; readonly msg: Dhcpv6Message } | { readonly ok: false; readonly reason: string }

type OptionsParse = { readonly ok: true; readonly options: ReadonlyArray<Dhcpv6Option> } | { readonly ok: false; readonly reason: string }

/** Reads code/length/data triples from `b[from..]`, each checked against the end. */
export const parseOptions6 = (b: Uint8Array, from: number): OptionsParse => {
  const options: Array<Dhcpv6Option> = []
  let o = from
  while (o < b.length) {
    if (b.length - o < 4) return { ok: false, reason: "dhcpv6: truncated option header" }
    const code = get16(b, o)
    const len = get16(b, o + 2)
    if (o + 4 + len > b.length) return { ok: false, reason: `dhcpv6: option ${code} of ${len} bytes runs past the message` }
    options.push({ code, data: b.subarray(o + 4, o + 4 + len) })
    o += 4 + len
  }
  return { ok: true, options }
}

export const parseDhcpv6 = (b: Uint8Array): Dhcpv6Parse => {
  if (b.length < 4) return { ok: false, reason: `dhcpv6: truncated (${b.length} bytes)` }
  const p = parseOptions6(b, 4)
  if (!p.ok) return p
  return { ok: true, msg: { msgType: b[0]!, transactionId: ((b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0, options: p.options } }
}

export const findOption = (options: ReadonlyArray<Dhcpv6Option>, code: number): Uint8Array | undefined => options.find((o) => o.code === code)?.data

export interface IaAddress {
  readonly address: Uint8Array
  readonly preferredLifetime: number
  readonly validLifetime: number
}

export interface IaNa {
  readonly iaid: number
  readonly t1: number
  readonly t2: number
  readonly addresses: ReadonlyArray<IaAddress>
}

/** RFC 8415 §21.4, §21.6: an IA_NA's fields and the addresses it holds; undefined if malformed. */
export const readIaNa = (data: Uint8Array): IaNa | undefined => {
  if (data.length < 12) return undefined
  const inner = parseOptions6(data, 12)
  if (!inner.ok) return undefined
  const addresses: Array<IaAddress> = []
  for (const o of inner.options) {
    if (o.code !== OPTION_IAADDR) continue
    if (o.data.length < 24) return undefined
    addresses.push({ address: o.data.subarray(0, 16), preferredLifetime: get32(o.data, 16), validLifetime: get32(o.data, 20) })
  }
  return { iaid: get32(data, 0), t1: get32(data, 4), t2: get32(data, 8), addresses }
}

/** RFC 8415 §21.7: the requested option codes. */
export const readOro = (data: Uint8Array): ReadonlyArray<number> => {
  const out: Array<number> = []
  for (let o = 0; o + 1 < data.length; o += 2) out.push(get16(data, o))
  return out
}

/** RFC 3646 §5 (RFC 8415 §21.24 keeps it): a domain search list of uncompressed names. */
export const readDomainList = (data: Uint8Array): ReadonlyArray<string> | undefined => {
  const out: Array<string> = []
  let o = 0
  while (o < data.length) {
    if (data[o]! >= 0xc0) return undefined // no compression in DHCPv6
    const r = readDnsName(data, o)
    if (r === undefined) return undefined
    out.push(r.name)
    o = r.next
  }
  return out
}

export const option6 = (code: number, data: Uint8Array): Uint8Array => {
  const o = new Uint8Array(4 + data.length)
  put16(o, 0, code)
  put16(o, 2, data.length)
  o.set(data, 4)
  return o
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

export const statusOption = (code: number, message: string): Uint8Array => {
  const text = new TextEncoder().encode(message)
  const d = new Uint8Array(2 + text.length)
  put16(d, 0, code)
  d.set(text, 2)
  return option6(OPTION_STATUS_CODE, d)
}

export const iaAddrOption = (address: Ipv6, preferred: number, valid: number, inner: ReadonlyArray<Uint8Array> = []): Uint8Array => {
  const d = new Uint8Array(24)
  d.set(address.subarray(0, 16), 0)
  put32(d, 16, preferred)
  put32(d, 20, valid)
  return option6(OPTION_IAADDR, concat([d, ...inner]))
}

export const iaNaOption = (iaid: number, t1: number, t2: number, inner: ReadonlyArray<Uint8Array>): Uint8Array => {
  const d = new Uint8Array(12)
  put32(d, 0, iaid)
  put32(d, 4, t1)
  put32(d, 8, t2)
  return option6(OPTION_IA_NA, concat([d, ...inner]))
}

export const dnsServersOption = (servers: ReadonlyArray<Ipv6>): Uint8Array => option6(OPTION_DNS_SERVERS, concat(servers.map((s) => s.subarray(0, 16))))

/** Undefined if a name cannot be encoded (the config was validated, so never in practice). */
export const domainListOption = (names: ReadonlyArray<string>): Uint8Array | undefined => {
  const enc = names.map(encodeDnsName)
  if (enc.some((e) => e === undefined)) return undefined
  return option6(OPTION_DOMAIN_LIST, concat(enc as ReadonlyArray<Uint8Array>))
}

export const u32Option = (code: number, v: number): Uint8Array => {
  const d = new Uint8Array(4)
  put32(d, 0, v)
  return option6(code, d)
}

export const emitDhcpv6 = (msgType: number, transactionId: number, options: ReadonlyArray<Uint8Array>): Uint8Array => {
  const head = Uint8Array.of(msgType, (transactionId >>> 16) & 0xff, (transactionId >>> 8) & 0xff, transactionId & 0xff)
  return concat([head, ...options])
}
