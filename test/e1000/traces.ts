/**
 * traces.ts: the trace files shipped in test/e1000/traces, for the test suites.
 */
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseTrace, type Step } from "./trace.ts"

export const TRACE_DIR = join(dirname(fileURLToPath(import.meta.url)), "traces")

export interface TraceFile {
  readonly name: string
  readonly steps: ReadonlyArray<Step>
}

export const loadTraces = (): ReadonlyArray<TraceFile> =>
  readdirSync(TRACE_DIR)
    .filter((f) => f.endsWith(".trace"))
    .sort()
    .map((f) => ({ name: f, steps: parseTrace(readFileSync(join(TRACE_DIR, f), "utf8"), f) }))
