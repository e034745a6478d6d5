import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import { get16, put16 } from "../../../src/protocol/wire/bytes.ts"
import { checksum, finish, sum16, sum32, sumWords, update16, update32 } from "../../../src/protocol/wire/checksum.ts"
import { rng } from "./prng.ts"

/** RFC 1071 the slow, obvious way: a reference for the unrolled implementation. */
const reference = (b: Uint8Array, start: number, end: number): number => {
  let s = 0
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0)
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
  return ~s & 0xffff
}

describe("checksum (RFC 1071)", () => {
  it("checksum: RFC 1071 §3 worked example sums to 0xddf2", () => {
    // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 have the one's complement sum ddf2.
    const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])
    expect(finish(sum16(b, 0, b.length))).toBe(~0xddf2 & 0xffff)
  })

  it("checksum: empty range is 0xffff, all-zero bytes are 0xffff", () => {
    expect(checksum(new Uint8Array(0), 0, 0)).toBe(0xffff)
    expect(checksum(new Uint8Array(100), 0, 100)).toBe(0xffff)
  })

  it("checksum: odd length pads the last byte with zero", () => {
    expect(checksum(new Uint8Array([0x12]), 0, 1)).toBe(~0x1200 & 0xffff)
    expect(checksum(new Uint8Array([0x12, 0x34, 0x56]), 0, 3)).toBe(~(0x1234 + 0x5600) & 0xffff)
  })

  it("checksum: all 0xff bytes (maximal carries) over 64 KiB match the reference", () => {
    const b = new Uint8Array(65536).fill(0xff)
    expect(checksum(b, 0, b.length)).toBe(reference(b, 0, b.length))
    expect(checksum(b, 1, b.length - 3)).toBe(reference(b, 1, b.length - 3))
  })

  it("checksum: random buffers, offsets and lengths match the byte-at-a-time reference (seeded)", () => {
    const r = rng(1071)
    for (let n = 0; n < 2000; n++) {
      const b = r.bytes(r.int(0, n < 1900 ? 200 : 70000))
      const start = r.int(0, b.length)
      const end = r.int(start, b.length)
      expect(checksum(b, start, end), `seed 1071 case ${n}`).toBe(reference(b, start, end))
    }
  })

  it("checksum: views at every byteOffset mod 4 (32-bit word path and its edges) match the reference (seeded)", () => {
    const r = rng(4321)
    for (let n = 0; n < 3000; n++) {
      const backing = r.bytes(r.int(0, n < 2800 ? 400 : 70000) + 8)
      const shift = r.int(0, 7)
      const b = backing.subarray(shift)
      const start = r.int(0, b.length)
      const end = r.int(start, b.length)
      expect(checksum(b, start, end), `seed 4321 case ${n} shift ${shift}`).toBe(reference(b, start, end))
    }
  })

  it("checksum: all 0xff words through the 32-bit path (largest carries) match the reference at every alignment", () => {
    const backing = new Uint8Array(65536 + 8).fill(0xff)
    for (let shift = 0; shift < 4; shift++) {
      const b = backing.subarray(shift, shift + 65536)
      expect(checksum(b, 0, b.length), `shift ${shift}`).toBe(reference(b, 0, b.length))
      expect(finish(sum16(b, 2, b.length - 1, 0xfffe)), `shift ${shift} with accumulator`).toBe(
        finish(sum16(b, 2, b.length - 1) + 0xfffe),
      )
    }
  })

  it("checksum: sum16 with an accumulator equals the sum of the parts (even split)", () => {
    const r = rng(7)
    for (let n = 0; n < 200; n++) {
      const b = r.bytes(r.int(2, 3000) & ~1)
      const mid = r.int(0, b.length >> 1) * 2
      expect(finish(sum16(b, mid, b.length, sum16(b, 0, mid)))).toBe(checksum(b, 0, b.length))
    }
  })

  it("checksum: sumWords and sum32 add pseudo-header words", () => {
    expect(finish(sumWords(0, 0x1234, 0x5678))).toBe(~(0x1234 + 0x5678) & 0xffff)
    expect(sumWords(0, 0x1_0001)).toBe(1) // only the low 16 bits of each word count
    expect(finish(sum32(0, 0x0a00020f))).toBe(~(0x0a00 + 0x020f) & 0xffff)
  })

  it("checksum: every captured IPv4 header verifies to 0", () => {
    for (const name of ["icmp-echo-request", "icmp-echo-reply", "udp-request", "icmp-port-unreachable", "icmp-time-exceeded", "ipv4-rr-request", "ipv4-rr-reply", "frag-request-1", "frag-request-3"]) {
      const f = golden(name)
      const ihl = (f[14]! & 0x0f) * 4
      expect(checksum(f, 14, 14 + ihl), name).toBe(0)
    }
  })

  it("checksum: recomputing a captured header's checksum gives tshark's value", () => {
    // decoded.txt: icmp-echo-request Header Checksum 0x2edc, ipv4-rr-request (IHL 15) 0xf019.
    for (const [name, want] of [["icmp-echo-request", 0x2edc], ["ipv4-rr-request", 0xf019]] as const) {
      const f = golden(name)
      const ihl = (f[14]! & 0x0f) * 4
      expect(get16(f, 24)).toBe(want)
      put16(f, 24, 0)
      expect(checksum(f, 14, 14 + ihl)).toBe(want)
    }
  })
})

describe("incremental update (RFC 1624)", () => {
  it("update16: RFC 1624 §4 example (HC 0xdd2f, m 0x5555 -> 0x3285) gives 0x0000", () => {
    // RFC 1624 §4: eqn. 3 yields 0x0000 where eqn. 2 of RFC 1141 gave 0xffff.
    expect(update16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000)
  })

  it("update16: TTL decrement on a captured header matches a full recompute", () => {
    const f = golden("icmp-echo-request")
    const old = get16(f, 24)
    const oldWord = get16(f, 22) // TTL | protocol
    f[22] = f[22]! - 1
    const incr = update16(old, oldWord, get16(f, 22))
    put16(f, 24, 0)
    expect(incr).toBe(checksum(f, 14, 34))
  })

  it("update32: rewriting the source address (NAT) matches a full recompute", () => {
    const f = golden("udp-request")
    const old = get16(f, 24)
    const oldSrc = ((f[26]! << 24) | (f[27]! << 16) | (f[28]! << 8) | f[29]!) >>> 0
    const newSrc = 0x7f000001
    f.set([127, 0, 0, 1], 26)
    const incr = update32(old, oldSrc, newSrc)
    put16(f, 24, 0)
    expect(incr).toBe(checksum(f, 14, 34))
  })

  it("update16/update32: random headers and rewrites agree with a full recompute (seeded)", () => {
    const r = rng(1624)
    for (let n = 0; n < 5000; n++) {
      const h = r.bytes(20)
      put16(h, 10, 0)
      put16(h, 10, checksum(h, 0, 20))
      const at = r.int(0, 9) * 2
      if (at === 10) continue
      const oldWord = get16(h, at)
      const newWord = n % 10 === 0 ? 0xffff - oldWord : r.int(0, 0xffff)
      const incr = update16(get16(h, 10), oldWord, newWord)
      put16(h, at, newWord)
      put16(h, 10, 0)
      const full = checksum(h, 0, 20)
      // Exact equality, not "same value mod one's complement zero": eqn. 3 must not produce the
      // 0xffff/-0 that RFC 1141's eqn. 2 produced.
      expect(incr, `seed 1624 case ${n}`).toBe(full)
      put16(h, 10, incr)
      expect(checksum(h, 0, 20)).toBe(0)
    }
  })
})
