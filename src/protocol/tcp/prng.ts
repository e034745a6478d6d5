/**
 * The TCP layer's seeded PRNG (mulberry32): initial sequence numbers and timestamp offsets.
 * Deterministic so that tests and replays are reproducible; the runtime seeds it from a secure
 * source. Not cryptographic: RFC 6528's keyed hash would resist off-path ISN guessing better,
 * but the only path to us is the guest's own link.
 */

/** Returns the next 32-bit value and the next state. */
export const nextRandom = (state: number): readonly [number, number] => {
  const s = (state + 0x6d2b79f5) | 0
  let t = Math.imul(s ^ (s >>> 15), 1 | s)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return [(t ^ (t >>> 14)) >>> 0, s]
}
