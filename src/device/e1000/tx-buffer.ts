/**
 * QEMU's transmit assembly buffer (e1000_tx: `vlan[4]` then `data[64 KiB]`, contiguous), as
 * persistent 64-byte leaves. Stale bytes persist between packets, as in QEMU.
 *
 * Positions are buffer offsets + 60, so `data` starts on a leaf and a 64-byte frame is exactly
 * one leaf. The first four leaves (the vlan area and data[0..196): headers and small frames)
 * are the `txHead` array in the state; the rest is a table (cow.ts), 32 leaves per mid. A call
 * copies only the leaves it writes (and the head array, or the table's root and mid, above
 * them); a write that covers a whole leaf replaces it without copying the old one. Leaves are
 * 64-byte Uint8Arrays: V8 keeps typed arrays up to 64 bytes on its heap (larger ones get an
 * off-heap store that made garbage collection the main cost), and `set`/`slice` copy them.
 *
 * Contract: reads and writes go through the draft (per-call ownership marks, never in a
 * state); `bufRead` returns a fresh array; nothing reachable from a state is written.
 * Offsets are within [0, TX_DATA + TX_DATA_SIZE).
 */
import { type Cow, cowOf, ownsLeaf, replaceLeaf, writableLeaf, zeroTable } from "./cow.ts"
import type { Table } from "./types.ts"

/** Offset of tx.data inside the buffer: QEMU keeps a 4-byte `vlan` area right before `data`. */
export const TX_DATA = 4
export const TX_DATA_SIZE = 0x10000
const TX_BUF_SIZE = TX_DATA + TX_DATA_SIZE

const LEAF_BITS = 6
const LEAF_SIZE = 1 << LEAF_BITS
const LEAF_MASK = LEAF_SIZE - 1
const MID_BITS = 5
const MID_MASK = (1 << MID_BITS) - 1
const MID_SHIFT = LEAF_BITS + MID_BITS
const HEAD_LEAVES = 4
const HEAD_ARRAY = 1 << HEAD_LEAVES // ownership bit of the head array itself
/** Buffer offset -> position: `data` starts on a leaf. */
const SHIFT = LEAF_SIZE - TX_DATA

export interface TxBufView {
  readonly txHead: ReadonlyArray<Uint8Array>
  readonly txBuf: Table
}
export interface TxBufDraft {
  txHead: ReadonlyArray<Uint8Array>
  /** bits 0..3: head leaf copied in this call; bit 4: the head array itself */
  txHeadOwned: number
  txBuf: Table
  txBufCow: Cow | undefined
}

export const zeroTxHead = (): ReadonlyArray<Uint8Array> => {
  const zero = new Uint8Array(LEAF_SIZE)
  return [zero, zero, zero, zero]
}
export const zeroTxBuf = (): Table =>
  zeroTable(Math.ceil((TX_BUF_SIZE + SHIFT) / (1 << MID_SHIFT)), 1 << MID_BITS, new Uint8Array(LEAF_SIZE))

const leafAt = (d: TxBufView, p: number): Uint8Array => {
  const li = p >>> LEAF_BITS
  if (li < HEAD_LEAVES) return d.txHead[li]!
  return d.txBuf[p >>> MID_SHIFT]![li & MID_MASK] as Uint8Array
}

const ownHead = (d: TxBufDraft): Array<Uint8Array> => {
  if ((d.txHeadOwned & HEAD_ARRAY) === 0) {
    d.txHead = d.txHead.slice()
    d.txHeadOwned |= HEAD_ARRAY
  }
  return d.txHead as Array<Uint8Array>
}

const writableAt = (d: TxBufDraft, p: number): Uint8Array => {
  const li = p >>> LEAF_BITS
  if (li < HEAD_LEAVES) {
    if ((d.txHeadOwned & (1 << li)) === 0) {
      ownHead(d)[li] = d.txHead[li]!.slice()
      d.txHeadOwned |= 1 << li
    }
    return d.txHead[li]!
  }
  const c = d.txBufCow ?? (d.txBufCow = cowOf(d.txBuf))
  const leaf = writableLeaf<Uint8Array>(c, p >>> MID_SHIFT, li & MID_MASK)
  d.txBuf = c.table
  return leaf
}

/** Whether the leaf at `p` is this call's own (copied or put by it): writable in place. */
const ownedAt = (d: TxBufDraft, p: number): boolean => {
  const li = p >>> LEAF_BITS
  if (li < HEAD_LEAVES) return (d.txHeadOwned & (1 << li)) !== 0
  return d.txBufCow !== undefined && ownsLeaf(d.txBufCow, d.txBuf[p >>> MID_SHIFT]![li & MID_MASK]!)
}

const replaceAt = (d: TxBufDraft, p: number, fresh: Uint8Array): void => {
  const li = p >>> LEAF_BITS
  if (li < HEAD_LEAVES) {
    ownHead(d)[li] = fresh
    d.txHeadOwned |= 1 << li
    return
  }
  const c = d.txBufCow ?? (d.txBufCow = cowOf(d.txBuf))
  replaceLeaf(c, p >>> MID_SHIFT, li & MID_MASK, fresh)
  d.txBuf = c.table
}

export const bufGet = (d: TxBufView, i: number): number => {
  const p = i + SHIFT
  return leafAt(d, p)[p & LEAF_MASK]!
}

export const bufSet = (d: TxBufDraft, i: number, v: number): void => {
  const p = i + SHIFT
  writableAt(d, p)[p & LEAF_MASK] = v
}

/** Copies `src` to offset `at`. */
export const bufWrite = (d: TxBufDraft, at: number, src: Uint8Array): void => {
  for (let done = 0; done < src.length; ) {
    const p = at + done + SHIFT
    const off = p & LEAF_MASK
    const n = Math.min(LEAF_SIZE - off, src.length - done)
    // a whole leaf not yet ours is replaced (no copy of the old); otherwise written in place
    if (n === LEAF_SIZE && !ownedAt(d, p)) replaceAt(d, p, src.slice(done, done + LEAF_SIZE))
    else writableAt(d, p).set(n === src.length ? src : src.subarray(done, done + n), off)
    done += n
  }
}

/** A fresh copy of `length` bytes at `at`. */
export const bufRead = (d: TxBufView, at: number, length: number): Uint8Array => {
  const p0 = at + SHIFT
  const off0 = p0 & LEAF_MASK
  if (off0 + length <= LEAF_SIZE) return leafAt(d, p0).slice(off0, off0 + length)
  const out = new Uint8Array(length)
  for (let done = 0; done < length; ) {
    const p = p0 + done
    const off = p & LEAF_MASK
    const n = Math.min(LEAF_SIZE - off, length - done)
    const leaf = leafAt(d, p)
    if (n === LEAF_SIZE) out.set(leaf, done)
    // a byte loop: `subarray` of a small on-heap leaf would move its bytes off the heap
    else for (let j = 0; j < n; j++) out[done + j] = leaf[off + j]!
    done += n
  }
  return out
}
