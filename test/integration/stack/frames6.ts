/** Builders of IPv6 guest frames for tests, and a small decoder of the stack's IPv6 frames. */
import { sealIcmpv6 } from "../../../src/protocol/icmpv6/wire.ts"
import { get16, get32, put16, put32 } from "../../../src/protocol/wire/bytes.ts"
import { finish, sum16, sumIpv6Pseudo } from "../../../src/protocol/wire/checksum.ts"
import { type Ipv6, formatIpv6, parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { GUEST_MAC, ether } from "./frames.ts"

export const a6 = (s: string): Ipv6 => {
  const a = parseIpv6(s)
  if (a === undefined) throw new Error(`bad address ${s}`)
  return a
}

/** The guest as Linux configures it from our RA (EUI-64 of 52:54:00:12:34:56). */
export const GUEST6 = a6("fec0::5054:ff:fe12:3456")
export const GUEST6_LL = a6("fe80::5054:ff:fe12:3456")
export const HOST6 = a6("fec0::2")
export const HOST6_LL = a6("fe80::2")
export const DNS6 = a6("fec0::3")
export const DNS6_LL = a6("fe80::3")

export const ETHERTYPE_IPV6 = 0x86dd

/** A whole IPv6 datagram: fixed header (next header `nh`) and `payload`. */
export const ipv6Packet = (src: Ipv6, dst: Ipv6, nh: number, payload: Uint8Array, hopLimit = 64): Uint8Array => {
  const p = new Uint8Array(40 + payload.length)
  p[0] = 0x60
  put16(p, 4, payload.length)
  p[6] = nh
  p[7] = hopLimit
  p.set(src, 8)
  p.set(dst, 24)
  p.set(payload, 40)
  return p
}

export const ipv6Frame = (src: Ipv6, dst: Ipv6, nh: number, payload: Uint8Array, hopLimit = 64, dstMac: Uint8Array = new Uint8Array([0x52, 0x55, 10, 0, 2, 2]), srcMac: Uint8Array = GUEST_MAC): Uint8Array =>
  ether(dstMac, ETHERTYPE_IPV6, ipv6Packet(src, dst, nh, payload, hopLimit), srcMac)

/** An ICMPv6 message (type, code, bytes 4.. as given) sealed for src -> dst, in a frame. */
export const icmpv6Frame = (src: Ipv6, dst: Ipv6, type: number, rest: Uint8Array, hopLimit = 64, dstMac: Uint8Array = new Uint8Array([0x52, 0x55, 10, 0, 2, 2])): Uint8Array => {
  const m = new Uint8Array(4 + rest.length)
  m[0] = type
  m.set(rest, 4)
  return ipv6Frame(src, dst, 58, sealIcmpv6(m, src, dst), hopLimit, dstMac)
}

export const sllOption = (mac: Uint8Array = GUEST_MAC): Uint8Array => Uint8Array.of(1, 1, ...mac)

export interface Decoded6 {
  readonly dstMac: string
  readonly srcMac: string
  readonly src: string
  readonly dst: string
  readonly nh: number
  readonly hopLimit: number
  readonly payload: Uint8Array
  /** For ICMPv6 / UDP / TCP: does the checksum over the pseudo header verify? */
  readonly checksumOk: boolean
}

const mac = (f: Uint8Array, o: number) => Array.from(f.subarray(o, o + 6), (b) => b.toString(16).padStart(2, "0")).join(":")

/** Decodes a frame of ours (no extension headers), independently of src/'s parser. */
export const decode6 = (f: Uint8Array): Decoded6 => {
  if (get16(f, 12) !== ETHERTYPE_IPV6) throw new Error("not IPv6")
  const len = get16(f, 18)
  const payload = f.subarray(54, 54 + len)
  const nh = f[20]!
  const ok = nh === 58 || nh === 17 || nh === 6 ? finish(sum16(payload, 0, len, sumIpv6Pseudo(0, f, 22, f, 38, len, nh))) === 0 : true
  return { dstMac: mac(f, 0), srcMac: mac(f, 6), src: formatIpv6(f, 22), dst: formatIpv6(f, 38), nh, hopLimit: f[21]!, payload, checksumOk: ok }
}

/** A UDP datagram from the guest over IPv6, checksum over the IPv6 pseudo header. */
export const udp6Frame = (src: Ipv6, dst: Ipv6, sport: number, dport: number, data: Uint8Array, hopLimit = 64, zeroChecksum = false): Uint8Array => {
  const u = new Uint8Array(8 + data.length)
  put16(u, 0, sport)
  put16(u, 2, dport)
  put16(u, 4, u.length)
  u.set(data, 8)
  if (!zeroChecksum) {
    const c = finish(sum16(u, 0, u.length, sumIpv6Pseudo(0, src, 0, dst, 0, u.length, 17)))
    put16(u, 6, c === 0 ? 0xffff : c)
  }
  return ipv6Frame(src, dst, 17, u, hopLimit)
}

/** A TCP segment from the guest over IPv6 (header fields as given, no options unless `mss`), checksum over the IPv6 pseudo header. */
export const tcp6Frame = (
  src: Ipv6,
  dst: Ipv6,
  t: { readonly sport: number; readonly dport: number; readonly seq: number; readonly ack?: number; readonly flags: number; readonly window?: number; readonly mss?: number },
  data: Uint8Array = new Uint8Array(0),
): Uint8Array => {
  const hl = t.mss === undefined ? 20 : 24
  const seg = new Uint8Array(hl + data.length)
  put16(seg, 0, t.sport)
  put16(seg, 2, t.dport)
  put32(seg, 4, t.seq >>> 0)
  put32(seg, 8, (t.ack ?? 0) >>> 0)
  seg[12] = (hl / 4) << 4
  seg[13] = t.flags
  put16(seg, 14, t.window ?? 65535)
  if (t.mss !== undefined) {
    seg[20] = 2
    seg[21] = 4
    put16(seg, 22, t.mss)
  }
  seg.set(data, hl)
  put16(seg, 16, finish(sum16(seg, 0, seg.length, sumIpv6Pseudo(0, src, 0, dst, 0, seg.length, 6))))
  return ipv6Frame(src, dst, 6, seg)
}

/** The fields of a TCP segment in a decoded frame (no options beyond MSS read). */
export const tcpFields = (payload: Uint8Array) => {
  const hl = (payload[12]! >> 4) * 4
  let mss: number | undefined
  for (let i = 20; i < hl; ) {
    const kind = payload[i]!
    if (kind === 0) break
    if (kind === 1) {
      i++
      continue
    }
    if (kind === 2) mss = get16(payload, i + 2)
    i += Math.max(2, payload[i + 1]!)
  }
  return { sport: get16(payload, 0), dport: get16(payload, 2), seq: get32(payload, 4), ack: get32(payload, 8), flags: payload[13]!, data: payload.subarray(hl), mss }
}
