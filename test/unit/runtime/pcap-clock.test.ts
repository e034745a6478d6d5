/**
 * The capture's default clock (pcap-writer.ts `batchedWallMicros`): one reading of the wall
 * clock serves the frames of one synchronous run, up to 16 of them; a frame in a later
 * microtask or task reads it again, so sparse traffic is stamped exactly.
 */
import { describe, expect, it } from "vitest"
import { batchedWallMicros } from "../../../src/runtime/pcap/pcap-writer.ts"

/** A fake clock that counts its readings and returns 1000, 2000, ... */
const countingClock = (): { read: () => number; readings: () => number } => {
  let n = 0
  return { read: () => ++n * 1000, readings: () => n }
}

describe("the capture's batched clock", () => {
  it("a synchronous run of 40 frames reads the clock 3 times (frames 1, 17, 33), each reading serving its 16", () => {
    const c = countingClock()
    const clock = batchedWallMicros(c.read)
    const stamps = Array.from({ length: 40 }, () => clock())
    expect(c.readings()).toBe(3)
    expect(stamps.slice(0, 16).every((t) => t === 1000)).toBe(true)
    expect(stamps.slice(16, 32).every((t) => t === 2000)).toBe(true)
    expect(stamps.slice(32).every((t) => t === 3000)).toBe(true)
  })

  it("a frame after the run's microtasks, or in a later task, reads the clock afresh", async () => {
    const c = countingClock()
    const clock = batchedWallMicros(c.read)
    expect(clock()).toBe(1000)
    expect(clock()).toBe(1000)
    await Promise.resolve()
    await Promise.resolve()
    expect(clock()).toBe(2000)
    await new Promise((r) => setImmediate(r))
    expect(clock()).toBe(3000)
    expect(clock()).toBe(3000)
    expect(c.readings()).toBe(3)
  })

  it("the default reads the real wall clock: within a second of Date.now()", () => {
    const micros = batchedWallMicros()()
    expect(Math.abs(micros / 1000 - Date.now())).toBeLessThan(1000)
  })
})
