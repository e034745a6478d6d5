/**
 * Buffers for frames the stack builds for the guest, from an allocator the caller passes in.
 *
 * Why an allocator at all: one `new Uint8Array(n)` per frame is one ArrayBuffer per frame, and
 * at hundreds of thousands of frames a second their allocation and collection (V8 starts a
 * full collection for every few tens of MB of new ArrayBuffer memory) cost more than building
 * the frames. The slab allocator carves frames instead from shared zero-filled slabs, never
 * reused: a slab is collected once every frame cut from it is gone, so no frame's bytes change
 * after it is handed over.
 *
 * Why it is passed in: the protocol core keeps no module-level mutable state (DESIGN.md §3).
 * The runtime creates one slab allocator (`createSlabAllocator`) and passes it to the stack's
 * `reduce`; its guest link asks the same instance (`hasLinkHeadroom`) whether it may write a
 * frame's headroom. Without one, `freshFrames` allocates fresh memory per frame. The bytes of a
 * frame never depend on which allocator made it (both hand out zero-filled memory nobody else
 * holds), so a reducer's results do not depend on it either.
 *
 * Layout of slab frames: each frame is preceded by `LINK_HEADROOM` bytes that belong to no
 * frame, and frames follow each other without gaps when their lengths are even: a stream link
 * (QEMU's 4-byte length prefix) writes the prefix into that headroom and sends a run of frames as one
 * uncopied chunk. Frames start at even addresses, so the transport checksum sums 32-bit words
 * (wire/checksum.ts).
 *
 * Contract of every `FrameAllocator`: `frame(n)` returns a zero-filled view of exactly `n`
 * bytes at an even address, that no other call returns any byte of. For the slab allocator the
 * `LINK_HEADROOM` bytes before it are zero until a link writes them, and its `hasLinkHeadroom`
 * is true for exactly such views (whole frames as returned); `freshFrames.hasLinkHeadroom` is
 * always false.
 */
import { type Sum16, sum16 } from "../wire/checksum.ts"

/** Bytes before each frame a link may overwrite with its own framing. */
export const LINK_HEADROOM = 4

/** Slab size: many jumbo frames per slab; a few stragglers (ARP queue) pin little. */
const SLAB_BYTES = 1024 * 1024

export interface FrameAllocator {
  /** A zero-filled buffer of exactly `length` bytes at an even address, shared with nobody. */
  readonly frame: (length: number) => Uint8Array
  /**
   * Was `frame` returned by this allocator with headroom before it that a link may write?
   * `buffer` is `frame.buffer`, for a caller that has read it already (each read of it is a
   * call into the engine).
   */
  readonly hasLinkHeadroom: (frame: Uint8Array, buffer?: ArrayBufferLike) => boolean
  /**
   * For the frame the last `frame` call returned: a 32-bit view of the whole memory it lies in
   * (from that memory's first byte), which checksums read instead of making a view per frame
   * (wire/checksum.ts); undefined for any other frame, or when the allocator keeps none.
   */
  readonly words?: (frame: Uint8Array) => Uint32Array | undefined
  /**
   * A faster `sum16` (wire/checksum.ts) the runtime may offer, with the same results: the
   * WebAssembly SIMD one (wire/checksum-simd.ts). Output uses it for transport checksums.
   */
  readonly sum16?: Sum16
}

/**
 * `sum16` of `buf[start, end)` (a frame from `alloc`, or any buffer) with the best the allocator
 * offers: its SIMD sum, else its 32-bit view of the slab. The sum is the same either way.
 */
export const allocatorSum16 = (alloc: FrameAllocator, buf: Uint8Array, start: number, end: number, acc: number): number =>
  alloc.sum16 !== undefined ? alloc.sum16(buf, start, end, acc) : sum16(buf, start, end, acc, alloc.words?.(buf))

/** One ArrayBuffer per frame: the default when the caller passes no allocator (tests, embedders). */
export const freshFrames: FrameAllocator = {
  frame: (length) => new Uint8Array(length),
  hasLinkHeadroom: () => false,
}

/**
 * A slab allocator; the runtime makes one and shares it between the stack and its links.
 * `sum16`, when given, is offered to output as the allocator's `sum16`.
 */
export const createSlabAllocator = (options: { readonly sum16?: Sum16 | undefined } = {}): FrameAllocator => {
  const slabs = new WeakSet<ArrayBufferLike>()
  let slab = new ArrayBuffer(0)
  let slabWords = new Uint32Array(slab)
  let last: Uint8Array | undefined
  let cursor = 0
  return {
    frame(length) {
      // Even start after the headroom (an odd frame before leaves one byte unused).
      let start = (cursor + LINK_HEADROOM + 1) & ~1
      if (start + length > slab.byteLength) {
        slab = new ArrayBuffer(Math.max(SLAB_BYTES, length + LINK_HEADROOM))
        slabWords = new Uint32Array(slab, 0, slab.byteLength >>> 2)
        slabs.add(slab)
        start = LINK_HEADROOM
      }
      cursor = start + length
      last = new Uint8Array(slab, start, length)
      return last
    },
    hasLinkHeadroom: (frame, buffer = frame.buffer) => frame.byteOffset >= LINK_HEADROOM && slabs.has(buffer),
    // Only the latest frame: identity says which slab it is in without reading `frame.buffer`.
    words: (frame) => (frame === last ? slabWords : undefined),
    ...(options.sum16 === undefined ? {} : { sum16: options.sum16 }),
  }
}
