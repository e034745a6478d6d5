/**
 * V8 collection tuning for a process whose job is moving packets.
 *
 * Why: every byte we carry passes through a fresh ArrayBuffer or two (the host socket's read
 * buffer, the frame slab; see protocol/ethernet/frame-buffer.ts), and by default V8 starts a
 * full mark-compact of the whole JS heap for every ~64 MB of new ArrayBuffer memory: at
 * gigabits per second that is ten or more full collections a second, a third of the process's
 * CPU (measured with --trace-gc). With `--external-memory-accounted-in-global-limit` that
 * memory counts toward the heap's global limit instead, so buffers are reclaimed by the
 * ordinary young-generation collections they die in, and full collections become rare.
 * The cost is a higher peak of dead-but-unreclaimed buffer memory (tens of MB more RSS).
 *
 * Contract: `tuneGcForPacketRates` is idempotent and process-wide; call it only from a process
 * that serves guests (the CLI), never from an embedder's process.
 */
import { setFlagsFromString } from "node:v8"

let tuned = false

export const tuneGcForPacketRates = (): void => {
  if (tuned) return
  tuned = true
  setFlagsFromString("--external-memory-accounted-in-global-limit")
}
