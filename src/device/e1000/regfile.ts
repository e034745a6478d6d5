/**
 * The BAR0 register file (32768 words: registers and packet buffer memory), persistent.
 *
 * The words the frame paths touch are gathered by a fixed permutation of word positions
 * (`SLOT`) into five 16-word "hot" leaves kept near the top of the state (`hot`): what every
 * received frame changes (ICR, ICS, RDH, the receive statistics), what every transmitted frame
 * changes (TDH, the transmit statistics), what some frames change, and the configuration read
 * on every frame (RCTL, TCTL, ring bases, RA[0], ...). All other words live in a table
 * (cow.ts) of 16-word leaves, 64 per mid, 32 mids. A frame then copies one 16-word leaf and
 * the 5-slot array above it (about 170 bytes) and reads its configuration with two loads;
 * measured with the bench, the bytes allocated and the loads per call decide the frame rate.
 *
 * Contract: `rg` reads; `rs` writes through the draft, copying a hot leaf or the table's path
 * on its first write in the call (per-call marks and writer, never in a state); nothing
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
const HOT_BITS = 4
const HOT_LEAF = 1 << HOT_BITS
const HOT_LEAVES = 5
const HOT_ARRAY = 1 << HOT_LEAVES // ownership bit of the `hot` array itself

/** The hot words, one list per hot leaf. */
const HOT: ReadonlyArray<ReadonlyArray<number>> = [
  // what every received frame changes (BPRC/MPRC in the filter, the rest when it is stored)
  [R.ICR, R.ICS, R.RDH, R.TPR, R.TORL, R.TORH, R.GPRC, R.GORCL, R.GORCH, R.BPRC, R.MPRC, R.PRC64, R.PRC127,
    R.PRC255, R.PRC511, R.PRC1522],
  // what every transmitted frame changes (setIcs runs once per TDT write)
  [R.TDH, R.TDT, R.TPT, R.TOTL, R.TOTH, R.GPTC, R.GOTCL, R.GOTCH, R.PTC64, R.PTC127, R.PTC255, R.PTC511,
    R.PTC1023, R.PTC1522, R.BPTC, R.MPTC],
  // what some frames change
  [R.PRC1023, R.RNBC, R.MPC, R.ROC, R.TSCTC],
  // read on every frame
  [R.RCTL, R.TCTL, R.CTRL, R.STATUS, R.IMS, R.VET, R.RDBAL, R.RDBAH, R.RDLEN, R.RDT, R.TDBAL, R.TDBAH, R.TDLEN,
    R.RDTR, R.RADV, R.TADV],
  [R.ITR, R.RA, R.RA + 1],
]

/** Register index -> slot: a permutation that moves HOT[k] to slots [16k, 16k + 16). */
const SLOT: Uint16Array = (() => {
  const slot = new Uint16Array(R.REG_WORDS) // slot of register i
  const at = new Uint16Array(R.REG_WORDS) // register at slot j
  for (let i = 0; i < R.REG_WORDS; i++) slot[i] = at[i] = i
  HOT.forEach((words, leaf) =>
    words.forEach((reg, k) => {
      // swap the register now at slot `to` with `reg`
      const to = leaf * HOT_LEAF + k
      const other = at[to]!
      const from = slot[reg]!
      at[to] = reg
      slot[reg] = to
      at[from] = other
      slot[other] = from
    }),
  )
  return slot
})()

/** What reads need (a state or a draft). */
export interface RegView {
  readonly hot: ReadonlyArray<ReadonlyArray<number>>
  readonly regs: Table
}

/** What writes need: the draft's copies and its per-call ownership marks. */
export interface RegDraft {
  hot: ReadonlyArray<ReadonlyArray<number>>
  /** bits 0..4: hot leaf copied in this call; bit 5: the `hot` array itself */
  hotOwned: number
  regs: Table
  regsCow: Cow | undefined
}

/**
 * The slot of a hot register, for the frame paths' direct reads and writes (`hg`, `hs`): no
 * permutation lookup, no branch. Throws at load time if `reg` is not hot.
 */
export const hotSlot = (reg: number): number => {
  const j = SLOT[reg]!
  if (j >= HOT_LEAVES * HOT_LEAF) throw new Error(`regfile: register ${reg} is not hot`)
  return j
}

/** Hot word at `slot` (from `hotSlot`). */
export const hg = (d: RegView, slot: number): number => d.hot[slot >>> HOT_BITS]![slot & (HOT_LEAF - 1)]!

/** Writes hot word at `slot` (from `hotSlot`), copying its leaf on the first write in the call. */
export const hs = (d: RegDraft, slot: number, v: number): void => {
  const k = slot >>> HOT_BITS
  if ((d.hotOwned & (1 << k)) === 0) {
    if ((d.hotOwned & HOT_ARRAY) === 0) d.hot = d.hot.slice()
    ;(d.hot as Array<ReadonlyArray<number>>)[k] = d.hot[k]!.slice()
    d.hotOwned |= HOT_ARRAY | (1 << k)
  }
  ;(d.hot[k] as Array<number>)[slot & (HOT_LEAF - 1)] = v >>> 0
}

/** The slot of register `i` (hot slots are below `HOT_SLOTS`). */
export const slotOf = (i: number): number => SLOT[i]!
export const HOT_SLOTS = HOT_LEAVES * HOT_LEAF

/** Word `i` (0 <= i < 32768). */
export const rg = (d: RegView, i: number): number => {
  const j = SLOT[i]!
  if (j < HOT_LEAVES * HOT_LEAF) return d.hot[j >>> HOT_BITS]![j & (HOT_LEAF - 1)]!
  return (d.regs[j >>> MID_SHIFT]![(j >>> LEAF_BITS) & MID_MASK] as ReadonlyArray<number>)[j & LEAF_MASK]!
}

export const rs = (d: RegDraft, i: number, v: number): void => {
  const j = SLOT[i]!
  if (j < HOT_LEAVES * HOT_LEAF) {
    hs(d, j, v)
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
export const zeroHot = (): ReadonlyArray<ReadonlyArray<number>> => Array.from({ length: HOT_LEAVES }, () => zeroWords(HOT_LEAF))
