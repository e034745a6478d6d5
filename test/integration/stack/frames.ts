/** Builders of guest frames for tests, and a decoder of the stack's frames (independent of src/ parsers where cheap). */
import { get16, get32, put16, put32 } from "../../../src/protocol/wire/bytes.ts"
import { checksum, finish, sum16 } from "../../../src/protocol/wire/checksum.ts"
import { type Ipv4, ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"

export const GUEST_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
export const GW_MAC = new Uint8Array([0x52, 0x55, 10, 0, 2, 2])
export const GUEST = ipv4(10, 0, 2, 15)
export const HOST = ipv4(10, 0, 2, 2)
export const DNS = ipv4(10, 0, 2, 3)

export const ether = (dst: Uint8Array, type: number, payload: Uint8Array, src: Uint8Array = GUEST_MAC): Uint8Array => {
  const f = new Uint8Array(14 + payload.length)
  f.set(dst, 0)
  f.set(src, 6)
  put16(f, 12, type)
  f.set(payload, 14)
  return f
}

export const arp = (op: number, sha: Uint8Array, spa: Ipv4, tha: Uint8Array, tpa: Ipv4): Uint8Array => {
  const a = new Uint8Array(28)
  put16(a, 0, 1)
  put16(a, 2, 0x0800)
  a[4] = 6
  a[5] = 4
  put16(a, 6, op)
  a.set(sha, 8)
  put32(a, 14, spa)
  a.set(tha, 18)
  put32(a, 24, tpa)
  return a
}

export interface IpOpts {
  readonly ttl?: number
  readonly id?: number
  readonly mf?: boolean
  readonly df?: boolean
  readonly fragOffset?: number
}

export const ipv4Packet = (src: Ipv4, dst: Ipv4, protocol: number, payload: Uint8Array, o: IpOpts = {}): Uint8Array => {
  const p = new Uint8Array(20 + payload.length)
  p[0] = 0x45
  put16(p, 2, p.length)
  put16(p, 4, o.id ?? 1)
  put16(p, 6, (o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.fragOffset ?? 0) >> 3))
  p[8] = o.ttl ?? 64
  p[9] = protocol
  put32(p, 12, src)
  put32(p, 16, dst)
  put16(p, 10, checksum(p, 0, 20))
  p.set(payload, 20)
  return p
}

export const udpSegment = (src: Ipv4, dst: Ipv4, sport: number, dport: number, data: Uint8Array): Uint8Array => {
  const u = new Uint8Array(8 + data.length)
  put16(u, 0, sport)
  put16(u, 2, dport)
  put16(u, 4, u.length)
  u.set(data, 8)
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + u.length
  const c = finish(sum16(u, 0, u.length, pseudo))
  put16(u, 6, c === 0 ? 0xffff : c)
  return u
}

export const icmpEcho = (type: number, ident: number, seq: number, data: Uint8Array): Uint8Array => {
  const m = new Uint8Array(8 + data.length)
  m[0] = type
  put16(m, 4, ident)
  put16(m, 6, seq)
  m.set(data, 8)
  put16(m, 2, checksum(m, 0, m.length))
  return m
}

export const udpFrame = (src: Ipv4, dst: Ipv4, sport: number, dport: number, data: Uint8Array, o: IpOpts = {}, dstMac = GW_MAC) =>
  ether(dstMac, 0x0800, ipv4Packet(src, dst, 17, udpSegment(src, dst, sport, dport, data), o))

export const pingFrame = (dst: Ipv4, ident: number, seq: number, data: Uint8Array, o: IpOpts = {}) =>
  ether(GW_MAC, 0x0800, ipv4Packet(GUEST, dst, 1, icmpEcho(8, ident, seq, data), o))

/** Decoded frame from the stack (checks the IP header checksum and the transport checksum). */
export interface Decoded {
  readonly dstMac: Uint8Array
  readonly srcMac: Uint8Array
  readonly ethertype: number
  readonly ip?: {
    readonly src: Ipv4
    readonly dst: Ipv4
    readonly protocol: number
    readonly ttl: number
    readonly id: number
    readonly mf: boolean
    readonly fragOffset: number
    readonly headerOk: boolean
    readonly payload: Uint8Array
  }
}

export const decode = (f: Uint8Array): Decoded => {
  const ethertype = get16(f, 12)
  const base = { dstMac: f.subarray(0, 6), srcMac: f.subarray(6, 12), ethertype }
  if (ethertype !== 0x0800) return base
  const ihl = (f[14]! & 15) * 4
  const total = get16(f, 16)
  const fl = get16(f, 20)
  return {
    ...base,
    ip: {
      src: get32(f, 26),
      dst: get32(f, 30),
      protocol: f[23]!,
      ttl: f[22]!,
      id: get16(f, 18),
      mf: (fl & 0x2000) !== 0,
      fragOffset: (fl & 0x1fff) * 8,
      headerOk: checksum(f, 14, 14 + ihl) === 0,
      payload: f.subarray(14 + ihl, 14 + total),
    },
  }
}

/** Verifies a UDP segment's checksum over the pseudo header. */
export const udpChecksumOk = (src: Ipv4, dst: Ipv4, seg: Uint8Array): boolean => {
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + seg.length
  return finish(sum16(seg, 0, seg.length, pseudo)) === 0
}

export const bytes = (s: string) => new TextEncoder().encode(s)
