/**
 * minimize.ts: `node test/e1000/minimize.ts IN.trace OUT.trace`
 *
 * Shrinks a trace on which QEMU and the model differ to a smaller one on which they still
 * differ (greedy delta debugging: drop chunks of steps, halving the chunk size down to single
 * steps, keeping every removal after which some difference remains). Each try runs QEMU once,
 * so expect a few minutes for a few hundred steps. Comments are dropped from the output.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { diffTrace } from "./differential.ts"
import { formatStep, parseTrace, type Step } from "./trace.ts"

const [input, output] = process.argv.slice(2)
if (!input || !output) {
  console.error("usage: node test/e1000/minimize.ts IN.trace OUT.trace")
  process.exit(2)
}

// Renumber lines so that differences point into the written file.
const renumber = (steps: ReadonlyArray<Step>): ReadonlyArray<Step> => steps.map((s, i) => ({ ...s, line: i + 1 }))

let steps = renumber(parseTrace(readFileSync(input, "utf8"), input))
const first = await diffTrace(steps)
if (!first) {
  console.log("no difference: nothing to minimize")
  process.exit(1)
}
console.log(`${steps.length} steps, difference: ${first.message.split("\n")[0]}`)
let tries = 0
for (let chunk = Math.max(1, Math.floor(steps.length / 2)); chunk >= 1; chunk = Math.floor(chunk / 2)) {
  for (let start = 0; start < steps.length; ) {
    const candidate = renumber([...steps.slice(0, start), ...steps.slice(start + chunk)])
    tries++
    const d = candidate.length > 0 ? await diffTrace(candidate) : undefined
    if (d) {
      steps = candidate
      writeFileSync(output, steps.map(formatStep).join("\n") + "\n")
    } else {
      start += chunk
    }
  }
  console.log(`chunk ${chunk}: ${steps.length} steps (${tries} runs)`)
  if (chunk === 1) break
}
writeFileSync(output, steps.map(formatStep).join("\n") + "\n")
const last = await diffTrace(steps)
console.log(`${output}: ${steps.length} steps; line ${last?.line}: ${last?.message}`)
