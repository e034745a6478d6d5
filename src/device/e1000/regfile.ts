/**
 * The BAR0 register file (32768 words: registers and packet buffer memory), persistent.
 *
 * The words a frame changes are gathered by a fixed permutation of word positions (`SLOT`)
 * into two 16-word "hot" leaves kept right in the state: what a received frame changes (ICR,
 * ICS, RDH, the receive statistics) in `rxHot`, what a transmitted frame changes (TDH, the
 * transmit statistics) in `txHot`. All other words live in a table (cow.ts) of 16-word leaves,
 * 64 per mid, 32 mids. A frame then copies one 16-word leaf (about 140 bytes) and nothing
 * else; measured with the bench, the bytes allocated per call decide the frame rate.
 *
 * Contract: `rg` reads; `rs` writes through the draft, copying a hot leaf or the table's path
 * on its first write in the call (per-call flags and writer, never in a state); nothing
 * reachable from a state is written. Words are uint32: `rs` stores `v >>> 0`, the wrap a
 * Uint32Array would apply.
 */
import { type Cow, cowOf, writableLeaf, zeroTable } from "./cow.ts"
import * as R from "./regs.ts"
import type { Table } from "./types.ts"

const LEAF_BITS = 4
const LEAF_MASK = (1 << LEAF_BITS) - 1
const MID_BITS = 6
const MID_MASK = (1 << MID_BITS) - 1
const MID_SHIFT = LEAF_BITS + MID_BITS
const HOT_WORDS = 16

/** The hot words, placed at slots 0..31 in this order: rxHot, then txHot. */
const HOT: ReadonlyArray<number> = [
  // receive (setIcs runs per received frame)
  R.ICR, R.ICS, R.RDH, R.RDT, R.TPR, R.TORL, R.TORH, R.GPRC, R.GORCL, R.GORCH, R.PRC64, R.PRC127, R.PRC1522, R.BPRC, R.MPRC, R.IMS,
  // transmit (setIcs runs once per TDT write)
  R.TDH, R.TDT, R.TPT, R.TOTL, R.TOTH, R.GPTC, R.GOTCL, R.GOTCH, R.PTC64, R.PTC127, R.PTC1522, R.BPTC, R.MPTC, R.TSCTC, R.STATUS, R.TCTL,
]

/** Register index -> slot: a permutation that moves HOT to slots 0..31. */
const SLOT: Uint16Array = (() => {
  const slot = new Uint16Array(R.REG_WORDS) // slot of register i
  const at = new Uint16Array(R.REG_WORDS) // register at slot j
  for (let i = 0; i < R.REG_WORDS; i++) slot[i] = at[i] = i
  HOT.forEach((reg, k) => {
    // swap the register now at slot k with `reg`
    const other = at[k]!
    const j = slot[reg]!
    at[k] = reg
    slot[reg] = k
    at[j] = other
    slot[other] = j
  })
  return slot
})()

/** What reads need (a state or a draft). */
export interface RegView {
  readonly rxHot: ReadonlyArray<number>
  readonly txHot: ReadonlyArray<number>
  readonly regs: Table
}

/** What writes need: the draft's copies and its per-call ownership marks. */
export interface RegDraft {
  rxHot: ReadonlyArray<number>
  rxHotOwned: boolean
  txHot: ReadonlyArray<number>
  txHotOwned: boolean
  regs: Table
  regsCow: Cow | undefined
}

/** Word `i` (0 <= i < 32768). */
export const rg = (d: RegView, i: number): number => {
  const j = SLOT[i]!
  if (j < HOT_WORDS) return d.rxHot[j]!
  if (j < 2 * HOT_WORDS) return d.txHot[j - HOT_WORDS]!
  return (d.regs[j >>> MID_SHIFT]![(j >>> LEAF_BITS) & MID_MASK] as ReadonlyArray<number>)[j & LEAF_MASK]!
}

export const rs = (d: RegDraft, i: number, v: number): void => {
  const j = SLOT[i]!
  if (j < HOT_WORDS) {
    if (!d.rxHotOwned) {
      d.rxHot = d.rxHot.slice()
      d.rxHotOwned = true
    }
    ;(d.rxHot as Array<number>)[j] = v >>> 0
  } else if (j < 2 * HOT_WORDS) {
    if (!d.txHotOwned) {
      d.txHot = d.txHot.slice()
      d.txHotOwned = true
    }
    ;(d.txHot as Array<number>)[j - HOT_WORDS] = v >>> 0
  } else {
    const c = d.regsCow ?? (d.regsCow = cowOf(d.regs))
    writableLeaf<Array<number>>(c, j >>> MID_SHIFT, (j >>> LEAF_BITS) & MID_MASK)[j & LEAF_MASK] = v >>> 0
    d.regs = c.table
  }
}

/**
 * `n` zero words as an array of doubles from the start (V8's PACKED_DOUBLE_ELEMENTS): words
 * above 2^30 are not small integers, and a leaf that changed kind on such a write would be
 * reallocated and make reads polymorphic.
 */
export const zeroWords = (n: number): Array<number> => {
  const zero = [0.5]
  zero[0] = 0
  while (zero.length < n) zero.push(0)
  return zero
}

/** The cold words, all zero (one shared zero leaf until written). */
export const zeroRegFile = (): Table => zeroTable(R.REG_WORDS >>> MID_SHIFT, 1 << MID_BITS, zeroWords(1 << LEAF_BITS))
export const zeroHot = (): ReadonlyArray<number> => zeroWords(HOT_WORDS)
