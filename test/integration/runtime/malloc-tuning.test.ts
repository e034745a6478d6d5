/**
 * The CLI's glibc malloc tuning (src/runtime/link/malloc-tuning.ts, native/malloc_tuning.c):
 * glibc accepts the three settings, and a process churning packet buffers takes clearly fewer
 * page faults with it than without (each variant in a child process of its own, since the
 * settings are process-wide).
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { MALLOC_MMAP_THRESHOLD, MALLOC_TOP_PAD, MALLOC_TRIM_THRESHOLD } from "../../../src/runtime/link/malloc-tuning.ts"
import { loadAddon } from "../../../src/runtime/node/addon.ts"

const CHILD = fileURLToPath(new URL("./malloc-tuning-child.ts", import.meta.url))

const churn = (mode: "tune" | "plain"): Promise<{ outcome: string; faults: number }> =>
  new Promise((resolve, reject) =>
    execFile(process.execPath, [CHILD, mode], { timeout: 60_000 }, (err, out, errOut) =>
      err === null ? resolve(JSON.parse(out.trim().split("\n").at(-1)!)) : reject(new Error(`child failed: ${err.message}: ${errOut}`)),
    ),
  )

describe("malloc tuning for packet rates", () => {
  it("glibc takes the three settings; arguments that are not non-negative ints never reach it", () => {
    const addon = loadAddon()
    expect(typeof addon === "string" ? addon : typeof addon["mallocTune"]).toBe("function")
    const tune = (addon as Record<string, (a: number, b: number, c: number) => number>)["mallocTune"]!
    // In this worker: the values the CLI sets, then invalid arguments (mallopt never sees them).
    expect(tune(MALLOC_TRIM_THRESHOLD, MALLOC_TOP_PAD, MALLOC_MMAP_THRESHOLD)).toBe(3)
    expect(tune(2 ** 40, MALLOC_TOP_PAD, MALLOC_MMAP_THRESHOLD)).toBe(2)
    expect(tune(-1, -1, -1)).toBe(0)
  })

  it("a process churning 1 MiB frame slabs takes far fewer page faults when tuned", async () => {
    // Three children of each kind, compared by their fewest faults: when V8 happens to collect
    // late, more slabs are alive at once and more memory is touched for the first time, which
    // only ever adds faults (a tuned child took 33k in five runs of six and 95k in one, on
    // 2026-12-07; the CI run that day failed on such a child). The floor is what the tuning sets.
    const plain: Array<number> = []
    const tuned: Array<number> = []
    for (let i = 0; i < 3; i++) {
      plain.push((await churn("plain")).faults)
      const t = await churn("tune")
      expect(t.outcome).toMatch(/^malloc tuned/)
      tuned.push(t.faults)
    }
    // 4000 slabs of 1 MiB are 1M pages: untuned, glibc gives freed slabs back and faults
    // them in again (about 70-85k faults measured); tuned, only the first use of the retained
    // memory faults (about 33k, mostly V8's own heap).
    expect(Math.min(...tuned), `tuned ${tuned.join(", ")} vs untuned ${plain.join(", ")} minor faults`).toBeLessThan(Math.min(...plain) * 0.75)
  })
})
