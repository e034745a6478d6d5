import { describe, expect, it } from "vitest"
import { createSlabAllocator, freshFrames, LINK_HEADROOM } from "../../../src/protocol/ethernet/frame-buffer.ts"
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
