import { describe, expect, it } from "vitest"
import { createSlabAllocator, freshFrames, LINK_HEADROOM } from "../../../src/protocol/ethernet/frame-buffer.ts"
import { finish, sum16 } from "../../../src/protocol/wire/checksum.ts"
import { rng } from "../wire/prng.ts"

describe("frame buffers for the guest", () => {
  const slab = createSlabAllocator()
  const allocFrame = slab.frame
  const hasLinkHeadroom = slab.hasLinkHeadroom
  it("allocFrame: zero-filled, exact length, even address, headroom before it, no byte shared (seeded sizes up to 65549)", () => {
    const r = rng(2026)
    const seen = new Map<ArrayBufferLike, Array<readonly [number, number]>>()
    for (let n = 0; n < 3000; n++) {
      const len = n % 50 === 0 ? r.int(16000, 65549) : r.int(60, 1514)
      const f = allocFrame(len)
      expect(f.length).toBe(len)
      expect(f.byteOffset % 2, `case ${n}`).toBe(0)
      expect(f.every((b) => b === 0)).toBe(true)
      expect(hasLinkHeadroom(f)).toBe(true)
      // The frame plus its headroom overlaps no earlier frame plus headroom.
      const spans = seen.get(f.buffer) ?? []
      const lo = f.byteOffset - LINK_HEADROOM
      const hi = f.byteOffset + len
      for (const [a, b] of spans) expect(hi <= a || lo >= b, `case ${n} overlaps`).toBe(true)
      spans.push([lo, hi])
      seen.set(f.buffer, spans)
      f.fill(0xee) // a later frame must still start zeroed
    }
  })

  it("allocFrame: frames of even length follow each other with exactly the headroom between them", () => {
    const a = allocFrame(1514)
    const b = allocFrame(1514)
    if (a.buffer === b.buffer) expect(b.byteOffset).toBe(a.byteOffset + a.length + LINK_HEADROOM)
    else expect(b.byteOffset).toBe(LINK_HEADROOM)
  })

  it("hasLinkHeadroom: false for ordinary buffers and for views inside a frame", () => {
    expect(hasLinkHeadroom(new Uint8Array(100))).toBe(false)
    expect(hasLinkHeadroom(new Uint8Array(new ArrayBuffer(100), 8, 50))).toBe(false)
    const f = allocFrame(200)
    expect(hasLinkHeadroom(f)).toBe(true)
  })

  it("two slab allocators share nothing: one's frames have no headroom for the other", () => {
    const other = createSlabAllocator()
    const f = other.frame(100)
    expect(other.hasLinkHeadroom(f)).toBe(true)
    expect(hasLinkHeadroom(f)).toBe(false)
  })

  it("words: the latest frame's whole slab as 32-bit words (same memory), nothing for any other frame", () => {
    const a = createSlabAllocator()
    const f = a.frame(1514)
    const w = a.words?.(f)
    expect(w).toBeDefined()
    expect(w!.buffer).toBe(f.buffer)
    expect(w!.byteOffset).toBe(0)
    f[f.length - 4] = 0xab
    expect(new Uint8Array(w!.buffer, w!.byteOffset, w!.byteLength)[f.byteOffset + f.length - 4]).toBe(0xab)
    const g = a.frame(60)
    expect(a.words?.(f)).toBeUndefined() // not the latest any more
    expect(a.words?.(g)).toBe(w) // same slab, same view
    expect(a.words?.(g.subarray(2))).toBeUndefined()
    expect(a.words?.(new Uint8Array(60))).toBeUndefined()
    // A frame too large for the current slab starts a new one, with a view of its own.
    const big = a.frame(2 * 1024 * 1024)
    expect(a.words?.(big)?.buffer).toBe(big.buffer)
    expect(a.words?.(big)).not.toBe(w)
  })

  it("sum16 with the slab's words equals sum16 without, for every length, offset and accumulator (seeded)", () => {
    const a = createSlabAllocator()
    const r = rng(77)
    for (let n = 0; n < 2000; n++) {
      const f = a.frame(r.int(60, 3000))
      for (let i = 0; i < f.length; i++) f[i] = r.int(0, 255)
      const start = r.int(0, 40)
      const end = r.int(start, f.length)
      const acc = r.int(0, 0xfffff)
      // Reference: RFC 1071 byte pairs, folded.
      let ref = acc
      for (let i = start; i < end; i += 2) ref += (f[i]! << 8) | (i + 1 < end ? f[i + 1]! : 0)
      expect(finish(sum16(f, start, end, acc, a.words?.(f))), `case ${n}`).toBe(finish(ref))
      expect(finish(sum16(f, start, end, acc)), `case ${n}`).toBe(finish(ref))
    }
  })

  it("freshFrames: zero-filled, exact length, even address, never headroom", () => {
    for (const len of [1, 60, 1514, 65549]) {
      const f = freshFrames.frame(len)
      expect(f.length).toBe(len)
      expect(f.byteOffset % 2).toBe(0)
      expect(f.every((b) => b === 0)).toBe(true)
      expect(freshFrames.hasLinkHeadroom(f)).toBe(false)
    }
  })
})
