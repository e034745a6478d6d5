/**
 * The addon's `streamCopy` (native/stream_copy.c): a copy with non-temporal stores, for bytes
 * the CPU will not read again (a capture's staging buffers on their way to the disk by
 * O_DIRECT). Undefined without the addon, or with one built before it had the call; callers
 * then copy the ordinary way.
 */
import { loadAddon } from "../node/addon.ts"

/** Copies src[0, length) to dst[dstOffset, ...); 0, or -1 when nothing was copied (bad ranges). */
export type StreamCopy = (dst: Uint8Array, dstOffset: number, src: Uint8Array, length: number) => number

/** The addon's streamCopy (loadAddon keeps the addon once loaded), or undefined. */
export const streamCopy = (): StreamCopy | undefined => {
  const addon = loadAddon()
  const f = typeof addon === "string" ? undefined : addon["streamCopy"]
  return typeof f === "function" ? (f as StreamCopy) : undefined
}
