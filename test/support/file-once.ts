/**
 * Waiting for a file to reach the bytes a writer owes it, without a fixed sleep: a quiet
 * capture writer's bytes are due within 2 * IDLE_MS (record/append-direct.ts), but on a loaded
 * machine (CI runs test files in parallel on 2 CPUs) its timer or the thread pool's direct write
 * can come later than a fixed sleep allows.
 */
import { readFileSync } from "node:fs"

/** The file's bytes once they equal `want`, or as they are after `ms` (the caller asserts). */
export const fileOnceIs = async (path: string, want: Uint8Array, ms = 5_000): Promise<Buffer> => {
  const until = Date.now() + ms
  for (;;) {
    const got = readFileSync(path)
    if (got.equals(want) || Date.now() > until) return got
    await new Promise((r) => setTimeout(r, 50))
  }
}
