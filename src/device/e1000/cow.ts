/**
 * Chunked copy-on-write for the register file: a persistent table root -> mids -> leaves
 * (types.ts `Table`). (The TX buffer has its own two-level scheme, tx-buffer.ts.)
 *
 * Contract: a `Cow` is a per-call writer over a table taken from a state. The first write to a
 * leaf in a call copies the root, the mid and the leaf on its path (each at most once per call)
 * and later writes in the same call go straight to the copies. Which pieces this call copied is
 * tracked here, in the writer, never in a state: the table handed back (`c.table`) shares every
 * untouched piece with the old one, and nothing reachable from the old table is written.
 * Piece sizes are the caller's (regfile.ts), chosen by measuring: at these sizes
 * the cost is the number of allocations, not the bytes, so the writer allocates nothing but
 * the copies for the first two mids and four leaves of a call (inline slots, then a list).
 */
import type { Leaf, Mid, Table } from "./types.ts"

export interface Cow {
  /** The current table: the input one until the first write, then this call's copy. */
  table: Table
  rootOwned: boolean
  /** Mids and leaves copied by this call. */
  mid0: Mid | undefined
  mid1: Mid | undefined
  leaf0: Leaf | undefined
  leaf1: Leaf | undefined
  leaf2: Leaf | undefined
  leaf3: Leaf | undefined
  more: Array<Mid | Leaf> | undefined
}

export const cowOf = (table: Table): Cow => ({
  table,
  rootOwned: false,
  mid0: undefined,
  mid1: undefined,
  leaf0: undefined,
  leaf1: undefined,
  leaf2: undefined,
  leaf3: undefined,
  more: undefined,
})

const ownsMid = (c: Cow, m: Mid): boolean => m === c.mid0 || m === c.mid1 || (c.more !== undefined && c.more.includes(m))
/** Whether this call already copied (or put) leaf `l`: so this call may write it. */
export const ownsLeaf = (c: Cow, l: Leaf): boolean =>
  l === c.leaf0 || l === c.leaf1 || l === c.leaf2 || l === c.leaf3 || (c.more !== undefined && c.more.includes(l))

const addMid = (c: Cow, m: Mid): void => {
  if (c.mid0 === undefined) c.mid0 = m
  else if (c.mid1 === undefined) c.mid1 = m
  else (c.more ?? (c.more = [])).push(m)
}
const addLeaf = (c: Cow, l: Leaf): void => {
  if (c.leaf0 === undefined) c.leaf0 = l
  else if (c.leaf1 === undefined) c.leaf1 = l
  else if (c.leaf2 === undefined) c.leaf2 = l
  else if (c.leaf3 === undefined) c.leaf3 = l
  else (c.more ?? (c.more = [])).push(l)
}

/** The root and the mid `mi`, owned by this call; returns the mid. */
const ownPath = (c: Cow, mi: number): Array<Leaf> => {
  let root = c.table as Array<Mid>
  if (!c.rootOwned) {
    root = root.slice()
    c.table = root
    c.rootOwned = true
  }
  let mid = root[mi]!
  if (!ownsMid(c, mid)) {
    mid = mid.slice()
    root[mi] = mid
    addMid(c, mid)
  }
  return mid as Array<Leaf>
}

/** The leaf at [mi][li], writable: copied first unless this call already copied it. */
export const writableLeaf = <L extends Leaf>(c: Cow, mi: number, li: number): L => {
  const leaf = c.table[mi]![li]! as L
  if (ownsLeaf(c, leaf)) return leaf
  const copy = leaf.slice() as unknown as L
  ownPath(c, mi)[li] = copy
  addLeaf(c, copy)
  return copy
}

/** Puts a leaf allocated by the caller in this call at [mi][li] (the old one is not copied). */
export const replaceLeaf = (c: Cow, mi: number, li: number, fresh: Leaf): void => {
  ownPath(c, mi)[li] = fresh
  addLeaf(c, fresh)
}

/** A table of `mids` x `perMid` leaves, all the one `zero` leaf (never written: shared). */
export const zeroTable = (mids: number, perMid: number, zero: Leaf): Table => {
  const mid: Array<Leaf> = []
  for (let i = 0; i < perMid; i++) mid.push(zero)
  const root: Array<Mid> = []
  for (let i = 0; i < mids; i++) root.push(mid)
  return root
}
