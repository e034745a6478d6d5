/**
 * The addon's `streamCopy` (native/stream_copy.c, record/stream-copy.ts): the non-temporal copy
 * `--pcap` moves its gathered records with. Every byte lands where an ordinary copy puts it, at
 * any alignment of either side and any length around the 16-byte stores and the 64-byte loop;
 * bad arguments copy nothing. The addon is built by .ci/run, so its absence fails here rather
 * than letting the capture tests pass on the ordinary path unnoticed.
 */
import { describe, expect, it } from "vitest"
import { streamCopy } from "../../../src/runtime/record/stream-copy.ts"

const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 13 + 1) & 0xff)

describe("streamCopy", () => {
  const copy = streamCopy()
  it("is offered by the addon", () => {
    expect(copy).toBeDefined()
  })
  it("copies exactly src[0, n) to dst[at, at + n) for every alignment and lengths around 16 and 64, touching nothing else", () => {
    const lengths = [0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 1514, 4099, 65_549]
    const backing = new Uint8Array(70_000 + 64)
    for (const n of lengths) {
      for (let srcShift = 0; srcShift < 16; srcShift += 5) {
        const src = pattern(n + srcShift, n).subarray(srcShift)
        for (let at = 0; at < 64; at += n > 4099 ? 21 : 1) {
          const dst = backing.subarray(3)
          dst.fill(0xa5)
          expect(copy!(dst, at, src, n)).toBe(0)
          const want = new Uint8Array(dst.length).fill(0xa5)
          want.set(src.subarray(0, n), at)
          expect(Buffer.from(dst).equals(Buffer.from(want)), `n=${n} at=${at} srcShift=${srcShift}`).toBe(true)
        }
      }
    }
  })
  it("copies nothing and answers -1 when a range falls outside its array or an argument is wrong", () => {
    const dst = new Uint8Array(100).fill(1)
    const src = new Uint8Array(50).fill(2)
    const bad: Array<[unknown, unknown, unknown, unknown]> = [
      [dst, 60, src, 41], // past dst's end
      [dst, 0, src, 51], // longer than src
      [dst, -1, src, 1],
      [dst, 0, src, -1],
      [dst, 101, src, 0],
      [new Uint16Array(50), 0, src, 1],
      [dst, 0, new Float64Array(4), 1],
      [{}, 0, src, 1],
    ]
    for (const [d, at, s, n] of bad) {
      expect((copy as unknown as (...a: Array<unknown>) => number)(d, at, s, n)).toBe(-1)
    }
    expect(dst.every((b) => b === 1)).toBe(true)
    expect(copy!(dst, 50, src, 50)).toBe(0)
    expect(dst.subarray(50).every((b) => b === 2)).toBe(true)
  })
})
