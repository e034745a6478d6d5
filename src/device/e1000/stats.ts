/** Statistics helpers with QEMU's saturation (e1000x_inc_reg_if_not_full and friends). */

export const incStat = (r: Uint32Array, i: number): void => {
  if (r[i] !== 0xffffffff) r[i] = r[i]! + 1
}

/** A 64-bit low/high pair that saturates at 2^64-1. */
export const growPair = (r: Uint32Array, lo: number, n: number): void => {
  const l = r[lo]! + n
  if (l <= 0xffffffff) {
    r[lo] = l
    return
  }
  if (r[lo + 1] === 0xffffffff) {
    r[lo] = 0xffffffff
    return
  }
  r[lo] = l - 0x100000000
  r[lo + 1] = r[lo + 1]! + 1
}

/** Size buckets: 64, 65-127, 128-255, 256-511, 512-1023, >1023 (below 64: none). */
export const incSizeStat = (r: Uint32Array, regs: ReadonlyArray<number>, size: number): void => {
  if (size > 1023) incStat(r, regs[5]!)
  else if (size > 511) incStat(r, regs[4]!)
  else if (size > 255) incStat(r, regs[3]!)
  else if (size > 127) incStat(r, regs[2]!)
  else if (size > 64) incStat(r, regs[1]!)
  else if (size === 64) incStat(r, regs[0]!)
}
