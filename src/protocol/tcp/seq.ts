/**
 * TCP sequence number arithmetic (RFC 9293 §3.4): 32-bit values compared modulo 2^32.
 * Every sequence number kept in state is a uint32 (`>>> 0`); comparisons go through these
 * helpers so that wrap-around is never handled ad hoc.
 */

/** `a + n` modulo 2^32. */
export const seqAdd = (a: number, n: number): number => (a + n) >>> 0

/** Signed distance `a - b` in (-2^31, 2^31]. */
export const seqDiff = (a: number, b: number): number => (a - b) | 0

export const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0
export const seqLe = (a: number, b: number): boolean => ((a - b) | 0) <= 0
export const seqGt = (a: number, b: number): boolean => ((a - b) | 0) > 0
export const seqGe = (a: number, b: number): boolean => ((a - b) | 0) >= 0

export const seqMax = (a: number, b: number): number => (seqGt(a, b) ? a : b)
export const seqMin = (a: number, b: number): number => (seqLt(a, b) ? a : b)

/** `lo <= x < hi` modulo 2^32. */
export const seqInWindow = (x: number, lo: number, hi: number): boolean => seqLe(lo, x) && seqLt(x, hi)
