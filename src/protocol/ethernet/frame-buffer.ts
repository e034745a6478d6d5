/**
 * Buffers for frames the stack builds for the guest.
 *
 * Why: one `new Uint8Array(n)` per frame is one ArrayBuffer per frame, and at hundreds of
 * thousands of frames a second their allocation and collection cost more than building the
 * frames. Frames are carved instead from shared zero-filled slabs (never reused: a slab is
 * collected once every frame cut from it is gone, so no frame's bytes ever change after it is
 * handed over).
 *
 * Layout: every frame starts 2 bytes past a 4-byte boundary, so its IPv4 header (after the
 * 14-byte Ethernet header) and a TCP/UDP header after a 20-byte IPv4 header are 4-byte aligned:
 * the checksum then sums 32-bit words (see wire/checksum.ts).
 *
 * Contract: `allocFrame(n)` returns a zero-filled view of exactly `n` bytes, 2 mod 4 aligned,
 * that no other call returns any byte of. Pure apart from the module's slab cursor, which no
 * caller can observe.
 */

/** Slab size: large enough that slabs are rare, small enough that a few stragglers pin little. */
const SLAB_BYTES = 256 * 1024
/** Frames above this get their own buffer (same alignment), so a slab is never mostly wasted. */
const LARGE_FRAME = 16 * 1024

let slab = new ArrayBuffer(0)
let cursor = 0

export const allocFrame = (length: number): Uint8Array => {
  if (length > LARGE_FRAME) return new Uint8Array(new ArrayBuffer(length + 2), 2, length)
  // Next 2-mod-4 offset at or after the cursor.
  let start = ((cursor + 1) & ~3) + 2
  if (start + length > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES)
    start = 2
  }
  cursor = start + length
  return new Uint8Array(slab, start, length)
}
