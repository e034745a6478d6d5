/**
 * Statistics helpers with QEMU's saturation (e1000x_inc_reg_if_not_full and friends), on the
 * draft's register file (writes copy on write, regfile.ts).
 */
import { hg, HOT_SLOTS, hs, type RegDraft, rg, rs, slotOf } from "./regfile.ts"

export const incStat = (d: RegDraft, i: number): void => {
  const j = slotOf(i)
  if (j < HOT_SLOTS) {
    // the statistics a frame counts are hot: one lookup for the read and the write
    const v = hg(d, j)
    if (v !== 0xffffffff) hs(d, j, v + 1)
    return
  }
  const v = rg(d, i)
  if (v !== 0xffffffff) rs(d, i, v + 1)
}

/** A 64-bit low/high pair that saturates at 2^64-1. */
export const growPair = (d: RegDraft, lo: number, n: number): void => {
  const j = slotOf(lo)
  if (j < HOT_SLOTS) {
    // the common case (the frame counters' low words are hot): one lookup, no carry
    const l = hg(d, j) + n
    if (l <= 0xffffffff) {
      hs(d, j, l)
      return
    }
  }
  const l = rg(d, lo) + n
  if (l <= 0xffffffff) {
    rs(d, lo, l)
    return
  }
  const hi = rg(d, lo + 1)
  if (hi === 0xffffffff) {
    rs(d, lo, 0xffffffff)
    return
  }
  rs(d, lo, l - 0x100000000)
  rs(d, lo + 1, hi + 1)
}

/** Size buckets: 64, 65-127, 128-255, 256-511, 512-1023, >1023 (below 64: none). */
export const incSizeStat = (d: RegDraft, regs: ReadonlyArray<number>, size: number): void => {
  if (size > 1023) incStat(d, regs[5]!)
  else if (size > 511) incStat(d, regs[4]!)
  else if (size > 255) incStat(d, regs[3]!)
  else if (size > 127) incStat(d, regs[2]!)
  else if (size > 64) incStat(d, regs[1]!)
  else if (size === 64) incStat(d, regs[0]!)
}
