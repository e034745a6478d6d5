/**
 * Property-based differential testing: random well-formed traces (test/e1000/generate.ts) run
 * against QEMU 7.2 and the model must match for every seed, every reducer call of the model
 * through the referential-transparency check (checked.ts). E1000_GEN_SEEDS=N runs more seeds;
 * a failing seed is reproduced with
 *   node test/e1000/generate.ts SEED 80 > /tmp/t.trace && npm run e1000:diff -- /tmp/t.trace
 */
import { describe, expect, it } from "vitest"
import { diffTrace } from "./differential.ts"
import { generateTrace } from "./generate.ts"
import { parseTrace } from "./trace.ts"

const SEEDS = Number(process.env.E1000_GEN_SEEDS ?? "25")
const ACTIONS = 80

describe("generated traces", () => {
  it("the same seed gives the same trace; different seeds differ", () => {
    expect(generateTrace(7, ACTIONS)).toBe(generateTrace(7, ACTIONS))
    expect(generateTrace(7, ACTIONS)).not.toBe(generateTrace(8, ACTIONS))
    expect(() => parseTrace(generateTrace(7, ACTIONS))).not.toThrow()
  })

  for (let seed = 1; seed <= SEEDS; seed++) {
    it(`seed ${seed}: model = QEMU`, async () => {
      const d = await diffTrace(parseTrace(generateTrace(seed, ACTIONS), `seed ${seed}`), true)
      expect(d === undefined ? "match" : `seed ${seed} line ${d.line}: ${d.message}`).toBe("match")
    })
  }
})
