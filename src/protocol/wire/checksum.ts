/**
 * The Internet checksum (RFC 1071), the one implementation every layer uses.
 *
 * `sum16` folds a byte range into a 32-bit one's-complement accumulator; callers add pseudo
 * headers with `sumWords` and finish with `finish`. A range at an even address of 64 bytes or
 * more is summed as 32-bit words through a Uint32Array view (a quarter of the loads of the byte
 * path, no shifts); short or odd-addressed ranges read big-endian 16-bit words from byte pairs,
 * unrolled by 8 words.
 *
 * `update16` is the incremental update of RFC 1624 (eqn. 3) for rewritten header fields.
 * `sumPseudoHeader` adds the pseudo header of either family (the address type tells which).
 */
import type { IpAddress } from "./ip-address.ts"

/** Whether this machine stores a Uint32Array's words little-endian (all JS hosts in practice). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** Ranges shorter than this are summed bytewise: a 32-bit view costs an allocation. */
const WORDS_MIN_BYTES = 64

/**
 * One's complement sum of the 32-bit words `w[k0, k0 + n)`, as a big-endian 16-bit sum.
 * RFC 1071 §2(B): the sum is byte-order independent, so words are summed in the machine's order
 * and the folded result byte-swapped once. The accumulator is a double: up to 2^21 words
 * (8 MiB) sum exactly, so the loop needs no carry handling.
 */
const sumWordRange = (w: Uint32Array, k0: number, n: number): number => {
  let a = 0
  let b = 0
  let k = k0
  const end = k0 + n
  const end4 = end - (n & 3)
  while (k < end4) {
    a += w[k]! + w[k + 1]!
    b += w[k + 2]! + w[k + 3]!
    k += 4
  }
  while (k < end) a += w[k++]!
  let t = a + b
  // Fold the (up to 2^53) sum to 16 bits: once in floating point, then in 32-bit integers.
  t = (t % 0x10000) + Math.floor(t / 0x10000)
  t = (t % 0x10000) + Math.floor(t / 0x10000)
  while (t > 0xffff) t = (t & 0xffff) + (t >>> 16)
  return LITTLE_ENDIAN ? ((t & 0xff) << 8) | (t >>> 8) : t
}

/**
 * `sum16`'s signature, for a faster implementation with the same results a runtime may offer
 * (checksum-simd.ts, through the frame allocator: ethernet/frame-buffer.ts).
 */
export type Sum16 = (buf: Uint8Array, start: number, end: number, acc?: number) => number

/**
 * Adds the bytes `buf[start, end)` as big-endian 16-bit words to `acc` (odd tail padded).
 * `words`, when the caller has one, is a 32-bit view of the whole of `buf`'s memory from its
 * first byte (a frame allocator keeps one per slab: frame-buffer.ts): it saves creating a view
 * per call (an allocation, and a call into the engine for `buf.buffer`). The sum is the same
 * with or without it.
 */
export const sum16 = (buf: Uint8Array, start: number, end: number, acc = 0, words?: Uint32Array): number => {
  let i = start
  let s = acc
  // Even start in memory: step to a 4-byte boundary with one 16-bit word, then sum 32-bit
  // words (frames the stack builds are laid out so transport headers are 4-aligned).
  if (end - start >= WORDS_MIN_BYTES && ((buf.byteOffset + start) & 1) === 0) {
    if (((buf.byteOffset + i) & 2) !== 0) {
      s += (buf[i]! << 8) | buf[i + 1]!
      i += 2
    }
    const n = (end - i) >>> 2
    s +=
      words !== undefined
        ? sumWordRange(words, (buf.byteOffset + i) >>> 2, n)
        : sumWordRange(new Uint32Array(buf.buffer, buf.byteOffset + i, n), 0, n)
    i += n * 4
  }
  const end16 = end - ((end - i) % 16)
  while (i < end16) {
    s +=
      ((buf[i]! << 8) | buf[i + 1]!) +
      ((buf[i + 2]! << 8) | buf[i + 3]!) +
      ((buf[i + 4]! << 8) | buf[i + 5]!) +
      ((buf[i + 6]! << 8) | buf[i + 7]!) +
      ((buf[i + 8]! << 8) | buf[i + 9]!) +
      ((buf[i + 10]! << 8) | buf[i + 11]!) +
      ((buf[i + 12]! << 8) | buf[i + 13]!) +
      ((buf[i + 14]! << 8) | buf[i + 15]!)
    // Fold often enough that the accumulator stays a small integer (8 words < 2^19 per round).
    if (s > 0x3fffffff) s = (s & 0xffff) + (s >>> 16)
    i += 16
  }
  while (i + 1 < end) {
    s += (buf[i]! << 8) | buf[i + 1]!
    i += 2
  }
  if (i < end) s += buf[i]! << 8
  return s
}

/** Adds 16-bit words (already in host order) to an accumulator: for pseudo headers. */
export const sumWords = (acc: number, ...words: ReadonlyArray<number>): number => {
  let s = acc
  for (const w of words) s += w & 0xffff
  return s
}

/** Adds a 32-bit value as two 16-bit words. */
export const sum32 = (acc: number, v: number): number => acc + (v >>> 16) + (v & 0xffff)

/** Folds the accumulator and returns the one's complement: the value to store in a header. */
export const finish = (acc: number): number => {
  let s = acc
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
  return ~s & 0xffff
}

/** Checksum of a byte range alone. A header whose stored checksum is right sums to 0. */
export const checksum = (buf: Uint8Array, start: number, end: number): number => finish(sum16(buf, start, end))

/**
 * RFC 1624 eqn. 3: the new checksum after a 16-bit field changes from `oldWord` to `newWord`.
 * HC' = ~(~HC + ~m + m')
 */
export const update16 = (oldChecksum: number, oldWord: number, newWord: number): number => {
  let s = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
  return ~s & 0xffff
}

/** RFC 1624 for a 32-bit field (an address): two 16-bit updates. */
export const update32 = (oldChecksum: number, oldValue: number, newValue: number): number =>
  update16(update16(oldChecksum, oldValue >>> 16, newValue >>> 16), oldValue & 0xffff, newValue & 0xffff)

/**
 * RFC 8200 §8.1: the IPv6 pseudo header (source, destination, upper-layer length, next header)
 * added to `acc`. Addresses are read from `src`/`dst` at the given offsets (often views into
 * one frame). Used by ICMPv6 (whose checksum, unlike ICMPv4's, covers it), UDP and TCP.
 */
export const sumIpv6Pseudo = (acc: number, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, length: number, nextHeader: number): number => {
  let s = acc + (length >>> 16) + (length & 0xffff) + nextHeader
  for (let i = 0; i < 16; i += 2) s += ((src[srcOff + i]! << 8) | src[srcOff + i + 1]!) + ((dst[dstOff + i]! << 8) | dst[dstOff + i + 1]!)
  return s
}

/**
 * The pseudo header of a transport checksum for either family, added to `acc`: IPv4's (RFC 9293
 * §3.1: source, destination, zero, protocol, length) when the addresses are numbers, IPv6's
 * (RFC 8200 §8.1) when they are 16-byte arrays. `src` and `dst` are of one family.
 */
export const sumPseudoHeader = (acc: number, src: IpAddress, dst: IpAddress, length: number, protocol: number): number =>
  typeof src === "number"
    ? sum32(sum32(acc, src), dst as number) + protocol + (length >>> 16) + (length & 0xffff)
    : sumIpv6Pseudo(acc, src, 0, dst as Uint8Array, 0, length, protocol)
