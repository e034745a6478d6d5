/**
 * Little-endian byte writing and reading for the recording format (format.ts).
 *
 * Contract: neutral (no `node:*`), so recordings are written and read in any runtime.
 * `ByteWriter` appends to chunks it allocates itself and never keeps a caller's array: bytes
 * written with `bytes` are copied, which is what a recording needs (a runtime may reuse a
 * frame's buffer once the event is reduced). It may also write one record at a time straight into
 * memory an `InPlace` offers (a file's O_DIRECT staging buffer), which then needs no second copy.
 * `ByteReader` throws `Truncated` when a read runs past the end; the decoder turns that into
 * "the recording ends mid-record".
 */

import type { StreamCopy } from "./stream-copy.ts"

/** Chunks are this large unless one record needs more: few chunks, few write calls. */
const CHUNK_BYTES = 256 * 1024

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/**
 * Memory outside the writer where a record can be written where it will stay: the staging buffer
 * of an O_DIRECT file (append-direct.ts), so the bytes are copied once, not into the writer's
 * chunks first.
 */
export interface InPlace {
  /**
   * Where in `buffer` at least `n` bytes may be written (all of it from there to its end is
   * free), or -1 when not now; the caller then writes the ordinary way.
   */
  reserve(n: number): number
  /** The memory the last `reserve` spoke of (it may change from one `reserve` to the next). */
  readonly buffer: Uint8Array
  /** A DataView of exactly `buffer` (its byte 0 is `buffer[0]`), made once per buffer by the owner. */
  readonly view: DataView
  /** The `n` bytes from where `reserve` said are written: they follow everything written before. */
  commit(n: number): void
  /**
   * Set when the CPU never reads `buffer` again (an O_DIRECT stage) and the addon can copy
   * around the cache (stream-copy.ts): large payloads go in with it instead of `buffer.set`.
   */
  readonly streamCopy?: StreamCopy | undefined
}

export class ByteWriter {
  private chunk: Uint8Array
  private view: DataView
  private used = 0
  private sealed: Array<Uint8Array> = []
  /** Bytes written since the last `take`. */
  pending = 0
  private slotView: DataView | undefined
  private slotAt = 0
  private slotStart = 0

  private readonly chunkBytes: number

  /**
   * While a record is written in place (`beginInPlace`): where to, where it starts, and the
   * writer's own chunk, view and fill to go back to (the target's view is its own `view`).
   */
  private target: InPlace | undefined
  private targetStart = 0
  private ownChunk: Uint8Array
  private ownView: DataView
  private ownUsed = 0

  constructor(chunkBytes: number = CHUNK_BYTES) {
    this.chunkBytes = chunkBytes
    this.chunk = new Uint8Array(chunkBytes)
    this.view = new DataView(this.chunk.buffer)
    this.ownChunk = this.chunk
    this.ownView = this.view
  }

  /**
   * Views handed out by `take` and not yet given back, by the memory they view; and whole
   * chunks free for reuse. A chunk is reused only when nothing handed out still views it.
   */
  private readonly lent = new Map<ArrayBufferLike, number>()
  private free: Array<Uint8Array> = []

  /** Makes room for `n` contiguous bytes at `used`. */
  private room(n: number): void {
    if (this.used + n <= this.chunk.length) return
    if (this.target !== undefined) return this.spill(n)
    if (this.used > 0) this.sealed.push(this.chunk.subarray(0, this.used))
    const reuse = n <= this.chunkBytes ? this.free.pop() : undefined
    this.chunk = reuse ?? new Uint8Array(Math.max(this.chunkBytes, n))
    this.view = new DataView(this.chunk.buffer)
    this.used = 0
  }

  /**
   * Writes what follows, one record of at most `bound` bytes, straight into `target` when it has
   * room and nothing written before still waits here (it would land after the record); returns
   * whether. `endInPlace` ends the record. One that outgrows the room after all (its bound was
   * wrong) moves to the writer's own chunks and goes out with `take` as usual: a wrong bound
   * costs a copy, never bytes.
   */
  beginInPlace(target: InPlace, bound: number): boolean {
    if (this.pending > 0 || this.target !== undefined) return false
    const at = target.reserve(bound)
    if (at < 0) return false
    this.ownChunk = this.chunk
    this.ownView = this.view
    this.ownUsed = this.used
    this.target = target
    this.targetStart = at
    this.chunk = target.buffer
    this.view = target.view
    this.used = at
    return true
  }

  /** The record begun in place is whole: it is committed to the target (nothing if none was begun, or it moved here). */
  endInPlace(): void {
    const target = this.target
    if (target === undefined) return
    const n = this.used - this.targetStart
    this.leaveTarget()
    this.pending -= n
    target.commit(n)
  }

  private leaveTarget(): void {
    this.target = undefined
    this.chunk = this.ownChunk
    this.view = this.ownView
    this.used = this.ownUsed
  }

  /** The record in place needs `n` more bytes than the target has: it continues in the writer's own chunk. */
  private spill(n: number): void {
    const start = this.targetStart
    const sofar = this.chunk.subarray(start, this.used)
    const slotHere = this.slotView !== undefined && this.slotView === this.view
    this.leaveTarget()
    this.room(sofar.length + n)
    this.chunk.set(sofar, this.used)
    if (slotHere) {
      this.slotView = this.view
      this.slotAt = this.used + (this.slotAt - start)
    }
    this.used += sofar.length
  }

  /**
   * The sink is done with `chunks` (views `take` returned): their memory may be written again.
   * A sink that writes synchronously gives them back at once, and the writer then starts over
   * at the beginning of its chunk: a recording allocates nothing per record.
   */
  giveBack(chunks: ReadonlyArray<Uint8Array>): void {
    for (const c of chunks) {
      const n = (this.lent.get(c.buffer) ?? 1) - 1
      if (n > 0) {
        this.lent.set(c.buffer, n)
        continue
      }
      this.lent.delete(c.buffer)
      if (c.buffer === this.chunk.buffer) {
        // The chunk being written: start it over if nothing is waiting in it.
        if (this.used === 0 && this.sealed.length === 0) {
          this.chunk = new Uint8Array(c.buffer)
          this.view = new DataView(this.chunk.buffer)
        }
      } else if (c.buffer.byteLength === this.chunkBytes && this.free.length < 8 && !this.sealed.some((x) => x.buffer === c.buffer)) {
        this.free.push(new Uint8Array(c.buffer))
      }
    }
  }

  u8(v: number): void {
    this.room(1)
    this.chunk[this.used++] = v
    this.pending += 1
  }

  u16(v: number): void {
    this.room(2)
    this.view.setUint16(this.used, v, true)
    this.used += 2
    this.pending += 2
  }

  u32(v: number): void {
    this.room(4)
    this.view.setUint32(this.used, v >>> 0, true)
    this.used += 4
    this.pending += 4
  }

  f64(v: number): void {
    this.room(8)
    this.view.setFloat64(this.used, v, true)
    this.used += 8
    this.pending += 8
  }

  /** A u32 length, then the bytes (copied). */
  bytes(b: Uint8Array): void {
    this.u32(b.length)
    this.raw(b)
  }

  raw(b: Uint8Array): void {
    this.room(b.length)
    this.chunk.set(b, this.used)
    this.used += b.length
    this.pending += b.length
  }

  /** A u32 byte length, then UTF-8. */
  str(s: string): void {
    this.bytes(utf8.encode(s))
  }

  /** A presence byte, then the number as f64 when present. */
  optF64(v: number | undefined): void {
    if (v === undefined) return this.u8(0)
    this.u8(1)
    this.f64(v)
  }

  optStr(v: string | undefined): void {
    if (v === undefined) return this.u8(0)
    this.u8(1)
    this.str(v)
  }

  /**
   * Reserves a u32 to be filled by `closeLength` with the number of bytes written in between (a
   * record's body length). One at a time: records do not nest.
   */
  openLength(): void {
    this.room(4)
    this.slotView = this.view
    this.slotAt = this.used
    this.used += 4
    this.pending += 4
    this.slotStart = this.pending
  }

  closeLength(): void {
    this.slotView!.setUint32(this.slotAt, this.pending - this.slotStart, true)
    this.slotView = undefined
  }

  /**
   * Everything written since the last call, as views of the writer's chunks (not written
   * again until `giveBack` says the sink is done with them).
   */
  take(): Array<Uint8Array> {
    const out = this.sealed
    for (const c of out) this.lent.set(c.buffer, (this.lent.get(c.buffer) ?? 0) + 1)
    if (this.used > 0) {
      this.lent.set(this.chunk.buffer, (this.lent.get(this.chunk.buffer) ?? 0) + 1)
      out.push(this.chunk.subarray(0, this.used))
      this.chunk = this.chunk.subarray(this.used)
      this.view = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength)
      this.used = 0
      if (this.chunk.length < 4096) {
        this.chunk = new Uint8Array(this.chunkBytes)
        this.view = new DataView(this.chunk.buffer)
      }
    }
    this.sealed = []
    this.pending = 0
    return out
  }
}

/** Concatenates chunks (tests, and small encodings such as one event's effects). */
export const concatBytes = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  let n = 0
  for (const c of chunks) n += c.length
  const out = new Uint8Array(n)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

export class Truncated extends Error {}

export class ByteReader {
  private readonly view: DataView
  readonly buf: Uint8Array
  readonly end: number
  offset: number

  constructor(buf: Uint8Array, offset = 0, end = buf.length) {
    this.buf = buf
    this.end = end
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.offset = offset
  }

  private need(n: number): number {
    const at = this.offset
    if (at + n > this.end) throw new Truncated(`needs ${n} bytes at ${at}, ${this.end - at} left`)
    this.offset = at + n
    return at
  }

  get remaining(): number {
    return this.end - this.offset
  }

  u8(): number {
    return this.buf[this.need(1)]!
  }

  u16(): number {
    return this.view.getUint16(this.need(2), true)
  }

  u32(): number {
    return this.view.getUint32(this.need(4), true)
  }

  f64(): number {
    return this.view.getFloat64(this.need(8), true)
  }

  /** A view of the recording's bytes (not a copy: the recording is never written). */
  bytes(): Uint8Array {
    const n = this.u32()
    const at = this.need(n)
    return this.buf.subarray(at, at + n)
  }

  raw(n: number): Uint8Array {
    const at = this.need(n)
    return this.buf.subarray(at, at + n)
  }

  str(): string {
    return fromUtf8.decode(this.bytes())
  }

  optF64(): number | undefined {
    return this.u8() === 0 ? undefined : this.f64()
  }

  optStr(): string | undefined {
    return this.u8() === 0 ? undefined : this.str()
  }
}
