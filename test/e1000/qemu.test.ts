/**
 * The oracle checked against itself: every trace's written expectations hold on QEMU 7.2, and
 * the harness observes what it claims to (interrupt changes per step, transmitted frames,
 * frames held back while the card cannot receive). Needs qemu-system-x86 and gcc; fails with
 * the reason if they are missing.
 */
import { describe, expect, it } from "vitest"
import { generateTrace } from "./generate.ts"
import { checkExpectations, firstDifference } from "./observation.ts"
import { runOnQemu } from "./run-qemu.ts"
import { parseTrace } from "./trace.ts"
import { loadTraces } from "./traces.ts"

describe("QEMU 7.2 e1000 under qtest", () => {
  for (const trace of loadTraces()) {
    it(`${trace.name}: every expectation in the trace holds on QEMU`, async () => {
      const d = checkExpectations(await runOnQemu(trace.steps), "qemu")
      expect(d === undefined ? "ok" : `line ${d.line}: ${d.message}`).toBe("ok")
    })
  }

  it("reports a read that contradicts the trace, with its line", async () => {
    const d = checkExpectations(await runOnQemu(parseTrace("read32 0x8 0x80080783\nread32 0x8 0x1")), "qemu")
    expect(d).toEqual({ line: 2, message: "read32 0x8 0x1: qemu read 0x80080783, trace expects 0x1" })
  })

  it("attributes interrupt changes to the step that caused them", async () => {
    const run = await runOnQemu(
      parseTrace(["write32 0xd0 0x4", "read32 0x8", "write32 0xc8 0x4", "read32 0xc0", "read32 0xc0"].join("\n")),
    )
    expect(run.results.map((r) => r.irq)).toEqual([[], [], [true], [false], []])
  })

  it("captures a transmitted frame at the TDT write, and nothing for an IMS write", async () => {
    const frame = "ffffffffffff020000000001080045000000"
    const run = await runOnQemu(
      parseTrace(
        [
          "write32 0x3800 0x200000",
          "write32 0x3808 0x80",
          "write32 0x400 0x2",
          `mem.write 0x201000 ${frame}`,
          "mem.write 0x200000 00102000000000001200000b00000000",
          "write32 0xd0 0x1",
          "write32 0x3818 1",
        ].join("\n"),
      ),
    )
    expect(run.results.map((r) => r.tx)).toEqual([[], [], [], [], [], [], [frame]])
  })

  it("holds frames while RX is disabled and delivers them in order once it can", async () => {
    const desc = (i: number): string => `00${(0x10 + i * 8).toString(16)}3000000000000000000000000000`
    const frame = (n: number): string => `525400123456020000000001${n.toString(16).padStart(4, "0")}` + "ab".repeat(50)
    const lines = [
      `mem.write 0x300000 ${[0, 1, 2, 3, 4, 5, 6, 7].map(desc).join("")}`,
      "write32 0x2800 0x300000",
      "write32 0x2808 0x80",
      "write32 0x2818 7",
      `net.in ${frame(1)}`,
      `net.in ${frame(2)}`,
      `net.in ${frame(3)}`,
      "read32 0x2810 0",
      "write32 0x100 0x2",
      "read32 0x2810 0",
      "clock.step 1000000000",
      "read32 0x2810 3",
      "mem.read 0x301000 6",
      "mem.read 0x301800 6",
      "mem.read 0x302000 6",
      "mem.read 0x30100c 2 0001",
      "mem.read 0x30180c 2 0002",
      "mem.read 0x30200c 2 0003",
    ]
    const d = checkExpectations(await runOnQemu(parseTrace(lines.join("\n"))), "qemu")
    expect(d === undefined ? "ok" : `line ${d.line}: ${d.message}`).toBe("ok")
  })

  it("is deterministic: two QEMUs running the same generated traces side by side agree", async () => {
    for (const seed of [101, 102, 103]) {
      const steps = parseTrace(generateTrace(seed, 80))
      const [a, b] = await Promise.all([runOnQemu(steps), runOnQemu(steps)])
      const d = firstDifference(a, b)
      expect(d === undefined ? "same" : `seed ${seed} line ${d.line}: ${d.message}`).toBe("same")
    }
  })
})
