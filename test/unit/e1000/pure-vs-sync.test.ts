/**
 * The two hosts of the model must agree: the synchronous wrapper (DMA answered inline) and the
 * pure reducer driven asynchronously (each DmaRead answered by a separate DmaReadDone event,
 * with an unrelated register read slipped in while every read is outstanding, so the backlog
 * path runs too). Random well-formed traces from the oracle's generator (test/e1000) are run
 * through both and must produce the same reads, interrupts and frames, step by step.
 * The sync wrapper's default path (each read answered inside the same reducer call) must
 * agree with answering each read by a new checked call with DmaReadDone, on the same traces
 * and on every shipped trace.
 */
import { describe, expect, it } from "vitest"
import {
  createE1000,
  createSyncE1000 as createInPlaceSyncE1000,
  type E1000Event,
  type SyncE1000,
  type SyncE1000Options,
} from "../../../src/device/e1000/api.ts"
import { generateTrace } from "../../e1000/generate.ts"
import { firstDifference } from "../../e1000/observation.ts"
import { runOnModel } from "../../e1000/run-model.ts"
import { parseTrace } from "../../e1000/trace.ts"
import { loadTraces } from "../../e1000/traces.ts"
import { createSyncE1000, step as e1000Step } from "./harness.ts"

const TDH = 0x3810
const RDH = 0x2810

/** A SyncE1000 built on the pure reducer with asynchronous-style DMA. */
const createAsyncHosted = (opts: SyncE1000Options): SyncE1000 => {
  let s = createE1000(opts)
  let irq = false
  const deadlines = new Map<string, number>()
  const values: number[] = []
  let accepted = false
  // Slipped-in reads of TDH and RDH: their values must come out in order before the real ones
  // and must show the registers as they are once the whole operation is done (backlogged).
  let dummies = 0
  const dummyValues: number[] = []

  const run = (first: E1000Event, now: number): void => {
    const pending: E1000Event[] = [first]
    while (pending.length > 0) {
      const ev = pending.shift()!
      const [next, effects] = e1000Step(s, now, ev)
      s = next
      for (const e of effects) {
        switch (e._tag) {
          case "DmaRead":
            // slip an unrelated read in while the operation waits: it must be backlogged
            dummies += 2
            pending.push({ _tag: "MmioRead", offset: TDH, size: 4 })
            pending.push({ _tag: "MmioRead", offset: RDH, size: 4 })
            pending.push({ _tag: "DmaReadDone", request: e.request, data: opts.memory.read(e.address, e.length).slice() })
            break
          case "DmaWrite":
            opts.memory.write(e.address, e.data)
            break
          case "ReadValue":
            if (dummies > 0) {
              dummies--
              dummyValues.push(e.value)
            } else values.push(e.value)
            break
          case "Interrupt":
            irq = e.level
            opts.onIrq(e.level)
            break
          case "Transmit":
            opts.onTransmit(e.frame)
            break
          case "SetTimer":
            deadlines.set(e.timer, e.atNs)
            break
          case "CancelTimer":
            deadlines.delete(e.timer)
            break
          case "RxAccepted":
            accepted = e.accepted
            break
          case "RxFlush":
            opts.onRxReady?.()
            break
        }
      }
    }
    if (dummyValues.length > 0) {
      const [, t] = e1000Step(s, now, { _tag: "MmioRead", offset: TDH, size: 4 })
      const [, r] = e1000Step(s, now, { _tag: "MmioRead", offset: RDH, size: 4 })
      const final = [t[0], r[0]].map((e) => (e?._tag === "ReadValue" ? e.value : -1))
      for (let i = 0; i < dummyValues.length; i += 2) {
        if (dummyValues[i] !== final[0] || dummyValues[i + 1] !== final[1]) throw new Error("a read was not held back until the operation finished")
      }
      dummyValues.length = 0
    }
  }
  const read = (ev: E1000Event): number => {
    run(ev, opts.nowNs())
    const v = values.pop()
    if (v === undefined || values.length !== 0) throw new Error("read without exactly one value")
    return v
  }
  return {
    mmioRead: (offset, size) => read({ _tag: "MmioRead", offset, size }),
    mmioWrite: (offset, size, value) => run({ _tag: "MmioWrite", offset, size, value }, opts.nowNs()),
    configRead: (offset, size) => read({ _tag: "ConfigRead", offset, size }),
    configWrite: (offset, size, value) => run({ _tag: "ConfigWrite", offset, size, value }, opts.nowNs()),
    receive: (frame) => {
      run({ _tag: "FrameFromNetwork", frame }, opts.nowNs())
      return accepted
    },
    setLink: (up) => run({ _tag: "Link", up }, opts.nowNs()),
    reset: () => run({ _tag: "Reset" }, opts.nowNs()),
    advanceTo: (nowNs) => run({ _tag: "TimerFired", timer: "mit" }, nowNs),
    nextDeadlineNs: () => (deadlines.size === 0 ? undefined : Math.min(...deadlines.values())),
    get irq() {
      return irq
    },
  }
}

describe("e1000 model: pure reducer with asynchronous DMA == synchronous wrapper", () => {
  for (let seed = 1000; seed < 1012; seed++) {
    it(`random trace, seed ${seed}`, () => {
      const steps = parseTrace(generateTrace(seed, 250), `seed ${seed}`)
      const viaSync = runOnModel(createSyncE1000, steps)
      const viaPure = runOnModel(createAsyncHosted, steps)
      expect(viaSync.failure).toBeUndefined()
      expect(viaPure.failure).toBeUndefined()
      expect(viaSync.results.length).toBe(steps.length)
      expect(firstDifference(viaSync, viaPure)).toBeUndefined()
      // the traces do exercise the device
      expect(viaSync.results.some((r) => r.tx.length > 0)).toBe(true)
    }, 180_000) // every call runs twice under the referential-transparency check
  }
})

describe("e1000 sync wrapper: reads answered in place == answered by a new (checked) reducer call", () => {
  const same = (name: string, steps: ReturnType<typeof parseTrace>): void => {
    const inPlace = runOnModel(createInPlaceSyncE1000, steps)
    const stepwise = runOnModel(createSyncE1000, steps)
    expect(inPlace.failure, name).toBeUndefined()
    expect(stepwise.failure, name).toBeUndefined()
    expect(inPlace.results.length).toBe(steps.length)
    expect(firstDifference(stepwise, inPlace), name).toBeUndefined()
  }
  it("random traces, seeds 2000..2011", () => {
    for (let seed = 2000; seed < 2012; seed++) same(`seed ${seed}`, parseTrace(generateTrace(seed, 250), `seed ${seed}`))
  }, 180_000)
  it("every shipped trace", () => {
    for (const t of loadTraces()) same(t.name, t.steps)
  }, 180_000)
})
