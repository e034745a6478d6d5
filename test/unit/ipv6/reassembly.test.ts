/**
 * IPv6 reassembly (RFC 8200 §4.5, RFC 5722) with the IPv4 bounds, every call checked by the
 * referential-transparency harness.
 */
import { describe, expect, it } from "vitest"
import { instant } from "../../../src/effects/instant.ts"
import { REASS_MAX_BYTES, REASS_MAX_DATAGRAMS } from "../../../src/protocol/ipv4/reassembly.ts"
import {
  REASS6_TIMEOUT_MS,
  type Reassembly6State,
  addFragment6 as rawAdd,
  emptyReassembly6,
  reassembly6Timeout as rawTimeout,
  reassembly6Timer,
} from "../../../src/protocol/ipv6/reassembly.ts"
import { NH_DEST_OPTIONS, NH_FRAGMENT, NH_HOP_BY_HOP, NH_UDP, type Ipv6View, parseIpv6Header, writeIpv6Header } from "../../../src/protocol/ipv6/wire.ts"
import { get16, put16, put32, toHex } from "../../../src/protocol/wire/bytes.ts"
import { parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { checkedLayer } from "../../support/checked.ts"
import { rng } from "../wire/prng.ts"

const add = checkedLayer(rawAdd)
const timeout = checkedLayer(rawTimeout)
const T0 = instant(10_000)
const SRC = parseIpv6("fec0::15")!
const DST = parseIpv6("fec0::2")!

/** A fragment datagram: [hop-by-hop] + Fragment header (next header `nh`) + data. */
const fragment = (id: number, offset: number, more: boolean, data: Uint8Array, o: { nh?: number; hopByHop?: boolean; src?: Uint8Array } = {}): Ipv6View => {
  const pre = o.hopByHop ? 8 : 0
  const b = new Uint8Array(40 + pre + 8 + data.length)
  writeIpv6Header(b, 0, { payloadLength: pre + 8 + data.length, nextHeader: o.hopByHop ? NH_HOP_BY_HOP : NH_FRAGMENT, hopLimit: 64, src: o.src ?? SRC, dst: DST })
  if (o.hopByHop) b[40] = NH_FRAGMENT
  b[40 + pre] = o.nh ?? NH_UDP
  put16(b, 40 + pre + 2, offset | (more ? 1 : 0))
  put32(b, 40 + pre + 4, id)
  b.set(data, 40 + pre + 8)
  const p = parseIpv6Header(b, 0)
  if (!p.ok) throw new Error(p.reason)
  return p.ip
}
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff)

describe("ipv6 reassembly", () => {
  it("fragments in any order give the datagram: the first fragment's header, its Fragment header's next header, the data in place", () => {
    const data = bytes(2000, 1)
    const parts = [fragment(9, 0, true, data.subarray(0, 800)), fragment(9, 800, true, data.subarray(800, 1600)), fragment(9, 1600, false, data.subarray(1600))]
    for (const order of [[0, 1, 2], [2, 0, 1], [1, 2, 0]]) {
      let s: Reassembly6State = emptyReassembly6
      let whole: Uint8Array | undefined
      for (const i of order) [s, whole] = add(s, T0, parts[i]!)
      expect(whole).toBeDefined()
      expect([get16(whole!, 4), whole![6], toHex(whole!.subarray(8, 40))]).toEqual([2000, NH_UDP, toHex(new Uint8Array([...SRC, ...DST]))])
      expect(whole!.subarray(40)).toEqual(data)
      expect([s.datagrams.size, s.bytes]).toEqual([0, 0])
    }
  })

  it("extension headers before the Fragment header are dropped; those after it (in the data) are walked again", () => {
    const inner = new Uint8Array([NH_UDP, 0, 1, 4, 0, 0, 0, 0, ...bytes(16, 3)])
    let [s, whole] = add(emptyReassembly6, T0, fragment(5, 0, true, inner.subarray(0, 16), { hopByHop: true, nh: NH_DEST_OPTIONS }))
    ;[s, whole] = add(s, T0, fragment(5, 16, false, inner.subarray(16), { nh: NH_DEST_OPTIONS }))
    const p = parseIpv6Header(whole!, 0)
    expect(p.ok && [p.ip.protocol, p.ip.upperOffset, p.ip.hasHopByHop]).toEqual([NH_UDP, 48, false])
  })

  const dropped: ReadonlyArray<readonly [string, ReadonlyArray<Ipv6View>, string]> = [
    ["an overlapping fragment (RFC 5722): the whole datagram", [fragment(1, 0, true, bytes(16, 0)), fragment(1, 8, false, bytes(16, 0))], "overlapping"],
    ["a non-final fragment not a multiple of 8", [fragment(2, 0, true, bytes(12, 0))], "non-final fragment of 12"],
    ["a fragment ending past 65535", [fragment(3, 65528, false, bytes(16, 0))], "beyond 65535"],
    ["two different final fragments", [fragment(4, 16, false, bytes(8, 0)), fragment(4, 32, false, bytes(8, 0))], "two different final"],
  ]
  for (const [name, frags, why] of dropped) {
    it(`drops ${name}`, () => {
      let s: Reassembly6State = emptyReassembly6
      let whole: Uint8Array | undefined
      const logs: Array<string> = []
      for (const f of frags) {
        let fx
        ;[s, whole, fx] = add(s, T0, f)
        for (const e of fx) if (e._tag === "Log") logs.push(e.message)
      }
      expect(whole).toBeUndefined()
      expect([s.datagrams.size, s.bytes]).toEqual([0, 0])
      expect(logs.some((l) => l.includes(why)), logs.join("\n")).toBe(true)
    })
  }

  it("an exact duplicate is ignored; the datagram still completes", () => {
    let [s] = add(emptyReassembly6, T0, fragment(6, 0, true, bytes(8, 0)))
    ;[s] = add(s, T0, fragment(6, 0, true, bytes(8, 0)))
    const [s2, whole] = add(s, T0, fragment(6, 8, false, bytes(8, 1)))
    expect(whole?.length).toBe(56)
    expect(s2.datagrams.size).toBe(0)
  })

  it("incomplete after 60 s: dropped by its timer; an early timer is a no-op", () => {
    const [s, , fx] = add(emptyReassembly6, T0, fragment(7, 0, true, bytes(8, 0)))
    expect(fx).toContainEqual({ _tag: "SetTimer", timer: reassembly6Timer(1), at: T0 + REASS6_TIMEOUT_MS })
    expect(timeout(s, 1, instant(T0 + REASS6_TIMEOUT_MS - 1))[0]).toBe(s)
    const [s2, , fx2] = timeout(s, 1, instant(T0 + REASS6_TIMEOUT_MS))
    expect(s2.datagrams.size).toBe(0)
    expect(fx2.some((e) => e._tag === "Log" && e.message.includes("incomplete after 60 s"))).toBe(true)
  })

  it("a fragment flood is bounded: datagrams in progress and bytes held (seeded)", () => {
    const r = rng(8200)
    let s: Reassembly6State = emptyReassembly6
    for (let i = 0; i < 5000; i++) {
      const src = parseIpv6(`fec0::${(r.int(1, 0xffff)).toString(16)}`)!
      ;[s] = add(s, T0, fragment(r.int(0, 0xffffffff), r.int(0, 8000) * 8, true, bytes(8 * r.int(1, 180), i), { src }))
      expect(s.datagrams.size).toBeLessThanOrEqual(REASS_MAX_DATAGRAMS)
      expect(s.bytes).toBeLessThanOrEqual(REASS_MAX_BYTES)
    }
    expect(s.datagrams.size).toBe(REASS_MAX_DATAGRAMS)
  })
})
