/**
 * The send buffer of one connection (host data not yet acknowledged by the guest): a list of
 * chunks the buffer owns (`HostTcpData.data`, handed over by the runtime), never concatenated.
 *
 * `read(offset, len)` returns a view into one chunk when the range lies inside it (the common
 * case: host reads are large); a range across chunks is copied into one new array, the only
 * copy. Small chunks (< `SMALL_CHUNK`) are copied into a shared tail buffer so that a host that
 * writes one byte at a time cannot make the chunk list long.
 *
 * Mutable by design: it belongs to exactly one connection record, which the layer owns
 * linearly (see layer.ts). `drop` removes acknowledged bytes from the front.
 */

const SMALL_CHUNK = 1024
const TAIL_CAPACITY = 16 * 1024

export interface SendBuffer {
  chunks: Array<Uint8Array>
  /** Index of the first live chunk (chunks before it are dropped; compacted lazily). */
  head: number
  /** Bytes of `chunks[head]` already dropped. */
  headOffset: number
  /** Live bytes. */
  length: number
  /** A partly filled owned buffer at the end of `chunks` (its live prefix is `tailUsed`). */
  tail: Uint8Array | undefined
  tailUsed: number
  /** Cache for sequential reads: chunk index and its start offset (relative to live data). */
  cursorIndex: number
  cursorStart: number
}

export const createSendBuffer = (): SendBuffer => ({
  chunks: [],
  head: 0,
  headOffset: 0,
  length: 0,
  tail: undefined,
  tailUsed: 0,
  cursorIndex: 0,
  cursorStart: 0,
})

/** Appends `data`, taking ownership of it. */
export const append = (b: SendBuffer, data: Uint8Array): void => {
  const n = data.length
  if (n === 0) return
  if (n < SMALL_CHUNK) {
    if (b.tail !== undefined && b.tailUsed + n <= b.tail.length) {
      b.tail.set(data, b.tailUsed)
      b.tailUsed += n
      b.chunks[b.chunks.length - 1] = b.tail.subarray(0, b.tailUsed)
      b.length += n
      return
    }
    b.tail = new Uint8Array(TAIL_CAPACITY)
    b.tail.set(data, 0)
    b.tailUsed = n
    b.chunks.push(b.tail.subarray(0, n))
    b.length += n
    return
  }
  b.tail = undefined
  b.tailUsed = 0
  b.chunks.push(data)
  b.length += n
}

/** Drops `n` bytes from the front (acknowledged data). */
export const drop = (b: SendBuffer, n: number): void => {
  let rest = Math.min(n, b.length)
  b.length -= rest
  while (rest > 0) {
    const c = b.chunks[b.head]!
    const left = c.length - b.headOffset
    if (rest < left) {
      b.headOffset += rest
      rest = 0
      break
    }
    rest -= left
    b.head++
    b.headOffset = 0
  }
  if (b.head >= b.chunks.length) {
    b.chunks.length = 0
    b.head = 0
    b.tail = undefined
    b.tailUsed = 0
  } else if (b.head > 32 && b.head * 2 > b.chunks.length) {
    b.chunks = b.chunks.slice(b.head)
    b.head = 0
  }
  b.cursorIndex = b.head
  b.cursorStart = 0
}

/** Bytes [offset, offset + len) of the live data: a view when inside one chunk, else a copy. */
export const read = (b: SendBuffer, offset: number, len: number): Uint8Array => {
  // Find the chunk containing `offset`, starting from the cursor when it is not past it.
  let idx = b.head
  let start = 0
  if (b.cursorIndex >= b.head && b.cursorIndex < b.chunks.length && b.cursorStart <= offset) {
    idx = b.cursorIndex
    start = b.cursorStart
  }
  for (;;) {
    const c = b.chunks[idx]!
    const live = idx === b.head ? c.length - b.headOffset : c.length
    if (offset < start + live) break
    start += live
    idx++
  }
  b.cursorIndex = idx
  b.cursorStart = start
  const c = b.chunks[idx]!
  const base = idx === b.head ? b.headOffset : 0
  const from = base + (offset - start)
  if (from + len <= c.length) return c.subarray(from, from + len)
  const out = new Uint8Array(len)
  let got = c.length - from
  out.set(c.subarray(from), 0)
  let i = idx + 1
  while (got < len) {
    const d = b.chunks[i++]!
    const take = Math.min(d.length, len - got)
    out.set(take === d.length ? d : d.subarray(0, take), got)
    got += take
  }
  return out
}
