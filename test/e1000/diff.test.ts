/**
 * The differential oracle: every trace in test/e1000/traces runs against QEMU 7.2's e1000
 * (through qtest) and against the model; they must agree on every read, every mem.read, every
 * interrupt change and every transmitted frame. The model side runs under the
 * referential-transparency check (every reducer call; see checked.ts).
 */
import { describe, expect, it } from "vitest"
import { diffTrace } from "./differential.ts"
import { loadTraces } from "./traces.ts"

describe("e1000 model = QEMU 7.2 e1000", () => {
  for (const trace of loadTraces()) {
    it(`${trace.name}`, async () => {
      const d = await diffTrace(trace.steps, true)
      expect(d === undefined ? "match" : `${trace.name}:${d.line}: ${d.message}`).toBe("match")
    }, 300_000)
  }
})
