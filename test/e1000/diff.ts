/**
 * diff.ts: `npm run e1000:diff -- [--qemu-only] FILE...`
 *
 * Runs each trace against QEMU 7.2's e1000 (qtest) and the model, printing `FILE: match` or
 * `FILE:LINE: <first difference>`. Exit status 1 if any trace differs (or fails to parse).
 * With --qemu-only, runs QEMU alone and checks only the expectations written in the traces.
 * With --dump, prints what QEMU did at every step (value, interrupt changes, frames).
 * With --side-by-side, prints both sides at every step, marking the steps that differ.
 * With --checked, every reducer call of the model goes through the referential-transparency
 * harness (slower; a violation is reported as the model failing at that step).
 */
import { readFileSync } from "node:fs"
import { checkTraceOnQemu, diffTrace, runModelSafely } from "./differential.ts"
import type { StepResult } from "./observation.ts"
import { runOnQemu } from "./run-qemu.ts"
import { formatStep, parseTrace } from "./trace.ts"

const args = process.argv.slice(2)
const qemuOnly = args.includes("--qemu-only")
const dump = args.includes("--dump")
const sideBySide = args.includes("--side-by-side")
const checked = args.includes("--checked")
const files = args.filter((a) => !a.startsWith("--"))
if (files.length === 0) {
  console.error("usage: npm run e1000:diff -- [--qemu-only|--dump|--side-by-side|--checked] FILE...")
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
    if (sideBySide) {
      const [qemu, model] = [await runOnQemu(steps), await runModelSafely(steps, checked)]
      const brief = (r: StepResult | undefined): string =>
        r === undefined
          ? "-"
          : `${r.value ?? ""}${r.irq.length ? " irq " + r.irq.map((l) => (l ? "raise" : "lower")).join(",") : ""}` +
            `${r.tx.length ? ` tx ${r.tx.length}: ${r.tx.map((f) => f.slice(0, 24)).join(" ")}` : ""}`
      for (let i = 0; i < Math.max(qemu.results.length, model.results.length); i++) {
        const q = qemu.results[i]
        const m = model.results[i]
        const step = (q ?? m)!.step
        const same = JSON.stringify([q?.value, q?.irq, q?.tx]) === JSON.stringify([m?.value, m?.irq, m?.tx])
        if (step.op === "mem.write" && same) continue
        console.log(`${same ? " " : "*"} ${step.line}: ${formatStep(step).slice(0, 48)} | qemu ${brief(q)} | model ${brief(m)}`)
      }
      if (qemu.failure) console.log(`qemu failed at ${qemu.failure.line}: ${qemu.failure.message}`)
      if (model.failure) console.log(`model failed at ${model.failure.line}: ${model.failure.message}`)
      continue
    }
    const d = qemuOnly ? await checkTraceOnQemu(steps) : await diffTrace(steps, checked)
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
