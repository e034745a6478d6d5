import { describe, expect, it } from "vitest"
import { finish, sum16 } from "../../../src/protocol/wire/checksum.ts"
import { createSimdSum16 } from "../../../src/protocol/wire/checksum-simd.ts"
import { allocatorSum16, createSlabAllocator } from "../../../src/protocol/ethernet/frame-buffer.ts"
import { buildIpv4Frames } from "../../../src/protocol/ipv4/output.ts"
import { buildIpv6Frames } from "../../../src/protocol/ipv6/output.ts"
import { rng } from "./prng.ts"

/** RFC 1071 byte by byte, the carries folded as they come: the reference both sums must equal. */
const reference = (b: Uint8Array, start: number, end: number, acc: number): number => {
  let s = acc
  for (let i = start; i < end; i += 2) {
    s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0)
    if (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
  }
  return finish(s)
}

// Node 22.19+ has WebAssembly SIMD; a missing one would make every test here vacuous.
const simd = createSimdSum16()

describe("checksum-simd: sum16 with WebAssembly SIMD", () => {
  it("is available in this engine", () => {
    expect(simd).toBeTypeOf("function")
  })

  it("equals the reference for random buffers, offsets, lengths and accumulators (seeded)", () => {
    const s = simd!
    const r = rng(1071)
    // Lengths across the JS cut-over (128), the 32-byte padding, and pieces of 64 KiB.
    for (let n = 0; n < 3000; n++) {
      const size = n < 2000 ? r.int(0, 4000) : r.int(60000, 140000)
      const b = r.bytes(size + 7)
      const start = r.int(0, 7)
      const end = start + r.int(0, size)
      const acc = r.int(0, 0xfffff)
      expect(finish(s(b, start, end, acc))).toBe(reference(b, start, end, acc))
      expect(finish(s(b, start, end, acc))).toBe(finish(sum16(b, start, end, acc)))
    }
  })

  it("carries right when every lane is at its maximum (all 0xff, whole pieces and more)", () => {
    const s = simd!
    for (const size of [65536, 65536 + 31, 2 * 65536 + 2, 200_001]) {
      const b = new Uint8Array(size).fill(0xff)
      expect(finish(s(b, 0, size))).toBe(reference(b, 0, size, 0))
      expect(finish(s(b, 1, size))).toBe(reference(b, 1, size, 0))
    }
  })

  it("leaves no trace between calls (the padding after a long range is zeroed for a short one)", () => {
    const s = simd!
    const long = new Uint8Array(4096).fill(0xab)
    s(long, 0, long.length)
    const short = new Uint8Array(161).fill(0x01)
    expect(finish(s(short, 0, short.length))).toBe(reference(short, 0, short.length, 0))
  })

  it("builds the same frames through an allocator offering it as through one that does not (IPv4 and IPv6)", () => {
    const r = rng(9293)
    const withSimd = createSlabAllocator({ sum16: simd })
    const without = createSlabAllocator()
    for (let n = 0; n < 200; n++) {
      const header = r.bytes(20)
      header[16] = 0
      header[17] = 0
      const payload = r.bytes(r.int(0, 1460))
      const v4 = { _tag: "PacketToGuest" as const, family: 4 as const, src: 0x0a000202, dst: 0x0a00020f, protocol: 6, header, payload, checksumOffset: 16, pseudoHeader: true }
      const a = buildIpv4Frames(v4, n, 1500, withSimd)
      const b = buildIpv4Frames(v4, n, 1500, without)
      expect(a.ok && b.ok).toBe(true)
      if (a.ok && b.ok) expect(Array.from(a.frames[0]!)).toEqual(Array.from(b.frames[0]!))
      const addr = (last: number): Uint8Array => Uint8Array.from([0xfe, 0xc0, ...new Array<number>(13).fill(0), last])
      const v6 = { _tag: "PacketToGuest" as const, family: 6 as const, src: addr(2), dst: addr(15), protocol: 6, header, payload, checksumOffset: 16, pseudoHeader: true }
      const c = buildIpv6Frames(v6, n, 1500, withSimd)
      const d = buildIpv6Frames(v6, n, 1500, without)
      expect(c.ok && d.ok).toBe(true)
      if (c.ok && d.ok) expect(Array.from(c.frames[0]!)).toEqual(Array.from(d.frames[0]!))
    }
  })

  it("allocatorSum16 falls back to sum16 when the allocator offers no SIMD sum", () => {
    const b = rng(7).bytes(3000)
    const alloc = createSlabAllocator()
    expect(alloc.sum16).toBeUndefined()
    expect(finish(allocatorSum16(alloc, b, 3, 2999, 5))).toBe(reference(b, 3, 2999, 5))
  })
})
