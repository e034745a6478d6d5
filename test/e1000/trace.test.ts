/** The trace format: parsing, line numbers, errors, and formatStep as its inverse. */
import { describe, expect, it } from "vitest"
import { createSyncE1000 } from "../../src/device/e1000/api.ts"
import { createCheckedSyncE1000 } from "./checked.ts"
import { checkExpectations, firstDifference } from "./observation.ts"
import { runOnModel, splitAccess } from "./run-model.ts"
import { formatStep, parseTrace } from "./trace.ts"
import { loadTraces } from "./traces.ts"

describe("trace format", () => {
  it("parses every step kind with its line number, skipping comments and blanks", () => {
    const steps = parseTrace(
      [
        "# header",
        "",
        "write32 0xc8 4   # ICS",
        "read16 0x8 0x783",
        "cfg.write16 0x4 7",
        "cfg.read32 0x0",
        "mem.write 0x1000 00ff",
        "mem.read 0x1000 2 00ff",
        "net.in ffffffffffff",
        "clock.step 1000",
        "link down",
      ].join("\n"),
    )
    expect(steps.map((s) => [s.line, s.op])).toEqual([
      [3, "write"],
      [4, "read"],
      [5, "cfg.write"],
      [6, "cfg.read"],
      [7, "mem.write"],
      [8, "mem.read"],
      [9, "net.in"],
      [10, "clock.step"],
      [11, "link"],
    ])
    expect(steps[1]).toEqual({ op: "read", line: 4, size: 2, offset: 8, expect: 0x783 })
  })

  it("names the line of a malformed step", () => {
    expect(() => parseTrace("read32 0x0\nwrite32 0x0\n", "t")).toThrow("t:2: missing value")
    expect(() => parseTrace("net.in abc", "t")).toThrow("t:1: bad hex")
    expect(() => parseTrace("link sideways", "t")).toThrow("t:1:")
    expect(() => parseTrace("poke 1 2", "t")).toThrow("t:1: unknown step: poke")
    expect(() => parseTrace("write32 0 0x100000000", "t")).toThrow("wider than 32 bits")
    expect(() => parseTrace("cfg.read16 0x3", "t")).toThrow("t:1: configuration access crosses a dword")
  })

  it("formatStep prints what parseTrace reads back, for every shipped trace", () => {
    for (const t of loadTraces()) {
      const again = parseTrace(t.steps.map(formatStep).join("\n"))
      expect(again.map(formatStep)).toEqual(t.steps.map(formatStep))
    }
  })
})

describe("qtest's splitting of unaligned accesses, as the model side replays it", () => {
  it("splits by address alignment, lowest address first, at most 4 bytes", () => {
    expect(splitAccess(0xc4, 4)).toEqual([[0xc4, 4, 0]])
    expect(splitAccess(0xc6, 2)).toEqual([[0xc6, 2, 0]])
    expect(splitAccess(0xc5, 2)).toEqual([[0xc5, 1, 0], [0xc6, 1, 8]])
    expect(splitAccess(0xc6, 4)).toEqual([[0xc6, 2, 0], [0xc8, 2, 16]])
    expect(splitAccess(0x5401, 4)).toEqual([[0x5401, 1, 0], [0x5402, 2, 8], [0x5404, 1, 24]])
    expect(splitAccess(0, 4)).toEqual([[0, 4, 0]])
    expect(splitAccess(0xc7, 1)).toEqual([[0xc7, 1, 0]])
  })
})

describe("every shipped trace replayed on the model, each reducer call checked for referential transparency", () => {
  for (const t of loadTraces()) {
    it(`${t.name}: no call writes its input state or differs when repeated; same results as unchecked`, () => {
      const checked = runOnModel(createCheckedSyncE1000, t.steps)
      expect(checked.failure?.message).toBeUndefined()
      expect(checked.results.length).toBe(t.steps.length)
      // the trace's own expectations hold on the model too (QEMU is checked against them in diff.test.ts)
      expect(checkExpectations(checked, "model")).toBeUndefined()
      expect(firstDifference(checked, runOnModel(createSyncE1000, t.steps))).toBeUndefined()
    }, 180_000)
  }
})
