/**
 * differential.ts: one trace against both sides, and the verdict.
 *
 * Contract: `diffTrace` runs the steps on QEMU (via qtest) and on the model and returns the
 * first difference (or undefined for a match). `checkTraceOnQemu` runs QEMU alone and checks
 * only the expectations written in the trace (useful for writing traces; the oracle itself).
 * The model side catches its own exceptions and reports them as a difference at that step.
 * With `checked`, every reducer call of the model side goes through the referential-
 * transparency harness (checked.ts); a violation is reported like any other exception.
 */
import { checkExpectations, firstDifference, type Difference, type RunResult } from "./observation.ts"
import { runOnModel } from "./run-model.ts"
import { runOnQemu } from "./run-qemu.ts"
import type { Step } from "./trace.ts"

/** The model is imported on first use, so QEMU-only runs work while it does not load. */
export const runModelSafely = async (steps: ReadonlyArray<Step>, checked = false): Promise<RunResult> => {
  try {
    const api = await import("../../src/device/e1000/api.ts")
    if (checked) return runOnModel((await import("./checked.ts")).createCheckedSyncE1000, steps)
    return runOnModel(api.createSyncE1000, steps)
  } catch (e) {
    return { results: [], failure: { line: 0, message: `model could not start: ${(e as Error).message}` } }
  }
}

export const diffTrace = async (steps: ReadonlyArray<Step>, checked = false): Promise<Difference | undefined> => {
  const qemu = await runOnQemu(steps)
  const model = await runModelSafely(steps, checked)
  return firstDifference(qemu, model)
}

export const checkTraceOnQemu = async (steps: ReadonlyArray<Step>): Promise<Difference | undefined> =>
  checkExpectations(await runOnQemu(steps), "qemu")
