/**
 * Deterministic test payloads for the guest runs: the same (size, seed) gives the same bytes on
 * both sides, so a file the guest downloads (or uploads) is checked by its sha256 alone.
 * xorshift32 words: incompressible enough that no layer can shortcut them.
 */
import { createHash } from "node:crypto"

export const guestPayload = (size: number, seed: number): Uint8Array => {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 0x9e3779b9
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
    if (i + 1 < size) out[i + 1] = (x >>> 8) & 0xff
    if (i + 2 < size) out[i + 2] = (x >>> 16) & 0xff
    if (i + 3 < size) out[i + 3] = x >>> 24
  }
  return out
}

export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")
