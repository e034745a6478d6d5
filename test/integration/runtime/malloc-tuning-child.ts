/**
 * Child of malloc-tuning.test.ts: churns frame slabs the way a busy session does (1 MiB each,
 * a few alive at a time, reclaimed by V8's ordinary collections under the CLI's GC flags) and
 * prints, as JSON, the process's minor page faults during the churn. With argv[2] === "tune" it applies the CLI's malloc tuning first.
 */
import { tuneGcForPacketRates } from "../../../src/runtime/link/gc-tuning.ts"
import { tuneMallocForPacketRates } from "../../../src/runtime/link/malloc-tuning.ts"

tuneGcForPacketRates()
const outcome = process.argv[2] === "tune" ? tuneMallocForPacketRates() : "untuned"
const before = process.resourceUsage().minorPageFault
const ring: Uint8Array[] = []
for (let i = 0; i < 4000; i++) {
  ring[i & 7] = new Uint8Array(1 << 20).fill(1)
  if ((i & 63) === 0) await new Promise((r) => setImmediate(r))
}
console.log(JSON.stringify({ outcome, faults: process.resourceUsage().minorPageFault - before }))
