/**
 * Hostile input never throws: random MMIO/config accesses at random offsets and widths, random
 * descriptors and rings, random frames, DMA answers that are short, long or late, timers fired
 * at random times. Seeded, so failures reproduce. Every call is checked for referential
 * transparency (harness.ts `step`).
 */
import { describe, expect, it } from "vitest"
import { createE1000, type E1000Event } from "../../../src/device/e1000/api.ts"
import { MAC, step as e1000Step } from "./harness.ts"

const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// registers worth hitting often: rings, control, interrupts, MDIC, EECD
const HOT = [0x0, 0x10, 0x14, 0x20, 0x38, 0xc0, 0xc4, 0xc8, 0xd0, 0xd8, 0x100, 0x400, 0x2800, 0x2804, 0x2808, 0x2810, 0x2818, 0x2820, 0x282c, 0x3800, 0x3804, 0x3808, 0x3810, 0x3818, 0x382c, 0x5400, 0x5404]

describe("e1000 model: hostile input", () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`never throws (seed ${seed})`, () => {
      const rnd = prng(seed)
      const int = (n: number): number => Math.floor(rnd() * n)
      const mem = new Uint8Array(1 << 16)
      for (let i = 0; i < mem.length; i++) mem[i] = int(256)
      let s = createE1000({ mac: MAC })
      ;[s] = e1000Step(s, 0, { _tag: "ConfigWrite", offset: 4, size: 2, value: 7 }) // bus master on
      let now = 0
      const pendingReads: Array<{ request: number; length: number }> = []
      let effects = 0
      let transmits = 0
      let dmaWrites = 0
      for (let n = 0; n < 20_000; n++) {
        now += int(3) === 0 ? int(2_000_000_000) : int(1000)
        let ev: E1000Event
        const k = int(10)
        const size = ([1, 2, 4] as const)[int(3)]!
        if (pendingReads.length > 0 && k < 4) {
          const r = pendingReads[0]!
          const stray = int(10) === 0 // a completion nobody asked for: ignored, the read stays pending
          if (!stray) pendingReads.shift()
          const len = int(3) === 0 ? int(r.length + 8) : r.length
          ev = { _tag: "DmaReadDone", request: stray ? r.request + 1000 : r.request, data: mem.slice(int(1000), int(1000) + len) }
        } else if (k < 6) {
          const offset = int(2) === 0 ? HOT[int(HOT.length)]! + int(4) : int(0x20000)
          // ring bases inside our little memory, lengths small
          const value = offset >= 0x2800 && offset < 0x3900 ? int(0x1000) : int(2) === 0 ? int(0x100000000) : int(0x10000)
          ev = { _tag: "MmioWrite", offset, size, value }
        } else if (k === 6) {
          ev = { _tag: "MmioRead", offset: int(2) === 0 ? HOT[int(HOT.length)]! : int(0x20000), size }
        } else if (k === 7) {
          const c = int(4)
          ev =
            c === 0
              ? { _tag: "ConfigWrite", offset: int(260), size, value: int(0x100000000) }
              : c === 1
                ? { _tag: "ConfigWrite", offset: 4, size: 2, value: 7 }
                : { _tag: "ConfigRead", offset: int(260), size }
        } else if (k === 8) {
          ev = { _tag: "FrameFromNetwork", frame: mem.slice(0, int(20000)) }
        } else {
          const r = int(4)
          ev = r === 0 ? { _tag: "Link", up: int(2) === 0 } : r === 1 ? { _tag: "Reset" } : { _tag: "TimerFired", timer: (["mit", "autoneg", "flush"] as const)[int(3)]! }
        }
        const [next, out] = e1000Step(s, now, ev)
        s = next
        effects += out.length
        for (const e of out) {
          if (e._tag === "DmaRead") pendingReads.push({ request: e.request, length: e.length })
          if (e._tag === "Transmit") transmits++
          if (e._tag === "DmaWrite") dmaWrites++
        }
      }
      expect(effects).toBeGreaterThan(1000)
      expect(transmits + dmaWrites).toBeGreaterThan(10) // the rings did run
    }, 180_000) // every call runs twice under the referential-transparency check
  }
})
