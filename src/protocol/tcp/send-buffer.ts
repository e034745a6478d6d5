/**
 * The send buffer of one connection (host data not yet acknowledged by the guest): an
 * immutable sequence of byte views. `append` and `drop` return a new buffer and never write to
 * the buffer they were given nor to any byte in it, so every older connection record that holds
 * a buffer still reads the same bytes.
 *
 * Chunks are the host's data as handed over (`HostTcpData.data` belongs to the stack from the
 * event on and nobody writes it afterwards), never concatenated: `read(offset, len)` returns a
 * view into one chunk when the range lies inside it (the common case: host reads are large);
 * a range across chunks is copied into one new array, the only copy. A small chunk
 * (< `SMALL_CHUNK`) appended after a small last chunk is merged with it into a FRESH array, so
 * a host that writes one byte at a time cannot make the chunk list long (at most one copy of
 * under 2 * `SMALL_CHUNK` bytes per small append).
 *
 * `ends[i]` is the offset just past chunk i, counted from the first byte ever appended (the
 * "origin"); `start` is the origin offset of the first live byte. A read finds its chunk by
 * binary search, so no read cursor needs to be kept (and written) in state.
 */

const SMALL_CHUNK = 1024

export interface SendBuffer {
  readonly chunks: ReadonlyArray<Uint8Array>
  /** Origin offset just past each chunk (ascending). */
  readonly ends: ReadonlyArray<number>
  /** Origin offset of the first live byte (inside `chunks[0]`, or the end when empty). */
  readonly start: number
  /** Live bytes. */
  readonly length: number
}

const EMPTY: SendBuffer = Object.freeze({ chunks: Object.freeze([]), ends: Object.freeze([]), start: 0, length: 0 })

export const createSendBuffer = (): SendBuffer => EMPTY

/** `b` with `data` appended (the buffer keeps a reference to `data`, which nobody writes). */
export const append = (b: SendBuffer, data: Uint8Array): SendBuffer => {
  const n = data.length
  if (n === 0) return b
  const last = b.chunks.length - 1
  const end = last < 0 ? b.start : b.ends[last]!
  if (n < SMALL_CHUNK && last >= 0 && b.chunks[last]!.length < SMALL_CHUNK) {
    // Merge two small pieces into a fresh array (the old chunk is left as it was).
    const prev = b.chunks[last]!
    const merged = new Uint8Array(prev.length + n)
    merged.set(prev, 0)
    merged.set(data, prev.length)
    const chunks = b.chunks.slice()
    chunks[last] = merged
    const ends = b.ends.slice()
    ends[last] = end + n
    return { chunks, ends, start: b.start, length: b.length + n }
  }
  return { chunks: [...b.chunks, data], ends: [...b.ends, end + n], start: b.start, length: b.length + n }
}

/** `b` without its first `n` bytes (acknowledged data). */
export const drop = (b: SendBuffer, n: number): SendBuffer => {
  const k = Math.min(n, b.length)
  if (k <= 0) return b
  if (k === b.length) return EMPTY
  const start = b.start + k
  let i = 0
  while (b.ends[i]! <= start) i++
  // The first live chunk keeps its full extent: `start` says how much of it is gone.
  return { chunks: i === 0 ? b.chunks : b.chunks.slice(i), ends: i === 0 ? b.ends : b.ends.slice(i), start, length: b.length - k }
}

/** Index of the chunk holding origin offset `at` (binary search over `ends`). */
const chunkAt = (b: SendBuffer, at: number): number => {
  let lo = 0
  let hi = b.ends.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (b.ends[mid]! <= at) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Bytes [offset, offset + len) of the live data: a view when inside one chunk, else a copy. */
export const read = (b: SendBuffer, offset: number, len: number): Uint8Array => {
  const at = b.start + offset
  let i = chunkAt(b, at)
  const c = b.chunks[i]!
  const chunkStart = b.ends[i]! - c.length
  const from = at - chunkStart
  if (from + len <= c.length) return c.subarray(from, from + len)
  const out = new Uint8Array(len)
  let got = c.length - from
  out.set(c.subarray(from), 0)
  while (got < len) {
    const d = b.chunks[++i]!
    const take = Math.min(d.length, len - got)
    out.set(take === d.length ? d : d.subarray(0, take), got)
    got += take
  }
  return out
}
