/**
 * Buffers for frames the stack builds for the guest.
 *
 * Why: one `new Uint8Array(n)` per frame is one ArrayBuffer per frame, and at hundreds of
 * thousands of frames a second their allocation and collection (V8 starts a full collection
 * for every few tens of MB of new ArrayBuffer memory) cost more than building the frames.
 * Frames are carved instead from shared zero-filled slabs, never reused: a slab is collected
 * once every frame cut from it is gone, so no frame's bytes change after it is handed over.
 *
 * Layout: each frame is preceded by `LINK_HEADROOM` bytes that belong to no frame, and frames
 * follow each other without gaps when their lengths are even: a stream link (QEMU's 4-byte
 * length prefix) writes the prefix in place and sends a run of frames as one uncopied chunk.
 * Frames start at even addresses, so the transport checksum sums 32-bit words (wire/checksum.ts).
 *
 * Contract: `allocFrame(n)` returns a zero-filled view of exactly `n` bytes at an even address,
 * that no other call returns any byte of; the `LINK_HEADROOM` bytes before it are zero until a
 * link writes them, and `hasLinkHeadroom` is true for exactly such views (whole frames as
 * returned). Pure apart from the module's slab cursor, which no caller can observe.
 */

/** Bytes before each frame a link may overwrite with its own framing. */
export const LINK_HEADROOM = 4

/** Slab size: many jumbo frames per slab; a few stragglers (ARP queue) pin little. */
const SLAB_BYTES = 1024 * 1024

const slabs = new WeakSet<ArrayBufferLike>()
let slab = new ArrayBuffer(0)
let cursor = 0

const newSlab = (bytes: number): ArrayBuffer => {
  const b = new ArrayBuffer(bytes)
  slabs.add(b)
  return b
}

export const allocFrame = (length: number): Uint8Array => {
  // Even start after the headroom (an odd frame before leaves one byte unused).
  let start = (cursor + LINK_HEADROOM + 1) & ~1
  if (start + length > slab.byteLength) {
    slab = newSlab(Math.max(SLAB_BYTES, length + LINK_HEADROOM))
    start = LINK_HEADROOM
  }
  cursor = start + length
  return new Uint8Array(slab, start, length)
}

/** Was `frame` returned by `allocFrame` (so the headroom before it may be written)? */
export const hasLinkHeadroom = (frame: Uint8Array): boolean => frame.byteOffset >= LINK_HEADROOM && slabs.has(frame.buffer)
