/**
 * QEMU's transmit assembly buffer (e1000_tx: `vlan[4]` then `data[64 KiB]`, contiguous), as
 * persistent leaves. Stale bytes persist between packets, as in QEMU.
 *
 * Positions are buffer offsets + 60, so `data` starts on a leaf. Two kinds of leaf:
 * - the head: four 64-byte leaves (positions 0..256: the vlan area and data[0..192), where
 *   headers, checksums and small frames are), the `txHead` array in the state. A 64-byte
 *   frame is exactly one leaf. V8 keeps typed arrays of up to 64 bytes on its heap: cheap to
 *   allocate and collect, so a small frame that replaces a head leaf costs almost nothing.
 * - the tail: 32 leaves of 2 KiB (data[192..) up to the end), the `txBuf` array. Frame
 *   bodies are copied into them with one `set` per leaf (a memcpy). 64-byte tail leaves were
 *   tried first: a 1514-byte frame then took 21 leaves, each its own allocation, ownership
 *   check and copy loop, and ran at a third of the speed of one flat buffer. A tail leaf copy
 *   is a view cut from the call's arena (arena.ts), made at most once per leaf per call.
 * A call copies only the leaves it writes (and the array above them), each at most once
 * (per-call bitmaps in the draft, never in a state); a write that covers a whole leaf replaces
 * it without copying the old one.
 *
 * Contract: reads and writes go through the draft; `bufRead` returns a fresh array (arena.ts's
 * contract: it shares its ArrayBuffer only with other fresh arrays of the call); nothing
 * reachable from a state is written. Offsets are within [0, TX_DATA + TX_DATA_SIZE).
 */
import { type ArenaDraft, copyOf, fresh } from "./arena.ts"

/** Offset of tx.data inside the buffer: QEMU keeps a 4-byte `vlan` area right before `data`. */
export const TX_DATA = 4
export const TX_DATA_SIZE = 0x10000
const TX_BUF_SIZE = TX_DATA + TX_DATA_SIZE

const HEAD_BITS = 6
const HEAD_SIZE = 1 << HEAD_BITS
const HEAD_MASK = HEAD_SIZE - 1
const HEAD_LEAVES = 4
/** Positions below this are in the head. */
const HEAD_END = HEAD_LEAVES * HEAD_SIZE
const HEAD_ARRAY = 1 << HEAD_LEAVES // txHeadOwned: the head array itself
const TAIL_ARRAY = 1 << (HEAD_LEAVES + 1) // txHeadOwned: the tail array itself
const TAIL_BITS = 11
const TAIL_SIZE = 1 << TAIL_BITS
const TAIL_MASK = TAIL_SIZE - 1
/** Buffer offset -> position: `data` starts on a leaf. */
const SHIFT = HEAD_SIZE - TX_DATA
const TAIL_LEAVES = Math.ceil((TX_BUF_SIZE + SHIFT - HEAD_END) / TAIL_SIZE) // 32: one bit each in txTailOwned

export interface TxBufView {
  readonly txHead: ReadonlyArray<Uint8Array>
  readonly txBuf: ReadonlyArray<Uint8Array>
}
export interface TxBufDraft extends ArenaDraft {
  txHead: ReadonlyArray<Uint8Array>
  /** bits 0..3: head leaf copied in this call; bit 4: the head array; bit 5: the tail array */
  txHeadOwned: number
  txBuf: ReadonlyArray<Uint8Array>
  /** bit k: tail leaf k copied (or put) by this call */
  txTailOwned: number
}

export const zeroTxHead = (): ReadonlyArray<Uint8Array> => {
  const zero = new Uint8Array(HEAD_SIZE)
  return [zero, zero, zero, zero]
}
export const zeroTxBuf = (): ReadonlyArray<Uint8Array> => {
  const zero = new Uint8Array(TAIL_SIZE) // shared by every slot: never written
  const tail: Array<Uint8Array> = []
  for (let i = 0; i < TAIL_LEAVES; i++) tail.push(zero)
  return tail
}

/** The leaf holding position `p`, and where `p` is in it. */
const leafAt = (d: TxBufView, p: number): Uint8Array =>
  p < HEAD_END ? d.txHead[p >>> HEAD_BITS]! : d.txBuf[(p - HEAD_END) >>> TAIL_BITS]!
const offIn = (p: number): number => (p < HEAD_END ? p & HEAD_MASK : (p - HEAD_END) & TAIL_MASK)
const sizeAt = (p: number): number => (p < HEAD_END ? HEAD_SIZE : TAIL_SIZE)

/** Whether the leaf at `p` is this call's own (copied or put by it): so this call may write it. */
const ownedAt = (d: TxBufDraft, p: number): boolean =>
  p < HEAD_END
    ? (d.txHeadOwned & (1 << (p >>> HEAD_BITS))) !== 0
    : (d.txTailOwned & (1 << ((p - HEAD_END) >>> TAIL_BITS))) !== 0

/** Puts `fresh` (allocated by this call) at `p`'s leaf, owned from now on. */
const replaceAt = (d: TxBufDraft, p: number, fresh: Uint8Array): void => {
  if (p < HEAD_END) {
    if ((d.txHeadOwned & HEAD_ARRAY) === 0) d.txHead = d.txHead.slice()
    const li = p >>> HEAD_BITS
    ;(d.txHead as Array<Uint8Array>)[li] = fresh
    d.txHeadOwned |= HEAD_ARRAY | (1 << li)
    return
  }
  if ((d.txHeadOwned & TAIL_ARRAY) === 0) d.txBuf = d.txBuf.slice()
  const li = (p - HEAD_END) >>> TAIL_BITS
  ;(d.txBuf as Array<Uint8Array>)[li] = fresh
  d.txHeadOwned |= TAIL_ARRAY
  d.txTailOwned |= 1 << li
}

/** A copy of the leaf at `p` (tail leaves from the call's arena). */
const copyLeaf = (d: TxBufDraft, p: number): Uint8Array => {
  const leaf = leafAt(d, p)
  return copyOf(d, leaf, 0, leaf.length)
}

const writableAt = (d: TxBufDraft, p: number): Uint8Array => {
  if (!ownedAt(d, p)) replaceAt(d, p, copyLeaf(d, p))
  return leafAt(d, p)
}

export const bufGet = (d: TxBufView, i: number): number => {
  const p = i + SHIFT
  return leafAt(d, p)[offIn(p)]!
}

export const bufSet = (d: TxBufDraft, i: number, v: number): void => {
  const p = i + SHIFT
  writableAt(d, p)[offIn(p)] = v
}

/** Copies `src` to offset `at`. */
export const bufWrite = (d: TxBufDraft, at: number, src: Uint8Array): void => {
  for (let done = 0; done < src.length; ) {
    const p = at + done + SHIFT
    const off = offIn(p)
    const size = sizeAt(p)
    const n = Math.min(size - off, src.length - done)
    if (!ownedAt(d, p)) {
      // a whole leaf not yet ours is replaced (no copy of the old one)
      if (n === size) {
        replaceAt(d, p, copyOf(d, src, done, done + size))
        done += n
        continue
      }
      replaceAt(d, p, copyLeaf(d, p))
    }
    const leaf = leafAt(d, p)
    if (n === src.length) leaf.set(src, off)
    // a view of the source and `set`: a 64-byte byte loop costs twice as much (measured); the
    // source is the host's bytes or a header copy, off V8's heap already, so a view of it is
    // cheap (a view of a small on-heap array would move its bytes off the heap)
    else leaf.set(src.subarray(done, done + n), off)
    done += n
  }
}

/** A fresh copy of `length` bytes at `at` (arena.ts `fresh`: a view when over 64 bytes). */
export const bufRead = (d: TxBufView & ArenaDraft, at: number, length: number): Uint8Array => {
  const p0 = at + SHIFT
  const off0 = offIn(p0)
  if (off0 + length <= sizeAt(p0)) return copyOf(d, leafAt(d, p0), off0, off0 + length)
  const out = fresh(d, length)
  for (let done = 0; done < length; ) {
    const p = p0 + done
    const off = offIn(p)
    const size = sizeAt(p)
    const n = Math.min(size - off, length - done)
    const leaf = leafAt(d, p)
    if (n === size) out.set(leaf, done)
    else if (size === TAIL_SIZE) out.set(leaf.subarray(off, off + n), done)
    // a byte loop: `subarray` of a small on-heap leaf would move its bytes off the heap
    else for (let j = 0; j < n; j++) out[done + j] = leaf[off + j]!
    done += n
  }
  return out
}
