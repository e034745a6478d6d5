/**
 * Hostile IPv6 frames through the whole stack reducer, as test/unit/ipv4/stack-fuzz.test.ts
 * does for IPv4: mutations of the IPv6 golden frames and of crafted ones (extension header
 * chains, NDP with zero-length options, fragment floods, TCP segments), checksums fixed up half
 * the time so the deeper layers are reached, and random bytes. The reducer must never throw;
 * whatever it sends the guest must be well formed (Ethernet minimum, the MTU, a valid IPv6
 * header, valid ICMPv6, UDP and TCP checksums, NDP with hop limit 255); timers are never in the past; the
 * bounded tables stay within their bounds.
 */
import { describe, expect, it } from "vitest"
import { golden6 } from "../../golden/ipv6/golden6.ts"
import type { StackEffect } from "../../../src/effects/effect.ts"
import { type TimerId, timerKey } from "../../../src/effects/ids.ts"
import { type Instant, instant } from "../../../src/effects/instant.ts"
import { ETHERTYPE_ARP, ETHERTYPE_IPV6, ETH_MIN_FRAME } from "../../../src/protocol/ethernet/wire.ts"
import { parseIcmpv6 } from "../../../src/protocol/icmpv6/wire.ts"
import { REASS_MAX_BYTES, REASS_MAX_DATAGRAMS } from "../../../src/protocol/ipv4/reassembly.ts"
import { NH_DEST_OPTIONS, NH_FRAGMENT, NH_HOP_BY_HOP, NH_ICMPV6, NH_ROUTING, NH_TCP, NH_UDP, parseIpv6Header } from "../../../src/protocol/ipv6/wire.ts"
import { parseTcp } from "../../../src/protocol/tcp/wire.ts"
import { NDP_PENDING_MAX_ADDRESSES, NDP_CACHE_MAX } from "../../../src/protocol/ndp/neighbors.ts"
import { isNdpType } from "../../../src/protocol/ndp/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { type StackState, createStack, reduce as rawReduce } from "../../../src/protocol/stack/stack.ts"
import { parseUdp6 } from "../../../src/protocol/udp/wire.ts"
import { get16, put16, put32 } from "../../../src/protocol/wire/bytes.ts"
import { finish, sum16, sumIpv6Pseudo } from "../../../src/protocol/wire/checksum.ts"
import { parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { type Rng, rng } from "../wire/prng.ts"
import { checkedStackReduce } from "../../support/checked.ts"

// Every event goes through the referential-transparency harness (test/support/checked.ts).
const reduce = checkedStackReduce(rawReduce)

const GUEST = parseIpv6("fec0::5054:ff:fe12:3456")!
const GW = parseIpv6("fec0::2")!
const MAC = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56)

/** A frame from the guest: the fixed header, `chain` of extension headers ([nh, bytes]), then `upper`. */
const crafted = (chain: ReadonlyArray<readonly [number, Uint8Array]>, upperNh: number, upper: Uint8Array, dst: Uint8Array = GW, hopLimit = 64): Uint8Array => {
  const len = chain.reduce((n, [, b]) => n + b.length, 0) + upper.length
  const f = new Uint8Array(54 + len)
  f.set([0x52, 0x55, 10, 0, 2, 2], 0)
  f.set(MAC, 6)
  put16(f, 12, ETHERTYPE_IPV6)
  f[14] = 0x60
  put16(f, 18, len)
  f[20] = chain[0]?.[0] ?? upperNh
  f[21] = hopLimit
  f.set(GUEST, 22)
  f.set(dst, 38)
  let o = 54
  chain.forEach(([, h], i) => {
    f.set(h, o)
    f[o] = chain[i + 1]?.[0] ?? upperNh
    o += h.length
  })
  f.set(upper, o)
  return f
}
const opts = (n8: number) => {
  const h = new Uint8Array(8 * n8)
  h[1] = n8 - 1
  return h
}
const frag = (offset: number, more: boolean, id: number) => {
  const h = new Uint8Array(8)
  put16(h, 2, offset | (more ? 1 : 0))
  put32(h, 4, id)
  return h
}
const icmp = (type: number, rest: ReadonlyArray<number>) => Uint8Array.from([type, 0, 0, 0, ...rest])

const SEEDS: ReadonlyArray<readonly [string, Uint8Array]> = [
  ...["ndp-dad-ns", "ndp-rs", "ndp-ra", "mld-report", "ndp-ns", "ndp-na", "icmpv6-echo-request", "udp6-request", "ipv6-dstopts", "icmpv6-port-unreachable",
    "frag6-request-1", "frag6-request-3", "dhcpv6-solicit", "dhcpv6-information-request", "dhcpv6-request", "tcp6-syn", "tcp6-data"].map((n) => [n, golden6(n)] as const),
  ["chain", crafted([[NH_HOP_BY_HOP, opts(1)], [NH_DEST_OPTIONS, opts(2)], [NH_ROUTING, opts(1)], [NH_DEST_OPTIONS, opts(1)]], NH_ICMPV6, icmp(128, [0, 1, 0, 1, 9, 9]))],
  ["rs-zero-option", crafted([], NH_ICMPV6, icmp(133, [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), parseIpv6("ff02::2")!, 255)],
  ["ns-gw", crafted([], NH_ICMPV6, icmp(135, [0, 0, 0, 0, ...GW, 1, 1, ...MAC]), parseIpv6("ff02::1:ff00:2")!, 255)],
  ["frag-first", crafted([[NH_FRAGMENT, frag(0, true, 77)]], NH_ICMPV6, icmp(128, [0, 1, 0, 1, ...new Array<number>(1000).fill(7)]))],
  ["frag-last", crafted([[NH_FRAGMENT, frag(1008, false, 77)]], NH_ICMPV6, new Uint8Array(500).fill(7))],
  ["udp-dns", crafted([], NH_UDP, Uint8Array.of(0x9c, 0x40, 0, 53, 0, 29, 0, 0, 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x66, 0x6f, 0x6f, 0, 0, 28, 0, 1), parseIpv6("fec0::3")!)],
]

/** Recomputes the upper-layer checksum when there are no extension headers and the datagram is whole. */
const fixChecksums = (f: Uint8Array): void => {
  if (f.length < 62 || get16(f, 12) !== ETHERTYPE_IPV6) return
  const len = get16(f, 18)
  if (54 + len > f.length) return
  const nh = f[20]
  const off = nh === NH_ICMPV6 ? 2 : nh === NH_UDP ? 6 : nh === NH_TCP ? 16 : -1
  if (off < 0 || len < off + 2) return
  put16(f, 54 + off, 0)
  if (nh === NH_UDP) put16(f, 58, len)
  const c = finish(sum16(f, 54, 54 + len, sumIpv6Pseudo(0, f, 22, f, 38, len, nh!)))
  put16(f, 54 + off, c === 0 && nh === NH_UDP ? 0xffff : c)
}

const mutate = (r: Rng, seed: Uint8Array): Uint8Array => {
  let f: Uint8Array = seed.slice()
  const n = r.int(1, 4)
  for (let k = 0; k < n; k++) {
    switch (r.int(0, 7)) {
      case 0:
        if (f.length > 0) f[r.int(0, f.length - 1)]! ^= 1 << r.int(0, 7)
        break
      case 1:
        f = f.subarray(0, r.int(0, f.length))
        break
      case 2:
        f = Uint8Array.from([...f, ...r.bytes(r.int(1, 40))])
        break
      case 3: // a byte of the fixed header: version, lengths, next header, hop limit, addresses
        if (f.length > 54) f[14 + [0, 4, 5, 6, 7, 23, 39][r.int(0, 6)]!] = r.int(0, 255)
        break
      case 4: // next header to an extension header kind
        if (f.length > 54) f[20] = [NH_HOP_BY_HOP, NH_ROUTING, NH_FRAGMENT, NH_DEST_OPTIONS, NH_ICMPV6, NH_UDP, NH_TCP, 59][r.int(0, 7)]!
        break
      case 5: // a byte of the upper layer / first extension header (lengths, NDP option lengths)
        if (f.length > 62) f[54 + r.int(0, Math.min(40, f.length - 55))] = r.int(0, 3) === 0 ? 0 : r.int(0, 255)
        break
      case 6: // a fragment with a random id and offset (fragment flood)
        f = crafted([[NH_FRAGMENT, frag(r.int(0, 8000) * 8, r.int(0, 3) !== 0, r.int(0, 0xffffffff))]], NH_ICMPV6, r.bytes(8 * r.int(1, 100)))
        break
      default:
        if (f.length >= 14) put16(f, 12, r.int(0, 5) === 0 ? r.int(0, 0xffff) : ETHERTYPE_IPV6)
    }
  }
  if (r.int(0, 1) === 0) fixChecksums(f)
  return f
}

/** TCP segments the stack sent the guest, across a run (so the fuzz shows it reached TCP). */
let tcpAnswers = 0

const checkOutput = (fx: ReadonlyArray<StackEffect>, now: Instant, mtu: number, why: string): Array<TimerId> => {
  const timers: Array<TimerId> = []
  for (const e of fx) {
    if (e._tag === "SetTimer") {
      if (e.at < now) throw new Error(`${why}: timer ${timerKey(e.timer)} armed in the past`)
      timers.push(e.timer)
    }
    if (e._tag !== "DeliverFrame") continue
    const f = e.frame
    if (f.length < ETH_MIN_FRAME) throw new Error(`${why}: runt frame of ${f.length} bytes`)
    if (f.length > 14 + mtu) throw new Error(`${why}: ${f.length}-byte frame exceeds the MTU`)
    const type = get16(f, 12)
    if (type === ETHERTYPE_ARP) continue
    if (type !== ETHERTYPE_IPV6) throw new Error(`${why}: ethertype ${type.toString(16)} for IPv6 input`)
    const p = parseIpv6Header(f, 14)
    if (!p.ok) throw new Error(`${why}: bad IPv6 to the guest: ${p.reason}`)
    const ip = p.ip
    if (ip.fragment !== undefined) continue
    const up = f.subarray(ip.upperOffset, ip.upperOffset + ip.upperLength)
    if (ip.protocol === NH_ICMPV6) {
      const m = parseIcmpv6(up, f, ip.srcOffset, f, ip.dstOffset)
      if (!m.ok) throw new Error(`${why}: bad ICMPv6 to the guest: ${m.reason}`)
      if (isNdpType(m.icmp.type) && ip.hopLimit !== 255) throw new Error(`${why}: NDP with hop limit ${ip.hopLimit}`)
    } else if (ip.protocol === NH_UDP) {
      const u = parseUdp6(up, f, ip.srcOffset, ip.dstOffset)
      if (!u.ok) throw new Error(`${why}: bad UDP to the guest: ${u.reason}`)
    } else if (ip.protocol === NH_TCP) {
      const t = parseTcp(up, f.subarray(ip.srcOffset, ip.srcOffset + 16), f.subarray(ip.dstOffset, ip.dstOffset + 16))
      if (!t.ok) throw new Error(`${why}: bad TCP to the guest: ${t.reason}`)
      tcpAnswers++
    } else throw new Error(`${why}: next header ${ip.protocol} to the guest`)
  }
  return timers
}

describe("stack fuzz: hostile IPv6 frames through the reducer", () => {
  it("seed frames unmodified are handled and every answer is well formed", () => {
    let s: StackState = createStack({ ...defaultConfig, dnsSearch: ["example.test"] }, instant(0))
    for (const [name, f] of SEEDS) {
      const [s1, fx] = reduce(s, { _tag: "FrameFromGuest", now: instant(1000), frame: f.slice() })
      checkOutput(fx, instant(1000), defaultConfig.mtu, name)
      s = s1
    }
  })

  for (const [label, config, seed] of [
    ["MTU 1500", defaultConfig, 0x86dd],
    ["MTU 1280", { ...defaultConfig, mtu: 1280 }, 0x1280],
  ] as const) {
    it(`stack fuzz (${label}): 20000 mutated and random IPv6 frames never throw, answers stay well formed, tables stay bounded (seeded)`, () => {
      const r = rng(seed)
      let s: StackState = createStack(config, instant(0))
      let now = 0
      let timers: Array<TimerId> = []
      let delivered = 0
      tcpAnswers = 0
      for (let n = 0; n < 20000; n++) {
        now += r.int(0, 300)
        const t = instant(now)
        let fx: ReadonlyArray<StackEffect>
        let why: string
        if (timers.length > 0 && r.int(0, 20) === 0) {
          const timer = timers.splice(r.int(0, timers.length - 1), 1)[0]!
          why = `case ${n}: timer ${timerKey(timer)}`
          ;[s, fx] = reduce(s, { _tag: "TimerFired", now: t, timer })
        } else {
          const frame = r.int(0, 9) === 0 ? r.bytes(r.int(0, 200)) : mutate(r, SEEDS[r.int(0, SEEDS.length - 1)]![1])
          why = `case ${n}`
          ;[s, fx] = reduce(s, { _tag: "FrameFromGuest", now: t, frame })
        }
        timers = [...timers, ...checkOutput(fx, t, config.mtu, `seed ${seed} ${why}`)].slice(-200)
        delivered += fx.filter((e) => e._tag === "DeliverFrame").length
        if (s.reassembly6.datagrams.size > REASS_MAX_DATAGRAMS || s.reassembly6.bytes > REASS_MAX_BYTES) throw new Error(`${why}: reassembly over its bounds`)
        if (s.ipv6.neighbors.pending.size > NDP_PENDING_MAX_ADDRESSES || s.ipv6.neighbors.cache.size > NDP_CACHE_MAX) throw new Error(`${why}: NDP over its bounds`)
      }
      expect(delivered).toBeGreaterThan(500)
      // RSTs answering mutated segments: the TCP layer was reached over IPv6.
      expect(tcpAnswers).toBeGreaterThan(10)
    })
  }
})
