/**
 * Hostile frames through the whole stack reducer: mutations of the golden frames (bit flips,
 * truncation, extension, field rewrites with the checksums fixed up so the deeper layers are
 * reached) and random bytes. The reducer must never throw, and whatever it sends to the guest
 * must itself be well formed: Ethernet minimum size, valid IPv4 header, valid ICMP and UDP
 * checksums, valid ARP. Timers it arms are never in the past.
 */
import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { TimerId } from "../../../src/effects/ids.ts"
import { type Instant, instant } from "../../../src/effects/instant.ts"
import { parseArp } from "../../../src/protocol/ethernet/arp-wire.ts"
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_MIN_FRAME } from "../../../src/protocol/ethernet/wire.ts"
import { parseIcmp } from "../../../src/protocol/icmp/wire.ts"
import { PROTO_ICMP, PROTO_UDP, parseIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { type StackState, createStack, reduce as reduceUnchecked } from "../../../src/protocol/stack/stack.ts"
import { checked } from "../../support/referential.ts"

/** Every event goes through the referential-transparency harness (frozen state, reduced twice, results compared). */
const reduce = checked(reduceUnchecked)
import { parseUdp } from "../../../src/protocol/udp/wire.ts"
import { get16, put16 } from "../../../src/protocol/wire/bytes.ts"
import { checksum, finish, sum16, sum32 } from "../../../src/protocol/wire/checksum.ts"
import { type Rng, rng } from "../wire/prng.ts"

const SEEDS = [
  "arp-request", "arp-reply", "arp-gratuitous", "icmp-echo-request", "icmp-echo-reply", "udp-request", "udp-reply",
  "icmp-port-unreachable", "icmp-time-exceeded", "ipv4-rr-request", "ipv4-rr-reply",
  "frag-request-1", "frag-request-2", "frag-request-3",
].map((n) => [n, golden(n)] as const)

/** Recomputes the IPv4 header checksum and, when the transport is whole, its checksum too. */
const fixChecksums = (f: Uint8Array): void => {
  if (f.length < 34 || get16(f, 12) !== ETHERTYPE_IPV4) return
  const ihl = (f[14]! & 0x0f) * 4
  if (ihl < 20 || 14 + ihl > f.length) return
  put16(f, 24, 0)
  put16(f, 24, checksum(f, 14, 14 + ihl))
  const total = get16(f, 16)
  const t = 14 + ihl
  const end = 14 + total
  if (end > f.length || end < t || (get16(f, 20) & 0x3fff) !== 0) return
  if (f[23] === PROTO_ICMP && end - t >= 8) {
    put16(f, t + 2, 0)
    put16(f, t + 2, checksum(f, t, end))
  } else if (f[23] === PROTO_UDP && end - t >= 8) {
    put16(f, t + 6, 0)
    const len = end - t
    const src = ((f[26]! << 24) | (f[27]! << 16) | (f[28]! << 8) | f[29]!) >>> 0
    const dst = ((f[30]! << 24) | (f[31]! << 16) | (f[32]! << 8) | f[33]!) >>> 0
    const c = finish(sum16(f, t, end, sum32(sum32(PROTO_UDP + len, src), dst)))
    put16(f, t + 6, c === 0 ? 0xffff : c)
  }
}

const mutate = (r: Rng, seed: Uint8Array): Uint8Array => {
  let f = seed.slice()
  const n = r.int(1, 4)
  for (let k = 0; k < n; k++) {
    switch (r.int(0, 6)) {
      case 0: // flip a bit anywhere
        if (f.length > 0) f[r.int(0, f.length - 1)]! ^= 1 << r.int(0, 7)
        break
      case 1: // truncate
        f = f.subarray(0, r.int(0, f.length))
        break
      case 2: // extend with junk (padding or more)
        f = Uint8Array.from([...f, ...r.bytes(r.int(1, 40))])
        break
      case 3: // rewrite a byte in the IP header (version/IHL, length, flags/offset, TTL, protocol)
        if (f.length > 24) f[14 + [0, 2, 3, 6, 7, 8, 9][r.int(0, 6)]!] = r.int(0, 255)
        break
      case 4: // rewrite a byte in the transport header
        if (f.length > 42) f[34 + r.int(0, 7)] = r.int(0, 255)
        break
      case 5: // rewrite a byte of the ARP body
        if (f.length >= 42 && get16(f, 12) === ETHERTYPE_ARP) f[14 + r.int(0, 27)] = r.int(0, 255)
        break
      default: // random ethertype
        if (f.length >= 14) put16(f, 12, r.int(0, 3) === 0 ? r.int(0, 0xffff) : [ETHERTYPE_IPV4, ETHERTYPE_ARP][r.int(0, 1)]!)
    }
  }
  if (r.int(0, 2) !== 0) fixChecksums(f)
  return f
}

const checkOutput = (fx: ReadonlyArray<StackEffect>, now: Instant, mtu: number, why: string): Array<TimerId> => {
  const timers: Array<TimerId> = []
  for (const e of fx) {
    if (e._tag === "SetTimer") {
      if (e.at < now) throw new Error(`${why}: timer ${e.timer} armed in the past`)
      timers.push(e.timer)
    }
    if (e._tag !== "DeliverFrame") continue
    const f = e.frame
    if (f.length < ETH_MIN_FRAME) throw new Error(`${why}: runt frame of ${f.length} bytes to the guest`)
    if (f.length > 14 + mtu) throw new Error(`${why}: ${f.length}-byte frame exceeds the MTU`)
    const type = get16(f, 12)
    if (type === ETHERTYPE_ARP) {
      if (!parseArp(f, 14).ok) throw new Error(`${why}: malformed ARP to the guest`)
      continue
    }
    if (type !== ETHERTYPE_IPV4) throw new Error(`${why}: ethertype ${type.toString(16)} to the guest`)
    const p = parseIpv4Header(f, 14)
    if (!p.ok) throw new Error(`${why}: bad IPv4 to the guest: ${p.reason}`)
    const ip = p.ip
    if (ip.moreFragments || ip.fragmentOffset !== 0) continue
    const seg = f.subarray(ip.payloadOffset, ip.payloadOffset + ip.payloadLength)
    if (ip.protocol === PROTO_ICMP && !parseIcmp(seg).ok) throw new Error(`${why}: bad ICMP to the guest`)
    if (ip.protocol === PROTO_UDP) {
      const u = parseUdp(seg, ip.src, ip.dst)
      if (!u.ok) throw new Error(`${why}: bad UDP to the guest: ${u.reason}`)
      if (get16(seg, 6) === 0) throw new Error(`${why}: UDP to the guest without checksum`)
    }
  }
  return timers
}

describe("stack fuzz: hostile frames through the reducer", () => {
  it("stack fuzz: golden frames unmodified are handled and every answer is well formed", () => {
    let s: StackState = createStack(defaultConfig, instant(0))
    for (const [name, f] of SEEDS) {
      const [s1, fx] = reduce(s, { _tag: "FrameFromGuest", now: instant(1000), frame: f.slice() })
      checkOutput(fx, instant(1000), defaultConfig.mtu, name)
      s = s1
    }
  })

  for (const [label, config, seed] of [
    ["MTU 1500", defaultConfig, 0x51172],
    ["MTU 576", { ...defaultConfig, mtu: 576 }, 0x576],
  ] as const) {
    it(`stack fuzz (${label}): 30000 mutated and random frames never throw, and answers stay well formed (seeded)`, () => {
      const r = rng(seed)
      let s: StackState = createStack(config, instant(0))
      let now = 0
      let timers: Array<TimerId> = []
      let delivered = 0
      for (let n = 0; n < 30000; n++) {
        now += r.int(0, 300)
        const t = instant(now)
        let fx: ReadonlyArray<StackEffect>
        let why: string
        if (timers.length > 0 && r.int(0, 20) === 0) {
          const timer = timers.splice(r.int(0, timers.length - 1), 1)[0]!
          why = `case ${n}: timer ${timer}`
          ;[s, fx] = reduce(s, { _tag: "TimerFired", now: t, timer })
        } else {
          const frame = r.int(0, 9) === 0 ? r.bytes(r.int(0, 200)) : mutate(r, SEEDS[r.int(0, SEEDS.length - 1)]![1])
          why = `case ${n}`
          ;[s, fx] = reduce(s, { _tag: "FrameFromGuest", now: t, frame })
        }
        timers = [...timers, ...checkOutput(fx, t, config.mtu, `seed ${seed} ${why}`)].slice(-200)
        delivered += fx.filter((e) => e._tag === "DeliverFrame").length
      }
      // The mutations must reach the layers, not just die at the first check.
      expect(delivered).toBeGreaterThan(1000)
    })
  }
})
