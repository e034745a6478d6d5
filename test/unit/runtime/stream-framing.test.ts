import { describe, expect, it } from "vitest"
import { encodeFrame, MAX_FRAME_LENGTH, StreamDecoder } from "../../../src/runtime/link/stream-framing.ts"

const frame = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)
const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}
const decodeChunks = (chunks: ReadonlyArray<Uint8Array>): { frames: Array<Uint8Array>; problem: string | undefined } => {
  const d = new StreamDecoder()
  const frames: Array<Uint8Array> = []
  let problem: string | undefined
  for (const c of chunks) {
    problem = d.push(c, (f) => frames.push(f.slice()))
    if (problem !== undefined) break
  }
  return { frames, problem }
}

describe("QEMU stream framing (4-byte big-endian length, then the frame)", () => {
  const frames = [frame(60, 1), frame(1514, 2), frame(42, 3), frame(MAX_FRAME_LENGTH, 4)]
  const stream = concat(frames.map(encodeFrame))

  it("encodes the length big-endian", () => {
    expect([...encodeFrame(frame(0x0102, 0)).subarray(0, 4)]).toEqual([0, 0, 1, 2])
  })
  it("several frames in one chunk", () => {
    expect(decodeChunks([stream]).frames).toEqual(frames)
  })
  it("every split point of the stream into two chunks", () => {
    // Splits inside headers, inside bodies and on boundaries.
    const small = frames.slice(0, 3)
    const bytes = concat(small.map(encodeFrame))
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { frames: got } = decodeChunks([bytes.subarray(0, cut), bytes.subarray(cut)])
      expect(got.map((f) => [f.length, f[0]])).toEqual(small.map((f) => [f.length, f[0]]))
    }
  })
  it("one byte at a time", () => {
    const small = concat([frame(60, 9), frame(61, 8)].map(encodeFrame))
    const chunks = [...small].map((b) => Uint8Array.of(b))
    expect(decodeChunks(chunks).frames).toEqual([frame(60, 9), frame(61, 8)])
  })
  it("a frame wholly inside one chunk is passed as a view, not a copy", () => {
    const chunk = encodeFrame(frame(60, 5))
    let seen: Uint8Array | undefined
    new StreamDecoder().push(chunk, (f) => {
      seen = f
    })
    expect(seen?.buffer).toBe(chunk.buffer)
  })
  it("holds back an incomplete frame until the rest arrives", () => {
    const d = new StreamDecoder()
    const out: Array<Uint8Array> = []
    const bytes = encodeFrame(frame(100, 7))
    d.push(bytes.subarray(0, 50), (f) => out.push(f))
    expect(out).toEqual([])
    expect(d.buffered).toBe(50)
    d.push(bytes.subarray(50), (f) => out.push(f))
    expect(out).toEqual([frame(100, 7)])
    expect(d.buffered).toBe(0)
  })
  it("the largest legal frame (65535+14) is accepted", () => {
    expect(decodeChunks([encodeFrame(frame(MAX_FRAME_LENGTH, 1))]).problem).toBeUndefined()
  })
  it("length 0 is refused", () => {
    expect(decodeChunks([Uint8Array.of(0, 0, 0, 0)]).problem).toBe(`frame length 0 is outside 1..${MAX_FRAME_LENGTH}`)
  })
  it("length above 65535+14 is refused, even when it arrives split", () => {
    const { problem, frames: got } = decodeChunks([concat([encodeFrame(frame(60, 1)), Uint8Array.of(0, 1)]), Uint8Array.of(0, 14)])
    expect(got).toEqual([frame(60, 1)])
    expect(problem).toBe(`frame length 65550 is outside 1..${MAX_FRAME_LENGTH}`)
    expect(decodeChunks([Uint8Array.of(0xff, 0xff, 0xff, 0xff)]).problem).toBe(`frame length 4294967295 is outside 1..${MAX_FRAME_LENGTH}`)
  })
})
