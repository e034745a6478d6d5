/**
 * Fresh byte arrays for one call of the reducer, cut from per-call chunks (the draft's arena).
 *
 * Why: every `new Uint8Array(n)` above 64 bytes is its own ArrayBuffer, and in Node 24 that
 * costs about as much as building a whole 1514-byte frame (measured: ~1.7 us each, against
 * ~0.05 us for a view of an existing buffer), plus the collections it brings. Transmit
 * frames and the TX buffer's 2 KiB leaves are therefore views of chunks allocated per call:
 * a call that sends one big frame allocates one 4 KiB chunk, a call that sends a batch a few
 * chunks that grow to 64 KiB. The same idea as the stack's slab allocator
 * (protocol/ethernet/frame-buffer.ts), kept in the draft because the reducer takes no
 * allocator and the device keeps no module-level state.
 *
 * Contract: `fresh(d, n)` returns a zero-filled array of exactly `n` bytes that no other call
 * of `fresh` (in this call or any other) returns any byte of, and that nothing else refers to.
 * Arrays of more than 64 bytes are views: they may share their ArrayBuffer with other arrays
 * from the same call (frames handed out, leaves kept in the successor state), so a holder may
 * write inside its view but must not reach around it through `.buffer`. Chunks are never
 * reused, so a view keeps its chunk alive (at most 64 KiB) while it is referenced. The
 * arena is draft-only, never in a state.
 */

export interface ArenaDraft {
  /** The chunk being cut in this call (none until the first big array). */
  arena: Uint8Array | undefined
  /** Bytes of `arena` already handed out. */
  arenaUsed: number
}

/** V8 keeps typed arrays of up to 64 bytes on its heap: cheaper than a view. */
const ON_HEAP_MAX = 64
/** The first chunk of a call: a 2 KiB TX leaf and a 1514-byte frame fit together. */
const FIRST_CHUNK = 4096
const MAX_CHUNK = 65536

export const fresh = (d: ArenaDraft, n: number): Uint8Array => {
  if (n <= ON_HEAP_MAX) return new Uint8Array(n)
  let a = d.arena
  // 8-byte aligned starts: the checksum sums aligned words faster (wire/checksum.ts)
  const at = (d.arenaUsed + 7) & ~7
  if (a === undefined || at + n > a.length) {
    const size = a === undefined ? FIRST_CHUNK : Math.min(2 * a.length, MAX_CHUNK)
    a = new Uint8Array(Math.max(n, size))
    d.arena = a
    d.arenaUsed = n
    return n === a.length ? a : a.subarray(0, n)
  }
  d.arenaUsed = at + n
  return a.subarray(at, at + n)
}

/** A fresh copy of `src[from, to)`. */
export const copyOf = (d: ArenaDraft, src: Uint8Array, from: number, to: number): Uint8Array => {
  if (to - from <= ON_HEAP_MAX) {
    // `new` + `set` of a whole array is about twice as fast as `slice` (measured in Node 24);
    // a part of a small on-heap array is sliced (a view of it would move it off the heap)
    if (from !== 0 || to !== src.length) return src.slice(from, to)
    const out = new Uint8Array(to)
    out.set(src)
    return out
  }
  const out = fresh(d, to - from)
  out.set(from === 0 && to === src.length ? src : src.subarray(from, to))
  return out
}
