import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import type { StackEffect } from "../../../src/effects/effect.ts"
import { type Instant, instant } from "../../../src/effects/instant.ts"
import {
  REASS_MAX_BYTES,
  REASS_MAX_DATAGRAMS,
  REASS_MAX_FRAGMENTS,
  REASS_TIMEOUT_MS,
  type ReassemblyState,
  addFragment as rawAddFragment,
  emptyReassembly,
  reassemblyTimeout as rawReassemblyTimeout,
  reassemblyTimer,
} from "../../../src/protocol/ipv4/reassembly.ts"
import { type Ipv4View, parseIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import { get16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { checksum } from "../../../src/protocol/wire/checksum.ts"
import { GUEST, HOST, bytesOf, fragment, split } from "./fragments.ts"
import { checkedLayer } from "../../support/checked.ts"

// Every call is checked by the referential-transparency harness (test/support/checked.ts).
const addFragment = checkedLayer(rawAddFragment)
const reassemblyTimeout = checkedLayer(rawReassemblyTimeout)

const T0 = instant(1_000_000)
const at = (ms: number): Instant => instant(T0 + ms)

const ipOf = (f: Uint8Array): Ipv4View => {
  const p = parseIpv4Header(f, 14)
  if (!p.ok) throw new Error(p.reason)
  return p.ip
}

/** Feeds fragments in order; returns the final state, every datagram completed, all effects. */
const feed = (views: ReadonlyArray<Ipv4View>, s0: ReassemblyState = emptyReassembly, now: Instant = T0) => {
  let s = s0
  const done: Array<Uint8Array> = []
  const fx: Array<StackEffect> = []
  for (const v of views) {
    const [s1, whole, e] = addFragment(s, now, v)
    s = s1
    if (whole !== undefined) done.push(whole)
    fx.push(...e)
  }
  return { s, done, fx }
}

const tags = (fx: ReadonlyArray<StackEffect>) => fx.map((e) => e._tag)
const logs = (fx: ReadonlyArray<StackEffect>) => fx.flatMap((e) => (e._tag === "Log" ? [e.message] : []))
const timerOf = (fx: ReadonlyArray<StackEffect>) => {
  const t = fx.find((e) => e._tag === "SetTimer")
  if (t === undefined || t._tag !== "SetTimer") throw new Error("no SetTimer")
  return t
}
const keyOfTimer = (fx: ReadonlyArray<StackEffect>): number => timerOf(fx).timer.key
const expectEmpty = (s: ReassemblyState) => {
  expect(s.datagrams.size).toBe(0)
  expect(s.bytes).toBe(0)
}
/** The bookkeeping must always equal what is actually held. */
const expectConsistent = (s: ReassemblyState) => {
  let sum = 0
  for (const d of s.datagrams.values()) {
    let held = 0
    for (const f of d.fragments) held += f.data.length
    expect(d.bytes).toBe(held)
    sum += held
  }
  expect(s.bytes).toBe(sum)
  expect(s.datagrams.size).toBeLessThanOrEqual(REASS_MAX_DATAGRAMS)
  expect(s.bytes).toBeLessThanOrEqual(REASS_MAX_BYTES)
}

const permutations = <T,>(xs: ReadonlyArray<T>): Array<Array<T>> =>
  xs.length <= 1 ? [[...xs]] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]))

describe("reassembly: captured ping -s 3000 (three fragments)", () => {
  const names = ["frag-request-1", "frag-request-2", "frag-request-3"]

  for (const order of permutations([0, 1, 2])) {
    it(`reassembly: captured fragments in order ${order.map((i) => i + 1).join(",")} give the 3008-byte ICMP echo`, () => {
      const frames = names.map(golden)
      const { s, done, fx } = feed(order.map((i) => ipOf(frames[i]!)))
      expectEmpty(s)
      expect(done).toHaveLength(1)
      const d = done[0]!
      const ip = parseIpv4Header(d, 0)
      if (!ip.ok) throw new Error(ip.reason)
      // tshark: "Reassembled IPv4 length: 3008", id 0xf607, ICMP echo request, checksum 0x2a2f.
      expect(ip.ip.totalLength).toBe(20 + 3008)
      expect(ip.ip.id).toBe(0xf607)
      expect(ip.ip.protocol).toBe(1)
      expect(ip.ip.src).toBe(GUEST)
      expect(ip.ip.dst).toBe(HOST)
      expect(ip.ip.ttl).toBe(64)
      expect(ip.ip.moreFragments).toBe(false)
      expect(ip.ip.fragmentOffset).toBe(0)
      const icmp = d.subarray(20)
      expect(icmp[0]).toBe(8)
      expect(get16(icmp, 2)).toBe(0x2a2f)
      expect(get16(icmp, 4)).toBe(0x2eee) // identifier 12014
      expect(get16(icmp, 6)).toBe(1)
      expect(checksum(icmp, 0, icmp.length)).toBe(0)
      const expected = frames.map((f) => toHex(f.subarray(34))).join("")
      expect(toHex(icmp)).toBe(expected)
      // One timer armed by the first fragment seen, cancelled on completion.
      expect(tags(fx)).toEqual(["SetTimer", "CancelTimer"])
    })
  }

  it("reassembly: the reply fragments reassemble too (ICMP echo reply, checksum 0x322f)", () => {
    const { done } = feed(["frag-reply-3", "frag-reply-1", "frag-reply-2"].map((n) => ipOf(golden(n))))
    expect(done).toHaveLength(1)
    expect(get16(done[0]!, 20 + 2)).toBe(0x322f)
    expect(checksum(done[0]!, 20, done[0]!.length)).toBe(0)
  })

  it("reassembly: request and reply fragments interleaved reassemble independently", () => {
    const order = ["frag-request-1", "frag-reply-2", "frag-request-3", "frag-reply-1", "frag-request-2", "frag-reply-3"]
    const { s, done } = feed(order.map((n) => ipOf(golden(n))))
    expectEmpty(s)
    expect(done.map((d) => d[20])).toEqual([8, 0])
  })

  it("reassembly: the reassembled buffer is a copy: changing the guest's frames afterwards changes nothing", () => {
    const frames = ["frag-request-1", "frag-request-2", "frag-request-3"].map(golden)
    let s = emptyReassembly
    let whole: Uint8Array | undefined
    for (const f of frames) {
      ;[s, whole] = addFragment(s, T0, ipOf(f))
      f.fill(0xee, 34)
    }
    expect(checksum(whole!, 20, whole!.length)).toBe(0)
  })
})

describe("reassembly: rules", () => {
  it("reassembly: first fragment arms the 30 s timer, later fragments do not", () => {
    const [a, b, c] = split(bytesOf(24), 8)
    const r1 = addFragment(emptyReassembly, T0, a!)
    expect(r1[2]).toEqual([{ _tag: "SetTimer", timer: reassemblyTimer(keyOfTimer(r1[2])), at: T0 + REASS_TIMEOUT_MS }])
    const r2 = addFragment(r1[0], at(10_000), b!)
    expect(r2[2]).toEqual([])
    const r3 = addFragment(r2[0], at(20_000), c!)
    expect(r3[1]).toBeDefined()
    expect(tags(r3[2])).toEqual(["CancelTimer"])
  })

  it("reassembly: each new datagram's timer is { layer: reassembly } with a serial of its own; later fragments keep it", () => {
    const r1 = addFragment(emptyReassembly, T0, fragment({ offset: 0, data: bytesOf(8), more: true, id: 0xabcd }))
    const r2 = addFragment(r1[0], T0, fragment({ offset: 0, data: bytesOf(8), more: true, id: 0xabce }))
    const t1 = timerOf(r1[2]).timer
    const t2 = timerOf(r2[2]).timer
    expect(t1.layer).toBe("reassembly")
    expect(t2.layer).toBe("reassembly")
    expect(t2.key).not.toBe(t1.key)
    const r3 = addFragment(r2[0], T0, fragment({ offset: 8, data: bytesOf(8), more: true, id: 0xabcd }))
    expect(r3[2]).toEqual([])
    const [, , fx] = reassemblyTimeout(r3[0], t1.key, at(REASS_TIMEOUT_MS))
    expect(fx[0]).toEqual({ _tag: "CancelTimer", timer: t1 })
  })

  it("reassembly: a datagram whose fragments stop coming is dropped by its 30 s timer, with a debug log", () => {
    const r1 = addFragment(emptyReassembly, T0, fragment({ offset: 0, data: bytesOf(16), more: true }))
    const key = keyOfTimer(r1[2])
    const [s, whole, fx] = reassemblyTimeout(r1[0], key, at(REASS_TIMEOUT_MS))
    expect(whole).toBeUndefined()
    expectEmpty(s)
    expect(tags(fx)).toEqual(["CancelTimer", "Log"])
    expect(logs(fx)[0]).toMatch(/incomplete after 30 s/)
  })

  it("reassembly: later fragments do not extend the 30 s deadline set by the first", () => {
    const [a, b] = split(bytesOf(24), 8)
    const r1 = addFragment(emptyReassembly, T0, a!)
    const r2 = addFragment(r1[0], at(29_000), b!)
    const [s] = reassemblyTimeout(r2[0], keyOfTimer(r1[2]), at(REASS_TIMEOUT_MS))
    expectEmpty(s)
  })

  it("reassembly: a timer delivered late (after the deadline) still drops the datagram", () => {
    const r1 = addFragment(emptyReassembly, T0, fragment({ offset: 0, data: bytesOf(16), more: true }))
    const [s] = reassemblyTimeout(r1[0], keyOfTimer(r1[2]), at(REASS_TIMEOUT_MS + 5_000))
    expectEmpty(s)
  })

  it("reassembly: a timer for a datagram no longer held is a no-op", () => {
    const [s, whole, fx] = reassemblyTimeout(emptyReassembly, 5, at(REASS_TIMEOUT_MS))
    expect(s).toBe(emptyReassembly)
    expect(whole).toBeUndefined()
    expect(fx).toEqual([])
  })

  it("reassembly: after a timeout, a late fragment starts a new datagram with a fresh timer", () => {
    const [a, b] = split(bytesOf(16), 8)
    const r1 = addFragment(emptyReassembly, T0, a!)
    const [s2] = reassemblyTimeout(r1[0], keyOfTimer(r1[2]), at(REASS_TIMEOUT_MS))
    const [s3, whole, fx] = addFragment(s2, at(31_000), b!)
    expect(whole).toBeUndefined()
    expect(s3.datagrams.size).toBe(1)
    expect(timerOf(fx).at).toBe(T0 + 31_000 + REASS_TIMEOUT_MS)
  })

  it("reassembly: a stale timer of an earlier datagram does not drop a newer one with the same key", () => {
    // ids.ts: "a reducer treats a TimerFired whose deadline is no longer in its state as a
    // no-op (timers may race with cancellation)". Datagram A (timer due T0+30 s) is dropped by
    // an overlap at T0+29.9 s and its CancelTimer races with the firing; datagram B with the
    // same key starts at T0+29.95 s (deadline T0+59.95 s). The stale firing at T0+30 s must not
    // drop B; B's own firing at T0+59.95 s does.
    const [a0, a1] = split(bytesOf(32), 16)
    const r1 = addFragment(emptyReassembly, T0, a0!)
    const key = keyOfTimer(r1[2])
    const r2 = addFragment(r1[0], at(29_900), fragment({ offset: 8, data: bytesOf(16), more: true })) // overlap: A dropped
    expect(r2[0].datagrams.size).toBe(0)
    const r3 = addFragment(r2[0], at(29_950), a1!) // B: same key
    expect(timerOf(r3[2]).at).toBe(T0 + 29_950 + REASS_TIMEOUT_MS)
    const keyB = keyOfTimer(r3[2])
    expect(keyB).not.toBe(key) // B has a timer of its own
    const [s4, , fx4] = reassemblyTimeout(r3[0], key, at(30_000))
    expect(s4).toBe(r3[0])
    expect(fx4).toEqual([])
    const [s4b, , fx4b] = reassemblyTimeout(r3[0], keyB, at(30_000)) // B's own timer, early: no-op
    expect(s4b).toBe(r3[0])
    expect(fx4b).toEqual([])
    const [s5] = reassemblyTimeout(r3[0], keyB, at(29_950 + REASS_TIMEOUT_MS))
    expectEmpty(s5)
  })

  it("reassembly: overlapping fragment drops the datagram (RFC 5722 rule), freeing its bytes", () => {
    const r1 = addFragment(emptyReassembly, T0, fragment({ offset: 0, data: bytesOf(16), more: true }))
    const [s, whole, fx] = addFragment(r1[0], T0, fragment({ offset: 8, data: bytesOf(16), more: true }))
    expect(whole).toBeUndefined()
    expectEmpty(s)
    expect(tags(fx)).toEqual(["CancelTimer", "Log"])
    expect(logs(fx)[0]).toMatch(/overlapping/)
  })

  it("reassembly: overlap with identical bytes (not an exact duplicate) still drops the datagram", () => {
    const data = bytesOf(32)
    const r1 = addFragment(emptyReassembly, T0, fragment({ offset: 0, data: data.subarray(0, 16), more: true }))
    const [s] = addFragment(r1[0], T0, fragment({ offset: 8, data: data.subarray(8, 24), more: true }))
    expectEmpty(s)
  })

  it("reassembly: a fragment overlapping the start of the next one drops the datagram", () => {
    const r1 = addFragment(emptyReassembly, T0, fragment({ offset: 16, data: bytesOf(16), more: true }))
    const [s] = addFragment(r1[0], T0, fragment({ offset: 8, data: bytesOf(16), more: true }))
    expectEmpty(s)
  })

  it("reassembly: a fragment covering two held fragments drops the datagram", () => {
    const { s } = feed([
      fragment({ offset: 8, data: bytesOf(8), more: true }),
      fragment({ offset: 24, data: bytesOf(8), more: true }),
      fragment({ offset: 0, data: bytesOf(40), more: true }),
    ])
    expectEmpty(s)
  })

  it("reassembly: same offset, different length is an overlap, not a duplicate", () => {
    const { s, fx } = feed([fragment({ offset: 8, data: bytesOf(8), more: true }), fragment({ offset: 8, data: bytesOf(16), more: true })])
    expectEmpty(s)
    expect(logs(fx).join()).toMatch(/overlapping/)
  })

  it("reassembly: an exact duplicate (same offset and length) is ignored and the datagram still completes", () => {
    const [a, b] = split(bytesOf(16), 8)
    const r1 = addFragment(emptyReassembly, T0, a!)
    const r2 = addFragment(r1[0], T0, a!)
    expect(r2[0]).toBe(r1[0])
    expect(tags(r2[2])).toEqual(["Log"])
    const r3 = addFragment(r2[0], T0, b!)
    expect(toHex(r3[1]!.subarray(20))).toBe(toHex(bytesOf(16)))
    expectEmpty(r3[0])
  })

  it("reassembly: non-final fragment whose length is not a multiple of 8 drops the datagram", () => {
    const r1 = addFragment(emptyReassembly, T0, fragment({ offset: 0, data: bytesOf(16), more: true }))
    const [s, , fx] = addFragment(r1[0], T0, fragment({ offset: 16, data: bytesOf(12), more: true }))
    expectEmpty(s)
    expect(logs(fx)[0]).toMatch(/non-final fragment of 12 bytes/)
  })

  it("reassembly: empty non-final fragment drops the datagram", () => {
    const r1 = addFragment(emptyReassembly, T0, fragment({ offset: 0, data: bytesOf(16), more: true }))
    const [s] = addFragment(r1[0], T0, fragment({ offset: 16, data: new Uint8Array(0), more: true }))
    expectEmpty(s)
  })

  it("reassembly: an odd-length fragment with no datagram held is dropped without arming a timer", () => {
    const [s, whole, fx] = addFragment(emptyReassembly, T0, fragment({ offset: 8, data: bytesOf(5), more: true }))
    expect(whole).toBeUndefined()
    expectEmpty(s)
    expect(tags(fx)).not.toContain("SetTimer")
  })

  it("reassembly: an empty final fragment ends the datagram where the data ends", () => {
    const { s, done } = feed([
      fragment({ offset: 0, data: bytesOf(16), more: true }),
      fragment({ offset: 16, data: new Uint8Array(0), more: false }),
    ])
    expectEmpty(s)
    expect(done[0]!.length).toBe(20 + 16)
  })

  it("reassembly: the final fragment may have any length (not a multiple of 8)", () => {
    const { done } = feed(split(bytesOf(27), 8))
    expect(toHex(done[0]!.subarray(20))).toBe(toHex(bytesOf(27)))
  })

  it("reassembly: Ethernet padding after a short final fragment is not reassembled", () => {
    const { done } = feed([
      fragment({ offset: 0, data: bytesOf(8), more: true }),
      fragment({ offset: 8, data: bytesOf(3, 9), more: false, padding: 23 }),
    ])
    expect(done[0]!.length).toBe(20 + 11)
  })

  it("reassembly: oversize: a fragment ending past 65535 bytes drops the datagram (ping of death, CVE-2019-14378)", () => {
    // 65528 is the largest offset: 65528 + 20 header + 16 data ends past 65535.
    const r1 = addFragment(emptyReassembly, T0, fragment({ offset: 0, data: bytesOf(64), more: true }))
    const [s, , fx] = addFragment(r1[0], T0, fragment({ offset: 65528, data: bytesOf(16), more: false }))
    expectEmpty(s)
    expect(logs(fx)[0]).toMatch(/beyond 65535/)
  })

  it("reassembly: oversize: the check counts the 20-byte header (65516-byte payload refused)", () => {
    const [s, , fx] = addFragment(emptyReassembly, T0, fragment({ offset: 65512, data: bytesOf(4), more: false }))
    expectEmpty(s)
    expect(logs(fx)[0]).toMatch(/beyond 65535/)
  })

  it("reassembly: a datagram of exactly 65535 bytes is accepted", () => {
    const payload = bytesOf(65515)
    const { s, done } = feed(split(payload, 8184).reverse())
    expectEmpty(s)
    expect(done).toHaveLength(1)
    expect(done[0]!.length).toBe(65535)
    expect(get16(done[0]!, 2)).toBe(65535)
    expect(toHex(done[0]!.subarray(20, 60))).toBe(toHex(payload.subarray(0, 40)))
    expect(toHex(done[0]!.subarray(65535 - 40))).toBe(toHex(payload.subarray(65515 - 40)))
  })

  it("reassembly: two different final fragments drop the datagram", () => {
    const { s, fx } = feed([
      fragment({ offset: 16, data: bytesOf(8), more: false }),
      fragment({ offset: 32, data: bytesOf(8), more: false }),
    ])
    expectEmpty(s)
    expect(logs(fx).join()).toMatch(/two different final fragments/)
  })

  it("reassembly: a fragment beyond the end set by the final fragment drops the datagram", () => {
    const { s, fx } = feed([
      fragment({ offset: 16, data: bytesOf(8), more: false }),
      fragment({ offset: 24, data: bytesOf(8), more: true }),
    ])
    expectEmpty(s)
    expect(logs(fx).join()).toMatch(/beyond the final fragment/)
  })

  it("reassembly: a final fragment ending before data already held drops the datagram", () => {
    const { s, fx } = feed([
      fragment({ offset: 32, data: bytesOf(8), more: true }),
      fragment({ offset: 8, data: bytesOf(8), more: false }),
    ])
    expectEmpty(s)
    expect(logs(fx).join()).toMatch(/beyond the final fragment/)
  })

  it("reassembly: fragments of different id, source, destination or protocol never mix", () => {
    const base = { offset: 0, data: bytesOf(8), more: true }
    const { s } = feed([
      fragment(base),
      fragment({ ...base, id: 0x1235 }),
      fragment({ ...base, src: 0x0a000210 }),
      fragment({ ...base, dst: 0x0a000203 }),
      fragment({ ...base, protocol: 1 }),
    ])
    expect(s.datagrams.size).toBe(5)
    // Completing one leaves the others untouched.
    const [s2, whole] = addFragment(s, T0, fragment({ offset: 8, data: bytesOf(8), more: false, protocol: 1 }))
    expect(whole![9]).toBe(1)
    expect(s2.datagrams.size).toBe(4)
    expectConsistent(s2)
  })

  it("reassembly: the datagram is complete only without gaps, even if the final fragment is held", () => {
    const { s, done } = feed([
      fragment({ offset: 0, data: bytesOf(8), more: true }),
      fragment({ offset: 16, data: bytesOf(8), more: false }),
    ])
    expect(done).toHaveLength(0)
    expect(s.datagrams.size).toBe(1)
    const [s2, whole] = addFragment(s, T0, fragment({ offset: 8, data: bytesOf(8), more: true }))
    expect(whole!.length).toBe(44)
    expectEmpty(s2)
  })

  it("reassembly: the rebuilt header has the first fragment's TTL and TOS, no options, DF clear, valid checksum", () => {
    const { done } = feed([
      fragment({ offset: 8, data: bytesOf(8), more: false, ttl: 9, tos: 0x10 }),
      fragment({ offset: 0, data: bytesOf(8), more: true, ttl: 33, tos: 0xb8 }),
    ])
    const d = done[0]!
    expect(d[0]).toBe(0x45)
    expect(d[1]).toBe(0xb8)
    expect(d[8]).toBe(33)
    expect(get16(d, 6)).toBe(0)
    expect(checksum(d, 0, 20)).toBe(0)
  })

  it("reassembly: a first fragment with IP options reassembles to a 20-byte header and the right payload", () => {
    // The captured record-route echo request made into a first fragment: IHL 15, 64 bytes of ICMP.
    const rr = golden("ipv4-rr-request")
    const f = rr.slice(0, 14 + 60 + 64)
    f[14 + 2] = 0
    f[14 + 3] = 60 + 64
    f[14 + 6] = 0x20 // MF, offset 0
    f[14 + 7] = 0
    f[24] = 0
    f[25] = 0
    const c = checksum(f, 14, 74)
    f[24] = c >> 8
    f[25] = c & 0xff
    const first = ipOf(f)
    expect(first.headerLength).toBe(60)
    const last = fragment({ offset: 64, data: bytesOf(24), more: false, id: first.id, src: first.src, dst: first.dst, protocol: 1 })
    const { done } = feed([last, first])
    const d = done[0]!
    expect(d.length).toBe(20 + 88)
    expect(d[0]).toBe(0x45)
    expect(toHex(d.subarray(20, 84))).toBe(toHex(rr.subarray(74, 138)))
    expect(toHex(d.subarray(84))).toBe(toHex(bytesOf(24)))
  })
})

describe("reassembly: bounds", () => {
  it(`reassembly: at most ${REASS_MAX_DATAGRAMS} datagrams at once; a fragment of a new one is dropped, held ones continue`, () => {
    let s = emptyReassembly
    for (let id = 0; id < REASS_MAX_DATAGRAMS; id++) s = addFragment(s, T0, fragment({ offset: 0, data: bytesOf(8), more: true, id }))[0]
    expect(s.datagrams.size).toBe(REASS_MAX_DATAGRAMS)
    const [s2, whole, fx] = addFragment(s, T0, fragment({ offset: 0, data: bytesOf(8), more: true, id: 999 }))
    expect(s2).toBe(s)
    expect(whole).toBeUndefined()
    expect(tags(fx)).toEqual(["Log"])
    // A held datagram still accepts its remaining fragment and completes.
    const [s3, done] = addFragment(s, T0, fragment({ offset: 8, data: bytesOf(8), more: false, id: 3 }))
    expect(done).toBeDefined()
    expect(s3.datagrams.size).toBe(REASS_MAX_DATAGRAMS - 1)
    // ... which makes room for the new one.
    expect(addFragment(s3, T0, fragment({ offset: 0, data: bytesOf(8), more: true, id: 999 }))[0].datagrams.size).toBe(REASS_MAX_DATAGRAMS)
  })

  it(`reassembly: at most ${REASS_MAX_BYTES} bytes held in total; a fragment past the bound is dropped`, () => {
    let s = emptyReassembly
    const chunk = 65000 // multiple of 8
    let id = 0
    while (s.bytes + chunk <= REASS_MAX_BYTES) s = addFragment(s, T0, fragment({ offset: 0, data: bytesOf(chunk), more: true, id: id++ }))[0]
    expectConsistent(s)
    expect(s.datagrams.size).toBeLessThan(REASS_MAX_DATAGRAMS) // the byte bound is the one hit here
    const before = s
    const [s2, , fx] = addFragment(s, T0, fragment({ offset: 0, data: bytesOf(chunk), more: true, id: id++ }))
    expect(s2).toBe(before)
    expect(logs(fx)[0]).toMatch(/bytes held/)
    // A fragment that exactly fills the bound is accepted.
    const room = REASS_MAX_BYTES - s.bytes
    const fill = room - (room % 8)
    const [s3] = addFragment(s, T0, fragment({ offset: 0, data: bytesOf(fill), more: true, id: id++ }))
    expect(s3.bytes).toBe(s.bytes + fill)
    expectConsistent(s3)
  })

  it("reassembly: the byte bound also applies to fragments of a datagram already held", () => {
    // 31 datagrams of 33824 bytes hold 1048544 bytes: 32 bytes of room left.
    let s = emptyReassembly
    for (let id = 0; id < 31; id++) s = addFragment(s, T0, fragment({ offset: 0, data: bytesOf(33824), more: true, id }))[0]
    expect(REASS_MAX_BYTES - s.bytes).toBe(32)
    const [s2, , fx] = addFragment(s, T0, fragment({ offset: 33824, data: bytesOf(40), more: false, id: 0 }))
    expect(s2).toBe(s)
    expect(logs(fx)[0]).toMatch(/bytes held/)
    const [s3, whole] = addFragment(s, T0, fragment({ offset: 33824, data: bytesOf(32), more: false, id: 0 }))
    expect(whole!.length).toBe(20 + 33856)
    expectConsistent(s3)
  })

  it(`reassembly: more than ${REASS_MAX_FRAGMENTS} fragments drop the datagram (8-byte fragment flood)`, () => {
    let s = emptyReassembly
    for (let i = 0; i < REASS_MAX_FRAGMENTS; i++) s = addFragment(s, T0, fragment({ offset: 8 + i * 8, data: bytesOf(8), more: true }))[0]
    expect(s.datagrams.size).toBe(1)
    expect(s.bytes).toBe(REASS_MAX_FRAGMENTS * 8)
    const [s2, , fx] = addFragment(s, T0, fragment({ offset: 8 + REASS_MAX_FRAGMENTS * 8, data: bytesOf(8), more: true }))
    expectEmpty(s2)
    expect(logs(fx)[0]).toMatch(new RegExp(`more than ${REASS_MAX_FRAGMENTS} fragments`))
  })

  it(`reassembly: a datagram of exactly ${REASS_MAX_FRAGMENTS} fragments completes`, () => {
    const views = split(bytesOf(REASS_MAX_FRAGMENTS * 8 - 3), 8)
    expect(views).toHaveLength(REASS_MAX_FRAGMENTS)
    const { s, done } = feed(views.reverse())
    expectEmpty(s)
    expect(done).toHaveLength(1)
  })

  it("reassembly: dropped datagrams free their count and bytes (no leak after many attacks)", () => {
    let s = emptyReassembly
    for (let round = 0; round < 200; round++) {
      s = addFragment(s, T0, fragment({ offset: 0, data: bytesOf(4000), more: true, id: round }))[0]
      s = addFragment(s, T0, fragment({ offset: 8, data: bytesOf(8), more: true, id: round }))[0] // overlap
    }
    expectEmpty(s)
  })
})
