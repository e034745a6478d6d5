/**
 * The reducer is pure (DESIGN.md §3): states are plain data that `structuredClone` copies,
 * an operation suspended on a DMA read included; an old state stays valid after it has been
 * reduced (branch from it, reduce it again); the referential-transparency check used by every
 * other e1000 test does catch a reducer that writes its input.
 */
import { describe, expect, it } from "vitest"
import {
  awaitingDma,
  createE1000,
  e1000Step,
  type E1000Effect,
  type E1000Event,
  type E1000State,
} from "../../../src/device/e1000/api.ts"
import { callAnswer, callFinish, callStart, callWaiting } from "../../../src/device/e1000/model.ts"
import { checkedReduce, firstDifference, NotReferentiallyTransparent } from "../../support/referential.ts"
import { bytes, ether, MAC, REG, step } from "./harness.ts"

const TX_RING = 0x10000
const RX_RING = 0x11000
const BUF = 0x20000

/** Guest memory with a 4-descriptor TX ring (2 frames, the second in two pieces) and an RX ring. */
const guest = (): Uint8Array => {
  const mem = new Uint8Array(0x40000)
  const dv = new DataView(mem.buffer)
  const f1 = ether([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], Array.from(MAC), 0x0800, bytes(50, 1))
  const f2 = ether([0x02, 0, 0, 0, 0, 1], Array.from(MAC), 0x0800, bytes(300, 2))
  mem.set(f1, BUF)
  mem.set(f2, BUF + 0x1000)
  const desc = (i: number, addr: number, len: number, eop: boolean): void => {
    dv.setUint32(TX_RING + 16 * i, addr, true)
    dv.setUint32(TX_RING + 16 * i + 8, len | (eop ? 1 << 24 : 0) | (1 << 27), true) // EOP, RS
  }
  desc(0, BUF, f1.length, true)
  desc(1, BUF + 0x1000, 100, false)
  desc(2, BUF + 0x1000 + 100, f2.length - 100, true)
  for (let i = 0; i < 4; i++) dv.setUint32(RX_RING + 16 * i, BUF + 0x8000 + 0x800 * i, true)
  return mem
}

const answer = (mem: Uint8Array, effects: ReadonlyArray<E1000Effect>): E1000Event | undefined => {
  const r = effects[effects.length - 1]
  if (r === undefined || r._tag !== "DmaRead") return undefined
  return { _tag: "DmaReadDone", request: r.request, data: mem.slice(r.address, r.address + r.length) }
}

const run = (s: E1000State, evs: ReadonlyArray<E1000Event>, now = 0): [E1000State, Array<E1000Effect>] => {
  const all: Array<E1000Effect> = []
  for (const ev of evs) {
    const [next, out] = step(s, now, ev)
    s = next
    all.push(...out)
  }
  return [s, all]
}

/** A card with both rings set up and bus mastering on; RCTL's flush timer long past. */
const ready = (): E1000State => {
  const w = (offset: number, value: number): E1000Event => ({ _tag: "MmioWrite", offset, size: 4, value })
  let [s] = run(createE1000({ mac: MAC }), [
    { _tag: "ConfigWrite", offset: 4, size: 2, value: 6 },
    w(REG.IMS, 0x9f),
    w(REG.TDBAL, TX_RING),
    w(REG.TDLEN, 16 * 8),
    w(REG.TCTL, 2),
    w(REG.RDBAL, RX_RING),
    w(REG.RDLEN, 16 * 4),
    w(REG.RDT, 3),
    w(REG.RCTL, 0x2 | 0x8000),
  ])
  ;[s] = run(s, [{ _tag: "TimerFired", timer: "flush" }], 2_000_000_000)
  return s
}

/** Feeds `evs` in order, answering every DmaRead from `mem`; returns every call's effects. */
const drive = (s: E1000State, mem: Uint8Array, evs: ReadonlyArray<E1000Event>): [E1000State, Array<ReadonlyArray<E1000Effect>>] => {
  const calls: Array<ReadonlyArray<E1000Effect>> = []
  for (const first of evs) {
    let ev: E1000Event | undefined = first
    while (ev !== undefined) {
      const [next, out] = step(s, 2_000_000_000, ev)
      s = next
      calls.push(out)
      for (const e of out) if (e._tag === "DmaWrite") mem.set(e.data, e.address)
      ev = answer(mem, out)
    }
  }
  return [s, calls]
}

describe("e1000 state is plain data", () => {
  it("structuredClone while a TX DMA read is outstanding: clone and original give the same effects and states", () => {
    const mem = guest()
    const s0 = ready()
    const [s1, out1] = step(s0, 2_000_000_000, { _tag: "MmioWrite", offset: REG.TDT, size: 4, value: 3 })
    expect(out1.map((e) => e._tag)).toEqual(["DmaRead"])
    expect(awaitingDma(s1)).toBe(true)
    const clone = structuredClone(s1)
    expect(clone).not.toBe(s1)
    expect(firstDifference(clone, s1)).toBeUndefined()
    // the same events to both: the read's answer, a register read that must wait (backlog),
    // then a received frame; memory is cloned too so both see the same guest
    const events: ReadonlyArray<E1000Event> = [
      answer(mem, out1)!,
      { _tag: "MmioRead", offset: REG.TDH, size: 4 },
      { _tag: "FrameFromNetwork", frame: ether(Array.from(MAC), [2, 0, 0, 0, 0, 9], 0x0800, bytes(46, 3)) },
    ]
    const [a, callsA] = drive(s1, mem.slice(), events)
    const [b, callsB] = drive(clone, mem.slice(), events)
    expect(firstDifference(callsA, callsB)).toBeUndefined()
    expect(firstDifference(a, b)).toBeUndefined()
    // the operation did run: two frames out, TDH read after it finished, one frame received
    const flat = callsA.flat()
    expect(flat.filter((e) => e._tag === "Transmit").length).toBe(2)
    expect(flat).toContainEqual({ _tag: "ReadValue", value: 3 })
    expect(flat).toContainEqual({ _tag: "RxAccepted", accepted: true })
    expect(awaitingDma(a)).toBe(false)
  })

  it("structuredClone while an RX descriptor read is outstanding", () => {
    const mem = guest()
    const frame = ether(Array.from(MAC), [2, 0, 0, 0, 0, 9], 0x0800, bytes(46, 4))
    const [s1, out1] = step(ready(), 2_000_000_000, { _tag: "FrameFromNetwork", frame })
    expect(awaitingDma(s1)).toBe(true)
    const clone = structuredClone(s1)
    const [a, callsA] = drive(s1, mem.slice(), [answer(mem, out1)!])
    const [b, callsB] = drive(clone, mem.slice(), [answer(mem, out1)!])
    expect(firstDifference(callsA, callsB)).toBeUndefined()
    expect(firstDifference(a, b)).toBeUndefined()
    expect(callsA.flat().filter((e) => e._tag === "DmaWrite").length).toBe(3) // data, descriptor, DD
  })
})

describe("old e1000 states stay valid", () => {
  it("branches from one suspended state with different answers, then reduces it again like the first time", () => {
    const mem = guest()
    const [s1, out1] = step(ready(), 2_000_000_000, { _tag: "MmioWrite", offset: REG.TDT, size: 4, value: 1 })
    const [s2, out2] = step(s1, 0, answer(mem, out1)!) // the descriptor: now the buffer is read
    const real = answer(mem, out2)!
    const other = { ...real, data: new Uint8Array(real._tag === "DmaReadDone" ? real.data.length : 0).fill(0xee) }
    const [, outA] = step(s2, 0, real)
    const [, outB] = step(s2, 0, other)
    const frameOf = (out: ReadonlyArray<E1000Effect>): Uint8Array | undefined => {
      const t = out.find((e) => e._tag === "Transmit")
      return t?._tag === "Transmit" ? t.frame : undefined
    }
    expect(frameOf(outA)).toEqual(mem.slice(BUF, BUF + 64))
    expect(frameOf(outB)).toEqual(new Uint8Array(64).fill(0xee))
    // s2 was reduced twice (and frozen by the check): a third time gives the first answer again
    const [, outA2] = step(s2, 0, real)
    expect(firstDifference(outA, outA2)).toBeUndefined()
  })

  it("a long run leaves every earlier state intact: replaying from a kept state repeats the run", () => {
    const mem = guest()
    const s0 = ready()
    const events: ReadonlyArray<E1000Event> = [
      { _tag: "MmioWrite", offset: REG.TDT, size: 4, value: 3 },
      { _tag: "FrameFromNetwork", frame: ether(Array.from(MAC), [2, 0, 0, 0, 0, 9], 0x0800, bytes(46, 5)) },
      { _tag: "MmioRead", offset: REG.ICR, size: 4 },
      { _tag: "Reset" },
    ]
    const [a, callsA] = drive(s0, mem.slice(), events)
    const [b, callsB] = drive(s0, mem.slice(), events)
    expect(firstDifference(callsA, callsB)).toBeUndefined()
    expect(firstDifference(a, b)).toBeUndefined()
  })
})

describe("the referential-transparency check on the e1000 reducer", () => {
  it("catches a reducer that writes into the state it was given", () => {
    const s = ready()
    const writing = (st: E1000State, ev: E1000Event) => {
      ;(st.hot[0] as Array<number>)[0] = 1 // what an in-place register file would do
      return e1000Step(st, 0, ev)
    }
    expect(() => checkedReduce(writing, s, { _tag: "MmioRead", offset: REG.STATUS, size: 4 })).toThrow(TypeError)
  })

  it("catches a reducer whose results depend on something besides (state, event)", () => {
    let calls = 0
    const counting = (st: E1000State, ev: E1000Event) => e1000Step(st, calls++, ev)
    const s = ready()
    // the mitigation timer armed by an interrupt depends on `now`: the two runs differ
    expect(() => checkedReduce(counting, s, { _tag: "MmioWrite", offset: REG.ICS, size: 4, value: 0x4 })).toThrow(
      NotReferentiallyTransparent,
    )
  })
})

describe("the sync wrapper's in-place path (model.ts callStart/callAnswer/callFinish)", () => {
  /** One access with every read answered in place from its own copy of guest memory. */
  const inPlace = (guestMem: Uint8Array) => (s: E1000State, ev: E1000Event) => {
    const mem = guestMem.slice()
    const call = callStart(s, 2_000_000_000, ev)
    let applied = 0
    for (;;) {
      for (; applied < call.out.length; applied++) {
        const e = call.out[applied]!
        if (e._tag === "DmaWrite") mem.set(e.data, e.address)
      }
      if (!callWaiting(call)) break
      callAnswer(call, mem.slice(call.reqAddress, call.reqAddress + call.reqLength))
    }
    const [next, effects] = callFinish(call)
    return [next, effects, mem] as const
  }

  it("never writes the state it starts from and repeats exactly (checked like the reducer)", () => {
    const mem = guest()
    let s = ready()
    const events: ReadonlyArray<E1000Event> = [
      { _tag: "MmioWrite", offset: REG.TDT, size: 4, value: 3 },
      { _tag: "FrameFromNetwork", frame: ether(Array.from(MAC), [2, 0, 0, 0, 0, 9], 0x0800, bytes(46, 6)) },
      { _tag: "MmioRead", offset: REG.ICR, size: 4 },
    ]
    let transmits = 0
    for (const ev of events) {
      const [next, effects, after] = checkedReduce(inPlace(mem), s, ev)
      mem.set(after)
      transmits += effects.filter((e) => e._tag === "Transmit").length
      s = next
    }
    expect(transmits).toBe(2)
    expect(awaitingDma(s)).toBe(false)
  })

  it("gives the state and effects that chaining e1000Step with DmaReadDone gives, less the DmaReads", () => {
    const s0 = ready()
    const ev: E1000Event = { _tag: "MmioWrite", offset: REG.TDT, size: 4, value: 3 }
    const [viaCall, callEffects] = inPlace(guest())(s0, ev)
    const [viaSteps, calls] = drive(s0, guest(), [ev])
    expect(firstDifference(viaCall, viaSteps)).toBeUndefined()
    const stepEffects = calls.flat()
    // the stepwise run asked for reads: the transmit fetched its descriptors and buffers
    expect(stepEffects.some((e) => e._tag === "DmaRead")).toBe(true)
    expect(callEffects.some((e) => e._tag === "DmaRead")).toBe(false)
    expect(firstDifference(callEffects, stepEffects.filter((e) => e._tag !== "DmaRead"))).toBeUndefined()
  })
})
