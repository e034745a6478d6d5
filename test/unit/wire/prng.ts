/** A seeded PRNG for property tests (mulberry32): reproducible, so a failure names its seed. */
export interface Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number
  /** Uniform integer in [lo, hi]. */
  readonly int: (lo: number, hi: number) => number
  readonly bytes: (n: number) => Uint8Array
  readonly shuffle: <T>(xs: ReadonlyArray<T>) => Array<T>
}

export const rng = (seed: number): Rng => {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1))
  const bytes = (n: number): Uint8Array => {
    const b = new Uint8Array(n)
    for (let i = 0; i < n; i++) b[i] = int(0, 255)
    return b
  }
  const shuffle = <T,>(xs: ReadonlyArray<T>): Array<T> => {
    const out = [...xs]
    for (let i = out.length - 1; i > 0; i--) {
      const j = int(0, i)
      const t = out[i]!
      out[i] = out[j]!
      out[j] = t
    }
    return out
  }
  return { next, int, bytes, shuffle }
}
