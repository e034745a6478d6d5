/**
 * diff.ts: `npm run e1000:diff -- [--qemu-only] FILE...`
 *
 * Runs each trace against QEMU 7.2's e1000 (qtest) and the model, printing `FILE: match` or
 * `FILE:LINE: <first difference>`. Exit status 1 if any trace differs (or fails to parse).
 * With --qemu-only, runs QEMU alone and checks only the expectations written in the traces.
 * With --dump, prints what QEMU did at every step (value, interrupt changes, frames).
 */
import { readFileSync } from "node:fs"
import { checkTraceOnQemu, diffTrace } from "./differential.ts"
import { runOnQemu } from "./run-qemu.ts"
import { formatStep, parseTrace } from "./trace.ts"

const args = process.argv.slice(2)
const qemuOnly = args.includes("--qemu-only")
const dump = args.includes("--dump")
const files = args.filter((a) => !a.startsWith("--"))
if (files.length === 0) {
  console.error("usage: npm run e1000:diff -- [--qemu-only|--dump] FILE...")
  process.exit(2)
}

let failed = false
for (const file of files) {
  try {
    const steps = parseTrace(readFileSync(file, "utf8"), file)
    if (dump) {
      const run = await runOnQemu(steps)
      for (const r of run.results) {
        const irq = r.irq.map((l) => (l ? "raise" : "lower")).join(",")
        console.log(`${r.step.line}: ${formatStep(r.step).slice(0, 60)}${r.value ? " -> " + r.value : ""}${irq ? " irq " + irq : ""}`)
        for (const f of r.tx) console.log(`    tx ${f}`)
      }
      if (run.failure) console.log(`failed at ${run.failure.line}: ${run.failure.message}`)
      continue
    }
    const d = qemuOnly ? await checkTraceOnQemu(steps) : await diffTrace(steps)
    if (d === undefined) {
      console.log(`${file}: ${qemuOnly ? "qemu ok" : "match"}`)
    } else {
      failed = true
      console.log(`${file}:${d.line}: ${d.message}`)
    }
  } catch (e) {
    failed = true
    console.log(`${file}: error: ${(e as Error).message}`)
  }
}
process.exit(failed ? 1 : 0)
