/**
 * Neighbor Discovery messages (RFC 4861 §4) and the options we read or send: source and
 * target link-layer address (§4.6.1), prefix information (§4.6.2), MTU (§4.6.4), nonce
 * (RFC 3971 §5.3.2, seen in DAD probes), RDNSS and DNSSL (RFC 8106 §5).
 *
 * Contract: `parseNdp` takes an ICMPv6 message whose checksum was checked (icmpv6/wire.ts) and
 * the IPv6 hop limit, applies the validity checks of RFC 4861 §6.1 and §7.1 (hop limit 255,
 * code 0, fixed length, option lengths; an option of length zero discards the message,
 * §4.6), and returns plain data with views into the message. Unknown options are skipped
 * (§4.6). Never throws, never copies. Emitters return the ICMPv6 message with its checksum
 * filled for the given source and destination.
 */
import { get16, get32, put16, put32 } from "../wire/bytes.ts"
import { encodeDnsName, readDnsName } from "../dns/name.ts"
import { sealIcmpv6 } from "../icmpv6/wire.ts"
import { type Ipv6, isMulticast6 } from "../wire/ipv6-address.ts"

export const ND_ROUTER_SOLICIT = 133
export const ND_ROUTER_ADVERT = 134
export const ND_NEIGHBOR_SOLICIT = 135
export const ND_NEIGHBOR_ADVERT = 136
export const ND_REDIRECT = 137

export const OPT_SOURCE_LINK_ADDR = 1
export const OPT_TARGET_LINK_ADDR = 2
export const OPT_PREFIX_INFO = 3
export const OPT_MTU = 5
export const OPT_NONCE = 14
export const OPT_RDNSS = 25
export const OPT_DNSSL = 31

/** RFC 4861 §4.6.2 flags. */
export const PREFIX_ON_LINK = 0x80
export const PREFIX_AUTONOMOUS = 0x40
/** RFC 4861 §4.2 flags: managed address configuration (DHCPv6), other configuration. */
export const RA_MANAGED = 0x80
export const RA_OTHER = 0x40
/** RFC 4861 §4.4 flags. */
export const NA_ROUTER = 0x80
export const NA_SOLICITED = 0x40
export const NA_OVERRIDE = 0x20

export interface PrefixInformation {
  readonly prefixLength: number
  readonly flags: number
  readonly validLifetime: number
  readonly preferredLifetime: number
  readonly prefix: Uint8Array
}

export interface NdOptions {
  readonly sourceLinkAddr: Uint8Array | undefined
  readonly targetLinkAddr: Uint8Array | undefined
  readonly prefixes: ReadonlyArray<PrefixInformation>
  readonly mtu: number | undefined
  readonly nonce: Uint8Array | undefined
  readonly rdnss: { readonly lifetime: number; readonly servers: ReadonlyArray<Uint8Array> } | undefined
  readonly dnssl: { readonly lifetime: number; readonly domains: ReadonlyArray<string> } | undefined
}

export type NdpMessage =
  | { readonly _tag: "RouterSolicitation"; readonly options: NdOptions }
  | {
      readonly _tag: "RouterAdvertisement"
      readonly curHopLimit: number
      readonly flags: number
      readonly routerLifetime: number
      readonly reachableTime: number
      readonly retransTimer: number
      readonly options: NdOptions
    }
  | { readonly _tag: "NeighborSolicitation"; readonly target: Uint8Array; readonly options: NdOptions }
  | { readonly _tag: "NeighborAdvertisement"; readonly flags: number; readonly target: Uint8Array; readonly options: NdOptions }

export type NdpParse = { readonly ok: true; readonly msg: NdpMessage } | { readonly ok: false; readonly reason: string }

const fail = (reason: string): NdpParse => ({ ok: false, reason: `ndp: ${reason}` })

/** Fixed part (ICMPv6 header included) of each message before its options. */
const FIXED: Record<number, number> = { [ND_ROUTER_SOLICIT]: 8, [ND_ROUTER_ADVERT]: 16, [ND_NEIGHBOR_SOLICIT]: 24, [ND_NEIGHBOR_ADVERT]: 24 }

export const isNdpType = (type: number): boolean => FIXED[type] !== undefined

type OptionsParse = { readonly ok: true; readonly options: NdOptions } | { readonly ok: false; readonly reason: string }

const parseOptions = (m: Uint8Array, from: number): OptionsParse => {
  let sourceLinkAddr: Uint8Array | undefined
  let targetLinkAddr: Uint8Array | undefined
  let mtu: number | undefined
  let nonce: Uint8Array | undefined
  let rdnss: NdOptions["rdnss"]
  let dnssl: NdOptions["dnssl"]
  const prefixes: Array<PrefixInformation> = []
  let o = from
  while (o < m.length) {
    if (m.length - o < 2) return { ok: false, reason: "truncated option" }
    const type = m[o]!
    const len = m[o + 1]! * 8
    // RFC 4861 §4.6: a zero length would loop forever; the whole message is discarded.
    if (len === 0) return { ok: false, reason: `option ${type} of length zero` }
    if (o + len > m.length) return { ok: false, reason: `option ${type} runs past the message` }
    const body = m.subarray(o + 2, o + len)
    switch (type) {
      case OPT_SOURCE_LINK_ADDR:
        // Ethernet: 6 bytes in an 8-byte option (RFC 2464 §8).
        sourceLinkAddr = body.subarray(0, 6)
        break
      case OPT_TARGET_LINK_ADDR:
        targetLinkAddr = body.subarray(0, 6)
        break
      case OPT_PREFIX_INFO:
        if (len !== 32) return { ok: false, reason: `prefix information of ${len} bytes` }
        prefixes.push({ prefixLength: body[0]!, flags: body[1]!, validLifetime: get32(body, 2), preferredLifetime: get32(body, 6), prefix: body.subarray(14, 30) })
        break
      case OPT_MTU:
        mtu = get32(body, 2)
        break
      case OPT_NONCE:
        nonce = body
        break
      case OPT_RDNSS: {
        if (len < 24 || (len - 8) % 16 !== 0) return { ok: false, reason: `RDNSS of ${len} bytes` }
        const servers: Array<Uint8Array> = []
        for (let a = 6; a < body.length; a += 16) servers.push(body.subarray(a, a + 16))
        rdnss = { lifetime: get32(body, 2), servers }
        break
      }
      case OPT_DNSSL: {
        // RFC 8106 §5.2: uncompressed names, zero padding to the 8-byte boundary.
        const names = body.subarray(6)
        const domains: Array<string> = []
        let p = 0
        while (p < names.length && names[p] !== 0) {
          const r = readDnsName(names, p)
          if (r === undefined || names[p]! >= 0xc0) return { ok: false, reason: "bad DNSSL name" }
          domains.push(r.name)
          p = r.next
        }
        dnssl = { lifetime: get32(body, 2), domains }
        break
      }
      default:
        break
    }
    o += len
  }
  return { ok: true, options: { sourceLinkAddr, targetLinkAddr, prefixes, mtu, nonce, rdnss, dnssl } }
}

/**
 * Parses an NDP message (`m`: the whole ICMPv6 message). `hopLimit` is the IPv6 header's:
 * RFC 4861 requires 255, proof that the message was not forwarded by a router.
 */
export const parseNdp = (m: Uint8Array, hopLimit: number): NdpParse => {
  const type = m[0]!
  const fixed = FIXED[type]
  if (fixed === undefined) return fail(`type ${type} is not NDP`)
  if (hopLimit !== 255) return fail(`type ${type} with hop limit ${hopLimit}`)
  if (m[1] !== 0) return fail(`type ${type} with code ${m[1]}`)
  if (m.length < fixed) return fail(`type ${type} truncated (${m.length} bytes)`)
  const p = parseOptions(m, fixed)
  if (!p.ok) return fail(p.reason)
  const options = p.options
  switch (type) {
    case ND_ROUTER_SOLICIT:
      return { ok: true, msg: { _tag: "RouterSolicitation", options } }
    case ND_ROUTER_ADVERT:
      return {
        ok: true,
        msg: { _tag: "RouterAdvertisement", curHopLimit: m[4]!, flags: m[5]!, routerLifetime: get16(m, 6), reachableTime: get32(m, 8), retransTimer: get32(m, 12), options },
      }
    case ND_NEIGHBOR_SOLICIT: {
      const target = m.subarray(8, 24)
      if (isMulticast6(target)) return fail("solicitation for a multicast target")
      return { ok: true, msg: { _tag: "NeighborSolicitation", target, options } }
    }
    default: {
      const target = m.subarray(8, 24)
      if (isMulticast6(target)) return fail("advertisement for a multicast target")
      return { ok: true, msg: { _tag: "NeighborAdvertisement", flags: m[4]!, target, options } }
    }
  }
}

const linkAddrOption = (type: number, mac: Uint8Array): Uint8Array => {
  const o = new Uint8Array(8)
  o[0] = type
  o[1] = 1
  o.set(mac.subarray(0, 6), 2)
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

/** A neighbor advertisement for `target` with the target link-layer option. */
export const emitNeighborAdvert = (flags: number, target: Ipv6, mac: Uint8Array, src: Ipv6, dst: Ipv6): Uint8Array => {
  const m = concat([new Uint8Array(24), linkAddrOption(OPT_TARGET_LINK_ADDR, mac)])
  m[0] = ND_NEIGHBOR_ADVERT
  m[4] = flags
  m.set(target.subarray(0, 16), 8)
  return sealIcmpv6(m, src, dst)
}

/** A neighbor solicitation for `target` with the source link-layer option. */
export const emitNeighborSolicit = (target: Ipv6, mac: Uint8Array, src: Ipv6, dst: Ipv6): Uint8Array => {
  const m = concat([new Uint8Array(24), linkAddrOption(OPT_SOURCE_LINK_ADDR, mac)])
  m[0] = ND_NEIGHBOR_SOLICIT
  m.set(target.subarray(0, 16), 8)
  return sealIcmpv6(m, src, dst)
}

export interface RouterAdvertFields {
  readonly curHopLimit: number
  readonly flags: number
  readonly routerLifetime: number
  readonly reachableTime: number
  readonly retransTimer: number
  readonly sourceLinkAddr: Uint8Array
  readonly prefixes: ReadonlyArray<PrefixInformation>
  readonly mtu: number | undefined
  readonly rdnss: NdOptions["rdnss"]
  readonly dnssl: NdOptions["dnssl"]
}

const prefixOption = (p: PrefixInformation): Uint8Array => {
  const o = new Uint8Array(32)
  o[0] = OPT_PREFIX_INFO
  o[1] = 4
  o[2] = p.prefixLength
  o[3] = p.flags
  put32(o, 4, p.validLifetime)
  put32(o, 8, p.preferredLifetime)
  o.set(p.prefix.subarray(0, 16), 16)
  return o
}

const mtuOption = (mtu: number): Uint8Array => {
  const o = new Uint8Array(8)
  o[0] = OPT_MTU
  o[1] = 1
  put32(o, 4, mtu)
  return o
}

const rdnssOption = (r: NonNullable<NdOptions["rdnss"]>): Uint8Array => {
  const o = new Uint8Array(8 + 16 * r.servers.length)
  o[0] = OPT_RDNSS
  o[1] = o.length / 8
  put32(o, 4, r.lifetime)
  r.servers.forEach((s, i) => o.set(s.subarray(0, 16), 8 + 16 * i))
  return o
}

/** RFC 8106 §5.2; undefined when a name cannot be encoded (the caller validated its config). */
export const dnsslOption = (d: NonNullable<NdOptions["dnssl"]>): Uint8Array | undefined => {
  const names: Array<Uint8Array> = []
  for (const n of d.domains) {
    const e = encodeDnsName(n)
    if (e === undefined) return undefined
    names.push(e)
  }
  const body = names.reduce((n, e) => n + e.length, 0)
  const o = new Uint8Array(8 + Math.ceil(body / 8) * 8)
  o[0] = OPT_DNSSL
  o[1] = o.length / 8
  put32(o, 4, d.lifetime)
  o.set(concat(names), 8)
  return o
}

/** A router advertisement with its options in the order Linux's radvd and dnsmasq use. */
export const emitRouterAdvert = (ra: RouterAdvertFields, src: Ipv6, dst: Ipv6): Uint8Array => {
  const head = new Uint8Array(16)
  head[0] = ND_ROUTER_ADVERT
  head[4] = ra.curHopLimit
  head[5] = ra.flags
  put16(head, 6, ra.routerLifetime)
  put32(head, 8, ra.reachableTime)
  put32(head, 12, ra.retransTimer)
  const parts: Array<Uint8Array> = [head, ...ra.prefixes.map(prefixOption)]
  if (ra.mtu !== undefined) parts.push(mtuOption(ra.mtu))
  parts.push(linkAddrOption(OPT_SOURCE_LINK_ADDR, ra.sourceLinkAddr))
  if (ra.dnssl !== undefined && ra.dnssl.domains.length > 0) {
    const d = dnsslOption(ra.dnssl)
    if (d !== undefined) parts.push(d)
  }
  if (ra.rdnss !== undefined && ra.rdnss.servers.length > 0) parts.push(rdnssOption(ra.rdnss))
  return sealIcmpv6(concat(parts), src, dst)
}
