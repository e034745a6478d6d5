/**
 * The guest side's packet codecs, written for the test (independent of src/protocol parsers,
 * so the stack is checked by a second implementation): Ethernet, ARP, IPv4, UDP, ICMP echo,
 * DHCP (RFC 2131/2132) and TCP (RFC 9293) headers. Only the shared checksum and byte helpers
 * come from src/protocol/wire.
 */
import { get16, get32, put16, put32 } from "../../../src/protocol/wire/bytes.ts"
import { checksum, finish, sum16 } from "../../../src/protocol/wire/checksum.ts"

export const ETH_ARP = 0x0806
export const ETH_IPV4 = 0x0800
export const PROTO_ICMP = 1
export const PROTO_TCP = 6
export const PROTO_UDP = 17
export const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])

export const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
export const fmtIp = (v: number): string => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`

export const ether = (dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array => {
  const f = new Uint8Array(14 + payload.length)
  f.set(dst, 0)
  f.set(src, 6)
  put16(f, 12, type)
  f.set(payload, 14)
  return f
}

export interface EthView {
  readonly dst: Uint8Array
  readonly src: Uint8Array
  readonly type: number
  readonly payload: Uint8Array
}

export const parseEther = (f: Uint8Array): EthView | undefined =>
  f.length < 14 ? undefined : { dst: f.subarray(0, 6), src: f.subarray(6, 12), type: get16(f, 12), payload: f.subarray(14) }

// ---- ARP (RFC 826)

export const arpPacket = (op: 1 | 2, sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number): Uint8Array => {
  const a = new Uint8Array(28)
  put16(a, 0, 1)
  put16(a, 2, ETH_IPV4)
  a[4] = 6
  a[5] = 4
  put16(a, 6, op)
  a.set(sha, 8)
  put32(a, 14, spa)
  a.set(tha, 18)
  put32(a, 24, tpa)
  return a
}

export interface ArpView {
  readonly op: number
  readonly sha: Uint8Array
  readonly spa: number
  readonly tpa: number
}

export const parseArp = (p: Uint8Array): ArpView | undefined =>
  p.length < 28 ? undefined : { op: get16(p, 6), sha: p.slice(8, 14), spa: get32(p, 14), tpa: get32(p, 24) }

// ---- IPv4 (RFC 791)

let nextId = 1

export const ipv4Packet = (src: number, dst: number, protocol: number, payload: Uint8Array, ttl = 64): Uint8Array => {
  const p = new Uint8Array(20 + payload.length)
  p[0] = 0x45
  put16(p, 2, p.length)
  put16(p, 4, nextId++ & 0xffff)
  put16(p, 6, 0x4000) // DF
  p[8] = ttl
  p[9] = protocol
  put32(p, 12, src)
  put32(p, 16, dst)
  put16(p, 10, checksum(p, 0, 20))
  p.set(payload, 20)
  return p
}

export interface Ipv4View {
  readonly src: number
  readonly dst: number
  readonly protocol: number
  readonly payload: Uint8Array
}

export const parseIpv4 = (p: Uint8Array): Ipv4View | undefined => {
  if (p.length < 20 || p[0]! >> 4 !== 4) return undefined
  const ihl = (p[0]! & 0xf) * 4
  const total = get16(p, 2)
  if (ihl < 20 || total < ihl || total > p.length) return undefined
  if (checksum(p, 0, ihl) !== 0) return undefined
  if ((get16(p, 6) & 0x3fff) !== 0) return undefined // fragments are not expected here
  return { src: get32(p, 12), dst: get32(p, 16), protocol: p[9]!, payload: p.subarray(ihl, total) }
}

const pseudoSum = (src: number, dst: number, protocol: number, length: number): number =>
  (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length

// ---- UDP (RFC 768)

export const udpDatagram = (src: number, dst: number, sport: number, dport: number, data: Uint8Array): Uint8Array => {
  const u = new Uint8Array(8 + data.length)
  put16(u, 0, sport)
  put16(u, 2, dport)
  put16(u, 4, u.length)
  u.set(data, 8)
  const c = finish(sum16(u, 0, u.length, pseudoSum(src, dst, PROTO_UDP, u.length)))
  put16(u, 6, c === 0 ? 0xffff : c)
  return u
}

export interface UdpView {
  readonly sport: number
  readonly dport: number
  readonly data: Uint8Array
}

export const parseUdp = (p: Uint8Array): UdpView | undefined => {
  if (p.length < 8) return undefined
  const len = get16(p, 4)
  if (len < 8 || len > p.length) return undefined
  return { sport: get16(p, 0), dport: get16(p, 2), data: p.subarray(8, len) }
}

// ---- ICMP echo (RFC 792)

export const icmpEcho = (type: 0 | 8, ident: number, seq: number, data: Uint8Array): Uint8Array => {
  const m = new Uint8Array(8 + data.length)
  m[0] = type
  put16(m, 4, ident)
  put16(m, 6, seq)
  m.set(data, 8)
  put16(m, 2, checksum(m, 0, m.length))
  return m
}

export interface EchoView {
  readonly type: number
  readonly ident: number
  readonly seq: number
  readonly data: Uint8Array
  readonly checksumOk: boolean
}

export const parseEcho = (m: Uint8Array): EchoView | undefined =>
  m.length < 8 ? undefined : { type: m[0]!, ident: get16(m, 4), seq: get16(m, 6), data: m.subarray(8), checksumOk: checksum(m, 0, m.length) === 0 }

// ---- DHCP (RFC 2131, options RFC 2132)

export const DHCPDISCOVER = 1
export const DHCPOFFER = 2
export const DHCPREQUEST = 3
export const DHCPACK = 5
const MAGIC_COOKIE = 0x63825363

export const dhcpMessage = (type: number, xid: number, mac: Uint8Array, options: ReadonlyArray<readonly [number, Uint8Array]>): Uint8Array => {
  const opts: Array<number> = [53, 1, type]
  for (const [code, value] of options) opts.push(code, value.length, ...value)
  opts.push(55, 3, 1, 3, 6) // parameter request list: subnet mask, router, DNS
  opts.push(255)
  const m = new Uint8Array(240 + opts.length)
  m[0] = 1 // BOOTREQUEST
  m[1] = 1 // Ethernet
  m[2] = 6
  put32(m, 4, xid)
  put16(m, 10, 0x8000) // broadcast flag: we have no address yet
  m.set(mac, 28)
  put32(m, 236, MAGIC_COOKIE)
  m.set(opts, 240)
  return m
}

export interface DhcpView {
  readonly op: number
  readonly xid: number
  readonly yiaddr: number
  readonly type: number | undefined
  readonly options: ReadonlyMap<number, Uint8Array>
}

export const parseDhcp = (m: Uint8Array): DhcpView | undefined => {
  if (m.length < 240 || get32(m, 236) !== MAGIC_COOKIE) return undefined
  const options = new Map<number, Uint8Array>()
  let i = 240
  while (i < m.length) {
    const code = m[i]!
    if (code === 255) break
    if (code === 0) {
      i++
      continue
    }
    if (i + 2 > m.length) return undefined
    const len = m[i + 1]!
    if (i + 2 + len > m.length) return undefined
    options.set(code, m.slice(i + 2, i + 2 + len))
    i += 2 + len
  }
  const t = options.get(53)
  return { op: m[0]!, xid: get32(m, 4), yiaddr: get32(m, 16), type: t?.[0], options }
}

export const optIp = (v: Uint8Array | undefined): number | undefined => (v === undefined || v.length < 4 ? undefined : get32(v, 0))

export const ipBytes = (v: number): Uint8Array => {
  const b = new Uint8Array(4)
  put32(b, 0, v)
  return b
}

// ---- TCP (RFC 9293 §3.1)

export const TCP_FIN = 0x01
export const TCP_SYN = 0x02
export const TCP_RST = 0x04
export const TCP_PSH = 0x08
export const TCP_ACK = 0x10

export interface TcpSegment {
  readonly sport: number
  readonly dport: number
  readonly seq: number
  readonly ack: number
  readonly flags: number
  readonly window: number
  readonly mss?: number
  readonly data: Uint8Array
}

export const tcpSegment = (src: number, dst: number, s: TcpSegment): Uint8Array => {
  const optLen = s.mss === undefined ? 0 : 4
  const hl = 20 + optLen
  const t = new Uint8Array(hl + s.data.length)
  put16(t, 0, s.sport)
  put16(t, 2, s.dport)
  put32(t, 4, s.seq >>> 0)
  put32(t, 8, s.ack >>> 0)
  t[12] = (hl / 4) << 4
  t[13] = s.flags
  put16(t, 14, s.window)
  if (s.mss !== undefined) {
    t[20] = 2 // MSS
    t[21] = 4
    put16(t, 22, s.mss)
  }
  t.set(s.data, hl)
  put16(t, 16, finish(sum16(t, 0, t.length, pseudoSum(src, dst, PROTO_TCP, t.length))))
  return t
}

export const parseTcp = (src: number, dst: number, t: Uint8Array): (TcpSegment & { readonly checksumOk: boolean }) | undefined => {
  if (t.length < 20) return undefined
  const hl = (t[12]! >> 4) * 4
  if (hl < 20 || hl > t.length) return undefined
  let mss: number | undefined
  for (let i = 20; i < hl; ) {
    const kind = t[i]!
    if (kind === 0) break
    if (kind === 1) {
      i++
      continue
    }
    const len = t[i + 1] ?? 0
    if (len < 2 || i + len > hl) break
    if (kind === 2 && len === 4) mss = get16(t, i + 2)
    i += len
  }
  const checksumOk = finish(sum16(t, 0, t.length, pseudoSum(src, dst, PROTO_TCP, t.length))) === 0
  return {
    sport: get16(t, 0),
    dport: get16(t, 2),
    seq: get32(t, 4),
    ack: get32(t, 8),
    flags: t[13]!,
    window: get16(t, 14),
    ...(mss === undefined ? {} : { mss }),
    data: t.subarray(hl),
    checksumOk,
  }
}
