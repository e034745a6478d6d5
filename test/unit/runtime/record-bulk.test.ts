/**
 * The recorder's direct encoding of its two bulk events (format.ts `writeBulkRecord`) writes
 * exactly the bytes of the general encoder (`encodeEvent` through a ByteWriter), at any offset,
 * for empty and large payloads, odd times and socket numbers; and reads back as the same event.
 */
import { describe, expect, it } from "vitest"
import { socketId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { ByteWriter, concatBytes } from "../../../src/runtime/record/bytes.ts"
import { type BulkEvent, bulkRecordBytes, encodeEvent, writeBulkRecord } from "../../../src/runtime/record/format.ts"

const payload = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 0xff)

const general = (e: BulkEvent): Uint8Array => {
  const w = new ByteWriter()
  encodeEvent(w, e)
  return concatBytes(w.take())
}

const cases: Array<BulkEvent> = [
  { _tag: "FrameFromGuest", now: instant(0), frame: payload(0, 1) },
  { _tag: "FrameFromGuest", now: instant(1.25), frame: payload(60, 2) },
  { _tag: "FrameFromGuest", now: instant(1_733_000_123.456789), frame: payload(1514, 3) },
  { _tag: "FrameFromGuest", now: instant(7), frame: payload(65_549, 4) },
  { _tag: "HostTcpData", now: instant(0.5), sock: socketId(0), data: payload(1, 5) },
  { _tag: "HostTcpData", now: instant(99.999), sock: socketId(7), data: payload(65_536, 6) },
  { _tag: "HostTcpData", now: instant(3), sock: socketId(0x8000_0005), data: payload(3000, 7) },
]

describe("bulk records written in place", () => {
  for (const e of cases) {
    const len = e._tag === "FrameFromGuest" ? e.frame.length : e.data.length
    it(`${e._tag} of ${len} bytes at t=${e.now}: the general encoder's bytes, at offsets 0 and 3`, () => {
      const want = general(e)
      expect(bulkRecordBytes(e)).toBe(want.length)
      for (const at of [0, 3]) {
        const buf = new Uint8Array(at + want.length + 5).fill(0xcc)
        const view = new DataView(buf.buffer)
        expect(writeBulkRecord(view, buf, at, e)).toBe(want.length)
        expect(Buffer.from(buf.subarray(at, at + want.length)).equals(Buffer.from(want))).toBe(true)
        // Nothing outside the record is touched.
        expect(buf.subarray(0, at).every((b) => b === 0xcc)).toBe(true)
        expect(buf.subarray(at + want.length).every((b) => b === 0xcc)).toBe(true)
      }
    })
  }
})

describe("bulk records with a place's streamCopy", () => {
  /** A streamCopy stand-in that copies like the addon's and notes each length it was given. */
  const copying = (calls: Array<number>) => (dst: Uint8Array, at: number, src: Uint8Array, n: number): number => {
    calls.push(n)
    dst.set(src.subarray(0, n), at)
    return 0
  }
  /** One that refuses (the addon's -1: nothing copied). */
  const refusing = (calls: Array<number>) => (_dst: Uint8Array, _at: number, _src: Uint8Array, n: number): number => {
    calls.push(n)
    return -1
  }
  for (const e of cases) {
    const len = e._tag === "FrameFromGuest" ? e.frame.length : e.data.length
    it(`${e._tag} of ${len} bytes: the same bytes; the copy is asked for payloads of 4096 bytes or more only; a refused copy falls back`, () => {
      const want = general(e)
      for (const make of [copying, refusing]) {
        const calls: Array<number> = []
        const buf = new Uint8Array(want.length + 8).fill(0xcc)
        expect(writeBulkRecord(new DataView(buf.buffer), buf, 5, e, make(calls))).toBe(want.length)
        expect(Buffer.from(buf.subarray(5, 5 + want.length)).equals(Buffer.from(want))).toBe(true)
        expect(buf.subarray(0, 5).every((b) => b === 0xcc) && buf.subarray(5 + want.length).every((b) => b === 0xcc)).toBe(true)
        expect(calls).toEqual(len >= 4096 ? [len] : [])
      }
    })
  }
})
