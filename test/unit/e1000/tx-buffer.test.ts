import { describe, expect, it } from "vitest"
import {
  bufGet,
  bufRead,
  bufSet,
  bufWrite,
  TX_DATA,
  TX_DATA_SIZE,
  type TxBufDraft,
  zeroTxBuf,
  zeroTxHead,
} from "../../../src/device/e1000/tx-buffer.ts"

const SIZE = TX_DATA + TX_DATA_SIZE

/** A small deterministic PRNG (xorshift32). */
const rng = (seed: number) => () => {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 0x100000000
}

interface Buf {
  readonly txHead: ReadonlyArray<Uint8Array>
  readonly txBuf: ReadonlyArray<Uint8Array>
}
const draftOf = (b: Buf): TxBufDraft => ({
  txHead: b.txHead,
  txHeadOwned: 0,
  txBuf: b.txBuf,
  txTailOwned: 0,
  arena: undefined,
  arenaUsed: 0,
})
const flat = (b: Buf): Uint8Array => bufRead(draftOf(b), 0, SIZE)

describe("e1000 TX buffer (tx-buffer.ts)", () => {
  it("reads back what was written, across head/tail and leaf boundaries, like one flat buffer", () => {
    const rand = rng(12345)
    let state: Buf = { txHead: zeroTxHead(), txBuf: zeroTxBuf() }
    const ref = new Uint8Array(SIZE)
    for (let call = 0; call < 60; call++) {
      const before = flat(state)
      const snapshot = structuredClone(state)
      const d = draftOf(state)
      // several writes per call: later ones hit leaves this call already owns
      for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) {
        const at = Math.floor(rand() * SIZE)
        const len = Math.min(SIZE - at, Math.floor(rand() * (rand() < 0.3 ? 9000 : 300)))
        const src = new Uint8Array(len)
        for (let i = 0; i < len; i++) src[i] = Math.floor(rand() * 256)
        bufWrite(d, at, rand() < 0.5 ? src : new Uint8Array(src.buffer.slice(0)).subarray(0, len))
        ref.set(src, at)
        const i = Math.floor(rand() * SIZE)
        const v = Math.floor(rand() * 256)
        bufSet(d, i, v)
        ref[i] = v
      }
      for (let k = 0; k < 20; k++) {
        const at = Math.floor(rand() * SIZE)
        const len = Math.min(SIZE - at, Math.floor(rand() * 3000))
        expect(bufRead(d, at, len)).toEqual(ref.subarray(at, at + len))
        expect(bufGet(d, at)).toBe(ref[at])
      }
      // the state the call started from is untouched
      expect(flat(state)).toEqual(before)
      expect(flat(state)).toEqual(flat(snapshot))
      state = { txHead: d.txHead, txBuf: d.txBuf }
      expect(flat(state)).toEqual(ref)
    }
  })

  it("a read is a fresh copy, not a view of a leaf", () => {
    const d = draftOf({ txHead: zeroTxHead(), txBuf: zeroTxBuf() })
    bufWrite(d, 100, new Uint8Array(3000).fill(7))
    for (const [at, len] of [[100, 10], [100, 3000], [2000, 100]] as const) {
      const r = bufRead(d, at, len)
      const other = bufRead(d, at, len) // cut from the same per-call chunk (arena.ts)
      r.fill(1)
      expect(other.every((x) => x === 7)).toBe(true)
      expect(bufRead(d, at, len).every((x) => x === 7)).toBe(true)
    }
  })
})
