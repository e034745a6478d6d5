import { describe, expect, it } from "vitest"
import type { StackEffect } from "../../../src/effects/effect.ts"
import { instant } from "../../../src/effects/instant.ts"
import { buildIpv4Frames } from "../../../src/protocol/ipv4/output.ts"
import {
  REASS_MAX_BYTES,
  REASS_MAX_DATAGRAMS,
  REASS_MAX_FRAGMENTS,
  REASS_TIMEOUT_MS,
  type ReassemblyState,
  addFragment as rawAddFragment,
  emptyReassembly,
  reassemblyTimeout as rawReassemblyTimeout,
} from "../../../src/protocol/ipv4/reassembly.ts"
import { type Ipv4View, isFragment, parseIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import { toHex } from "../../../src/protocol/wire/bytes.ts"
import { checksum } from "../../../src/protocol/wire/checksum.ts"
import { rng } from "../wire/prng.ts"
import { GUEST, HOST, fragment } from "./fragments.ts"
import { checkedLayer } from "../../support/checked.ts"

// Every call is checked by the referential-transparency harness (test/support/checked.ts).
const addFragment = checkedLayer(rawAddFragment)
const reassemblyTimeout = checkedLayer(rawReassemblyTimeout)

const T0 = instant(0)

/** The bookkeeping equals what is held, and the bounds hold (plain checks: this runs often). */
const consistent = (s: ReassemblyState): void => {
  let total = 0
  for (const [key, d] of s.datagrams) {
    let held = 0
    let end = -1
    for (const f of d.fragments) {
      if (f.offset < end) throw new Error(`${key}: fragments overlap or are unsorted`)
      end = f.offset + f.data.length
      held += f.data.length
    }
    if (d.bytes !== held) throw new Error(`${key}: bytes ${d.bytes} but ${held} held`)
    if (d.fragments.length > REASS_MAX_FRAGMENTS) throw new Error(`${key}: ${d.fragments.length} fragments`)
    total += held
  }
  if (s.bytes !== total) throw new Error(`state bytes ${s.bytes} but ${total} held`)
  if (s.datagrams.size > REASS_MAX_DATAGRAMS) throw new Error(`${s.datagrams.size} datagrams`)
  if (s.bytes > REASS_MAX_BYTES) throw new Error(`${s.bytes} bytes`)
}

describe("reassembly: properties (seeded PRNG)", () => {
  it("reassembly: random fragmentations of random datagrams, in random order with exact duplicates, reassemble to the original", () => {
    const r = rng(815)
    for (let n = 0; n < 300; n++) {
      const payload = r.bytes(r.int(1, n < 280 ? 4000 : 20000))
      const size = r.int(1, 200) * 8
      const views: Array<Ipv4View> = []
      for (let off = 0; off < payload.length; ) {
        // Variable fragment sizes, all multiples of 8 except the last.
        const len = Math.min(payload.length - off, r.int(1, size / 8) * 8)
        views.push(fragment({ offset: off, data: payload.subarray(off, off + len), more: off + len < payload.length, id: n, padding: r.int(0, 1) * r.int(0, 40) }))
        off += len
      }
      if (views.length === 1) continue // not a fragment at all
      // Exact duplicates of fragments that arrive before the last one (a duplicate after
      // completion would rightly start a new datagram).
      const order = r.shuffle(views)
      const dups = r.int(0, 3)
      for (let d = 0; d < dups; d++) order.splice(r.int(0, order.length - 1), 0, order[r.int(0, order.length - 2)]!)
      let s = emptyReassembly
      const done: Array<Uint8Array> = []
      for (const v of order) {
        const [s1, whole] = addFragment(s, T0, v)
        s = s1
        consistent(s)
        if (whole !== undefined) done.push(whole)
      }
      if (views.length > REASS_MAX_FRAGMENTS + dups) {
        expect(done, `seed 815 case ${n}`).toHaveLength(0)
        continue
      }
      expect(done, `seed 815 case ${n}: ${views.length} fragments of ${payload.length}`).toHaveLength(1)
      expect(s.datagrams.size).toBe(0)
      const p = parseIpv4Header(done[0]!, 0)
      if (!p.ok) throw new Error(p.reason)
      expect(p.ip.totalLength).toBe(20 + payload.length)
      expect(p.ip.id).toBe(n)
      expect(p.ip.src).toBe(GUEST)
      expect(p.ip.dst).toBe(HOST)
      expect(toHex(done[0]!.subarray(20))).toBe(toHex(payload))
    }
  })

  it("reassembly: our own fragmenter (buildIpv4Frames) and reassembly agree for random sizes and MTUs", () => {
    const r = rng(1191)
    for (let n = 0; n < 200; n++) {
      const payload = r.bytes(r.int(100, 12000))
      const mtu = r.int(68, 1500)
      const built = buildIpv4Frames(
        { _tag: "PacketToGuest", family: 4, src: HOST, dst: GUEST, protocol: 17, header: new Uint8Array([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]), payload, checksumOffset: -1, pseudoHeader: false },
        n,
        mtu,
      )
      if (!built.ok) throw new Error(built.reason)
      const views = built.frames.map((f) => {
        const p = parseIpv4Header(f, 14)
        if (!p.ok) throw new Error(p.reason)
        expect(p.ip.totalLength).toBeLessThanOrEqual(mtu)
        return p.ip
      })
      let s = emptyReassembly
      let whole: Uint8Array | undefined
      const single = views.length === 1
      if (single) {
        expect(isFragment(views[0]!)).toBe(false)
        continue
      }
      for (const v of r.shuffle(views)) {
        const [s1, w] = addFragment(s, T0, v)
        s = s1
        if (w !== undefined) whole = w
      }
      if (views.length > REASS_MAX_FRAGMENTS) {
        expect(whole).toBeUndefined()
        continue
      }
      expect(whole, `seed 1191 case ${n}, mtu ${mtu}`).toBeDefined()
      expect(toHex(whole!.subarray(28))).toBe(toHex(payload))
      expect(toHex(whole!.subarray(20, 24))).toBe("12345678")
    }
  })

  it("reassembly: random hostile fragments never throw and never break the bounds or the bookkeeping", () => {
    const r = rng(14378)
    let s = emptyReassembly
    let completed = 0
    let now = 0
    for (let n = 0; n < 20000; n++) {
      now += r.int(0, 5)
      const kind = r.int(0, 9)
      const offset = kind < 3 ? r.int(0, 8191) * 8 : r.int(0, 64) * 8
      const len = kind === 0 ? r.int(0, 9000) : r.int(0, 40) * (r.int(0, 3) === 0 ? 1 : 8)
      const v = fragment({ offset, data: new Uint8Array(Math.min(len, 65515)), more: r.int(0, 3) !== 0, id: r.int(0, 40), protocol: r.int(0, 1) === 0 ? 17 : 1 })
      let fx: ReadonlyArray<StackEffect>
      let whole: Uint8Array | undefined
      if (r.int(0, 50) === 0 && s.datagrams.size > 0) {
        const keys = [...s.datagrams.values()].map((d) => d.serial)
        ;[s, whole, fx] = reassemblyTimeout(s, keys[r.int(0, keys.length - 1)]!, instant(now + r.int(0, 1) * REASS_TIMEOUT_MS))
      } else {
        ;[s, whole, fx] = addFragment(s, instant(now), v)
      }
      consistent(s)
      for (const e of fx) if (e._tag === "SetTimer" || e._tag === "CancelTimer") expect(e.timer.layer).toBe("reassembly")
      if (whole !== undefined) {
        completed++
        const p = parseIpv4Header(whole, 0)
        expect(p.ok).toBe(true)
        expect(whole.length).toBeLessThanOrEqual(65535)
        expect(checksum(whole, 0, 20)).toBe(0)
      }
    }
    expect(completed).toBeGreaterThan(0)
  })
})
