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
 * `--heap-growing-percent=300`: after each full collection V8 sets the next global limit at
 * about 1.1-2 times what survived. Our survivors are small (30-40 MB: the stack state, code),
 * so the limit could end up only ~50 MB above them, and buffers arrive faster than that between
 * two young collections (1.3 GB/s at MTU 32000). Then every ~100 ms a full collection ran
 * instead (10 a second, concurrent marking on a second thread): host->guest fell from
 * 5.5-6.3 to 3.3-4.4 Gbit/s at MTU 32000 (CPU seconds per GB doubled) and from 2.4 to 1.5 at
 * 1500. Which regime a process fell into depended on the live size at its last full
 * collection, so benchmark runs were bimodal. A limit of 4 times the survivors leaves room for
 * the buffers in flight; measured: 2-3 full collections per run instead of 50-130, and no
 * slow runs. The cost is old-generation garbage of up to 3 times the live heap before a
 * full collection (about 100 MB more at most for a typical process).
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
  setFlagsFromString("--heap-growing-percent=300")
}
