/** The pieces under the reducer: sequence arithmetic, the send buffer, the SACK scoreboard (immutable values). */
import { describe, expect, it } from "vitest"
import { seqAdd, seqDiff, seqGt, seqInWindow, seqLt } from "../../../src/protocol/tcp/seq.ts"
import { append, createSendBuffer, drop, read } from "../../../src/protocol/tcp/send-buffer.ts"
import { addSackRange, createScoreboard, holeAt, holeBytes, sackBlocksFor, trimScoreboard } from "../../../src/protocol/tcp/sack.ts"
import { bytes } from "./fixtures.ts"

describe("sequence numbers (RFC 9293 §3.4)", () => {
  it("compare across the 2^32 wrap", () => {
    expect(seqLt(0xfffffff0, 5)).toBe(true)
    expect(seqGt(5, 0xfffffff0)).toBe(true)
    expect(seqAdd(0xfffffff0, 0x20)).toBe(0x10)
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20)
    expect(seqInWindow(2, 0xfffffffe, 10)).toBe(true)
    expect(seqInWindow(10, 0xfffffffe, 10)).toBe(false)
  })
})

describe("send buffer (an immutable sequence of views)", () => {
  it("a range inside one chunk is a view of that chunk (no copy)", () => {
    const c = bytes(5000)
    const b = append(createSendBuffer(), c)
    const v = read(b, 1000, 1460)
    expect(v.buffer).toBe(c.buffer)
    expect(v).toEqual(c.subarray(1000, 2460))
  })

  it("a range across chunks is copied once, in order", () => {
    const x = bytes(3000, 1)
    const y = bytes(3000, 2)
    const b = append(append(createSendBuffer(), x), y)
    const v = read(b, 2500, 1000)
    expect(v).toEqual(Uint8Array.from([...x.subarray(2500), ...y.subarray(0, 500)]))
  })

  it("drop removes acknowledged bytes from the front; offsets are relative to what remains", () => {
    const x = bytes(3000, 1)
    const y = bytes(3000, 2)
    const b = append(append(createSendBuffer(), x), y)
    const b1 = drop(b, 3100)
    expect(b1.length).toBe(2900)
    expect(read(b1, 0, 100)).toEqual(y.subarray(100, 200))
    const b2 = drop(b1, 2900)
    expect(b2.length).toBe(0)
    expect(b2.chunks).toHaveLength(0)
  })

  it("append and drop leave the buffer they were given as it was (old versions stay readable)", () => {
    const x = bytes(3000, 1)
    const y = bytes(700, 2)
    const z = bytes(500, 3)
    const b0 = Object.freeze(append(createSendBuffer(), x))
    const b1 = append(b0, y) // small after large: a new chunk
    const b2 = append(b1, z) // small after small: merged into a fresh array
    const b3 = drop(b2, 3100)
    expect(b0.length).toBe(3000)
    expect(read(b0, 0, 3000)).toEqual(x)
    expect(b1.length).toBe(3700)
    expect(read(b1, 2900, 800)).toEqual(Uint8Array.from([...x.subarray(2900), ...y]))
    expect(read(b2, 3000, 1200)).toEqual(Uint8Array.from([...y, ...z]))
    expect(read(b3, 0, 1100)).toEqual(Uint8Array.from([...y.subarray(100), ...z]))
    // The inputs were never written: the merge made a new array.
    expect(y).toEqual(bytes(700, 2))
    expect(b1.chunks[1]).toBe(y)
  })

  it("small writes are coalesced into fresh chunks of at least 1 KiB (a 1-byte writer cannot grow the chunk list)", () => {
    let b = createSendBuffer()
    const all: Array<number> = []
    for (let i = 0; i < 1000; i++) {
      const d = bytes(10, i)
      b = append(b, d)
      all.push(...d)
    }
    expect(b.chunks.length).toBeLessThanOrEqual(10)
    for (const c of b.chunks.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(1024)
    expect(read(b, 0, 10_000)).toEqual(Uint8Array.from(all))
  })

  it("random appends, drops and reads agree with a flat model, and every older version still reads as it did (seeded)", () => {
    let x = 12345
    const rnd = (n: number): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0
      return x % n
    }
    let b = createSendBuffer()
    let model: Array<number> = []
    const versions: Array<{ readonly b: ReturnType<typeof createSendBuffer>; readonly model: ReadonlyArray<number> }> = []
    for (let step = 0; step < 2000; step++) {
      const op = rnd(10)
      if (op < 5) {
        const d = bytes([1, 10, 700, 1023, 1024, 3000, 70_000][rnd(7)]!, step)
        b = append(b, d)
        model = [...model, ...d]
      } else if (op < 8) {
        const n = rnd(model.length + 1)
        b = drop(b, n)
        model = model.slice(n)
      } else if (model.length > 0) {
        const off = rnd(model.length)
        const len = 1 + rnd(Math.min(4000, model.length - off))
        expect(read(b, off, len)).toEqual(Uint8Array.from(model.slice(off, off + len)))
      }
      expect(b.length).toBe(model.length)
      if (step % 50 === 0) versions.push({ b, model })
    }
    for (const v of versions) {
      expect(v.b.length).toBe(v.model.length)
      if (v.model.length > 0) expect(read(v.b, 0, v.model.length)).toEqual(Uint8Array.from(v.model))
    }
  })

  it("sequential reads after drops stay correct", () => {
    let b = createSendBuffer()
    const parts = [bytes(2000, 1), bytes(100, 2), bytes(5000, 3), bytes(700, 4)]
    for (const p of parts) b = append(b, p)
    const flat = Uint8Array.from(parts.flatMap((p) => [...p]))
    let base = 0
    for (let off = 0; off + 536 <= flat.length - base; off += 536) expect(read(b, off, 536)).toEqual(flat.subarray(base + off, base + off + 536))
    b = drop(b, 1234)
    base = 1234
    for (let off = 0; off + 300 <= flat.length - base; off += 300) expect(read(b, off, 300)).toEqual(flat.subarray(base + off, base + off + 300))
    b = drop(b, 2000)
    base = 3234
    for (let off = 0; off + 300 <= flat.length - base; off += 300) expect(read(b, off, 300)).toEqual(flat.subarray(base + off, base + off + 300))
  })
})

describe("SACK scoreboard (RFC 6675)", () => {
  it("merges overlapping and adjacent blocks and counts SACKed bytes", () => {
    const sb0 = addSackRange(addSackRange(createScoreboard(), 200, 300), 500, 600)
    const sb = addSackRange(addSackRange(sb0, 300, 350), 550, 700)
    expect(sb.ranges).toEqual([200, 350, 500, 700])
    expect(sb.sacked).toBe(350)
    // The scoreboard given is never written: the older value still says what it said.
    expect(sb0.ranges).toEqual([200, 300, 500, 600])
    expect(sb0.sacked).toBe(200)
  })

  it("holes below the highest SACKed byte are found in order", () => {
    const sb = addSackRange(addSackRange(createScoreboard(), 200, 300), 500, 600)
    expect(holeAt(sb, 100, 1000)).toEqual([100, 100])
    expect(holeAt(sb, 250, 1000)).toEqual([300, 200])
    expect(holeAt(sb, 300, 50)).toEqual([300, 50])
    expect(holeAt(sb, 600, 1000)).toBeUndefined()
    expect(holeBytes(sb, 100, 600)).toBe(300)
  })

  it("a cumulative ACK trims the scoreboard", () => {
    const sb = addSackRange(addSackRange(createScoreboard(), 200, 300), 500, 600)
    const sb1 = trimScoreboard(sb, 250)
    expect(sb1.ranges).toEqual([250, 300, 500, 600])
    const sb2 = trimScoreboard(sb1, 600)
    expect(sb2.ranges).toEqual([])
    expect(sb2.sacked).toBe(0)
    expect(sb.ranges).toEqual([200, 300, 500, 600])
  })

  it("works across the sequence wrap", () => {
    const sb = addSackRange(addSackRange(createScoreboard(), 0xfffffff0, 0x10), 0x20, 0x30)
    expect(holeAt(sb, 0xffffffe0, 100)).toEqual([0xffffffe0, 0x10])
    expect(holeAt(sb, 0x10, 100)).toEqual([0x10, 0x10])
  })

  it("the receiver reports the block of the latest segment first, then the others from the highest (RFC 2018 §4)", () => {
    const ooo = [
      { seq: 100, data: new Uint8Array(10) },
      { seq: 110, data: new Uint8Array(10) },
      { seq: 200, data: new Uint8Array(10) },
      { seq: 300, data: new Uint8Array(10) },
      { seq: 400, data: new Uint8Array(10) },
    ]
    expect(sackBlocksFor(ooo, 200, 3)).toEqual([200, 210, 400, 410, 300, 310])
    expect(sackBlocksFor(ooo, 110, 4)).toEqual([100, 120, 400, 410, 300, 310, 200, 210])
  })
})
