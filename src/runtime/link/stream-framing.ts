/**
 * QEMU `-netdev stream` / `-netdev socket` framing: each Ethernet frame is preceded by its
 * length as a 4-byte big-endian number.
 *
 * Contract of `StreamDecoder.push`: calls `onFrame` once per complete frame, in order, for any
 * split of the byte stream into chunks (partial headers, partial frames, several frames in one
 * chunk). A frame wholly inside one chunk is passed as a view of that chunk (no copy); only a
 * frame split across chunks is assembled into a fresh buffer. A length of 0 or above
 * `MAX_FRAME_LENGTH` means the peer does not speak this framing: `push` returns a one-line
 * reason and the caller drops the connection; it never throws.
 */

/** The largest frame QEMU sends: a 64 KiB IP packet plus the Ethernet header. */
export const MAX_FRAME_LENGTH = 65535 + 14

export class StreamDecoder {
  private readonly header = new Uint8Array(4)
  private headerFill = 0
  private body: Uint8Array | undefined = undefined
  private bodyFill = 0

  /** Feed bytes; returns undefined, or why the stream is unusable (then stop feeding). */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): string | undefined {
    let off = 0
    const end = chunk.length
    while (off < end) {
      const body = this.body
      if (body !== undefined) {
        const n = Math.min(body.length - this.bodyFill, end - off)
        body.set(chunk.subarray(off, off + n), this.bodyFill)
        this.bodyFill += n
        off += n
        if (this.bodyFill === body.length) {
          this.body = undefined
          onFrame(body)
        }
        continue
      }
      let len: number
      if (this.headerFill === 0 && end - off >= 4) {
        len = ((chunk[off]! << 24) | (chunk[off + 1]! << 16) | (chunk[off + 2]! << 8) | chunk[off + 3]!) >>> 0
        off += 4
      } else {
        while (this.headerFill < 4 && off < end) this.header[this.headerFill++] = chunk[off++]!
        if (this.headerFill < 4) return undefined
        const h = this.header
        len = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0
        this.headerFill = 0
      }
      if (len === 0 || len > MAX_FRAME_LENGTH) return `frame length ${len} is outside 1..${MAX_FRAME_LENGTH}`
      if (end - off >= len) {
        onFrame(chunk.subarray(off, off + len))
        off += len
      } else {
        this.body = new Uint8Array(len)
        this.bodyFill = 0
      }
    }
    return undefined
  }

  /** Bytes of an incomplete frame (header or body) held back. */
  get buffered(): number {
    return this.body !== undefined ? 4 + this.bodyFill : this.headerFill
  }
}

/** The 4-byte length prefix of `frame`. */
export const lengthPrefix = (length: number): Uint8Array => {
  const h = new Uint8Array(4)
  h[0] = length >>> 24
  h[1] = (length >>> 16) & 0xff
  h[2] = (length >>> 8) & 0xff
  h[3] = length & 0xff
  return h
}

/** One frame with its prefix, as a single buffer (tests, clients). */
export const encodeFrame = (frame: Uint8Array): Uint8Array => {
  const out = new Uint8Array(4 + frame.length)
  out.set(lengthPrefix(frame.length), 0)
  out.set(frame, 4)
  return out
}
