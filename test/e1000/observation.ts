/**
 * observation.ts: what one run of a trace produced, step by step, and the first difference
 * between two runs (QEMU's and the model's).
 *
 * Contract: a `StepResult` holds, for one trace step, the value it read (MMIO/config reads as
 * `0x...`, `mem.read` as hex bytes), the interrupt line changes it caused (in order, `true` =
 * raised) and the frames the device transmitted during it (hex, in order). `firstDifference`
 * compares two runs in step order and, within a step, value, then interrupts, then frames;
 * it also checks values against the expectations written in the trace.
 */
import { toHex } from "../../src/protocol/wire/bytes.ts"
import { formatStep, type Step } from "./trace.ts"

export interface StepResult {
  readonly step: Step
  readonly value?: string
  readonly irq: ReadonlyArray<boolean>
  readonly tx: ReadonlyArray<string>
}

export interface RunResult {
  readonly results: ReadonlyArray<StepResult>
  /** Set when a side failed before finishing (the step it failed on, and why). */
  readonly failure?: { readonly line: number; readonly message: string }
}

export interface Difference {
  readonly line: number
  readonly message: string
}

export const formatValue = (n: number): string => `0x${(n >>> 0).toString(16)}`

const expectedValue = (step: Step): string | undefined => {
  switch (step.op) {
    case "read":
    case "cfg.read":
      return step.expect === undefined ? undefined : formatValue(step.expect)
    case "mem.read":
      return step.expect === undefined ? undefined : toHex(step.expect)
    default:
      return undefined
  }
}

const short = (s: string): string => (s.length > 120 ? `${s.slice(0, 120)}... (${s.length / 2} bytes)` : s)

const levels = (l: ReadonlyArray<boolean>): string => (l.length === 0 ? "none" : l.map((x) => (x ? "raise" : "lower")).join(","))

/** Checks one run against the expectations written in the trace. */
export const checkExpectations = (run: RunResult, side: string): Difference | undefined => {
  for (const r of run.results) {
    const want = expectedValue(r.step)
    if (want !== undefined && r.value !== want) {
      return { line: r.step.line, message: `${formatStep(r.step)}: ${side} read ${short(r.value ?? "nothing")}, trace expects ${short(want)}` }
    }
  }
  return run.failure ? { line: run.failure.line, message: `${side} failed: ${run.failure.message}` } : undefined
}

/** The first step where the two runs disagree, or undefined if they match. */
export const firstDifference = (qemu: RunResult, model: RunResult): Difference | undefined => {
  const n = Math.min(qemu.results.length, model.results.length)
  for (let i = 0; i < n; i++) {
    const a = qemu.results[i]!
    const b = model.results[i]!
    const where = formatStep(a.step)
    const want = expectedValue(a.step)
    if (want !== undefined && a.value !== want) {
      return { line: a.step.line, message: `${where}: qemu read ${short(a.value ?? "nothing")}, trace expects ${short(want)}` }
    }
    if (a.value !== b.value) {
      return { line: a.step.line, message: `${where}: qemu read ${short(a.value ?? "nothing")}, model read ${short(b.value ?? "nothing")}` }
    }
    if (levels(a.irq) !== levels(b.irq)) {
      return { line: a.step.line, message: `${where}: interrupt line qemu ${levels(a.irq)}, model ${levels(b.irq)}` }
    }
    for (let k = 0; k < Math.max(a.tx.length, b.tx.length); k++) {
      if (a.tx[k] !== b.tx[k]) {
        return {
          line: a.step.line,
          message: `${where}: transmitted frame ${k + 1} (of qemu ${a.tx.length}, model ${b.tx.length}) differs:\n  qemu  ${short(a.tx[k] ?? "none")}\n  model ${short(b.tx[k] ?? "none")}`,
        }
      }
    }
  }
  if (qemu.failure) return { line: qemu.failure.line, message: `qemu failed: ${qemu.failure.message}` }
  if (model.failure) return { line: model.failure.line, message: `model failed: ${model.failure.message}` }
  if (qemu.results.length !== model.results.length) {
    return { line: 0, message: `runs have ${qemu.results.length} and ${model.results.length} steps` }
  }
  return undefined
}
