/**
 * glibc malloc tuning for a process whose job is moving packets (native/malloc_tuning.c says
 * why: freed packet-buffer memory returned to the kernel and faulted back in, page by page,
 * cost about 5% of the CPU under load).
 *
 * The numbers: keep up to 256 MiB free at the top of the heap before giving it back, grow the
 * heap 64 MiB at a time, and serve blocks of up to 32 MiB (glibc's largest mmap threshold on a
 * 64-bit system) from the heap, so 1 MiB frame slabs and 64 KiB read buffers reuse memory
 * that is already mapped.
 *
 * Contract: `tuneMallocForPacketRates` is idempotent and process-wide; call it only from a
 * process that serves guests (the CLI), never from an embedder's process. It returns what
 * happened in one line for the debug log; without the addon (or on a C library other than
 * glibc) it changes nothing and says so.
 */
import { loadAddon } from "../node/addon.ts"

export const MALLOC_TRIM_THRESHOLD = 256 * 1024 * 1024
export const MALLOC_TOP_PAD = 64 * 1024 * 1024
export const MALLOC_MMAP_THRESHOLD = 32 * 1024 * 1024

let outcome: string | undefined

export const tuneMallocForPacketRates = (): string => {
  if (outcome !== undefined) return outcome
  const addon = loadAddon()
  const tune = typeof addon === "string" ? undefined : addon["mallocTune"]
  if (typeof tune !== "function") {
    outcome = `malloc tuning skipped (${typeof addon === "string" ? addon : "the addon has no mallocTune"})`
    return outcome
  }
  const applied = (tune as (trim: number, pad: number, mmap: number) => number)(MALLOC_TRIM_THRESHOLD, MALLOC_TOP_PAD, MALLOC_MMAP_THRESHOLD)
  outcome = applied === 3 ? "malloc tuned: trim threshold 256 MiB, top pad 64 MiB, mmap threshold 32 MiB" : `malloc tuning: ${applied} of 3 settings accepted (not glibc?)`
  return outcome
}
