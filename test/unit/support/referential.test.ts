/**
 * The referential-transparency harness catches each way a reducer can break purity, including
 * through each of the shortcuts that make it cheap (freezing only new nodes, fingerprinting an
 * array once and re-verifying in bulk, comparing shared subtrees by identity).
 */
import { afterEach, describe, expect, it } from "vitest"
import {
  NotReferentiallyTransparent,
  checkedReduce,
  firstDifference,
  forgetWatched,
  harnessCounters,
  referentialOptions,
  verifyBytes,
} from "../../support/referential.ts"
import { provoked } from "./provoke.ts"

interface S {
  readonly n: number
  readonly list: ReadonlyArray<{ readonly v: number }>
  readonly map: Map<number, number>
  readonly bytes: Uint8Array
}
const fresh = (): S => ({ n: 1, list: [{ v: 1 }], map: new Map([[1, 1]]), bytes: new Uint8Array([1, 2, 3]) })
/** A pure step that keeps every subtree of `s` but `n` (as a persistent structure does). */
const step = (s: S, e: number): S => ({ ...s, n: s.n + e })

afterEach(() => verifyBytes({ release: true }))

describe("checkedReduce", () => {
  it("passes a pure reducer and returns its result", () => {
    const r = checkedReduce((s: S, e: number) => [{ ...s, n: s.n + e, list: [...s.list, { v: e }] }, [e]] as const, fresh(), 2)
    expect(r[0].n).toBe(3)
    expect(r[1]).toEqual([2])
  })
  it("catches a write to a nested object", () => {
    expect(() => checkedReduce((s: S) => { (s.list[0] as { v: number }).v = 9; return s }, fresh(), 0)).toThrow(TypeError)
  })
  it("catches a write to a Map of the state", () => {
    expect(() => checkedReduce((s: S) => { s.map.set(2, 2); return s }, fresh(), 0)).toThrow(/Map or Set/)
  })
  it("catches a write into bytes of the state", () => {
    expect(provoked(() => checkedReduce((s: S) => { s.bytes[0] = 7; return s }, fresh(), 0))).toThrow(NotReferentiallyTransparent)
  })
  it("catches results that differ between two calls", () => {
    let calls = 0
    expect(() => checkedReduce((s: S) => ({ ...s, n: ++calls }), fresh(), 0)).toThrow(/different results: \$\.n/)
  })
  it("catches state hidden outside the state (a closure's counter)", () => {
    const counter = { k: 0 }
    expect(() => checkedReduce((_s: S) => [counter.k++], fresh(), 0)).toThrow(NotReferentiallyTransparent)
  })
})

describe("the shortcuts still catch writes to old states", () => {
  it("freezing stops at what was frozen before, yet a shared old subtree stays frozen", () => {
    const s0 = fresh()
    const s1 = checkedReduce(step, s0, 1) // s1 shares list, map and bytes with s0
    expect(s1.list).toBe(s0.list)
    expect(() => checkedReduce((s: S) => { (s.list as Array<{ v: number }>).push({ v: 2 }); return s }, s1, 0)).toThrow(TypeError)
  })
  it("a node that is new in the input is frozen although its children were frozen before", () => {
    const s0 = fresh()
    const s1 = checkedReduce((s: S) => ({ ...s, list: [...s.list] }), s0, 0) // a new array of old records
    expect(() => checkedReduce((s: S) => { (s.list as Array<{ v: number }>)[0] = { v: 5 }; return s }, s1, 0)).toThrow(TypeError)
  })
  it("an array is fingerprinted once however many states hold it", () => {
    const s0 = fresh()
    let s = checkedReduce(step, s0, 1)
    const held = harnessCounters().watchedBytes
    for (let i = 0; i < 100; i++) s = checkedReduce(step, s, 1)
    expect(harnessCounters().watchedBytes).toBe(held)
    expect(s.bytes).toBe(s0.bytes)
  })
  it("a write into an old state's bytes during a later call (the array not in the input) is caught by the bulk check", () => {
    const s0 = fresh()
    const s1 = checkedReduce((s: S) => ({ ...s, bytes: new Uint8Array(4) }), s0, 0) // s1 no longer holds s0.bytes
    const sneaky = (s: S): S => { s0.bytes[1] = 9; return s }
    expect(provoked(() => checkedReduce(sneaky, s1, 0))).toThrow(/wrote into bytes of a state/)
  })
  it("a write between calls into bytes first seen many calls earlier is caught by the bulk check", () => {
    const big = { ...fresh(), bytes: new Uint8Array(1 << 16) }
    let s = checkedReduce(step, big, 1)
    for (let i = 0; i < 50; i++) s = checkedReduce(step, s, 1)
    expect(provoked(() => { big.bytes[40000] = 1 })).toThrow(NotReferentiallyTransparent)
  })
  it("the interval check finds a write without waiting for the end once enough new bytes were seen", () => {
    verifyBytes({ release: true })
    const s0 = { ...fresh(), bytes: new Uint8Array(1000) }
    const s1 = checkedReduce((s: S) => ({ ...s, bytes: new Uint8Array(1000) }), s0, 0)
    s0.bytes[3] = 1 // a write into an old state's bytes
    // s1's 1000 new bytes are half of the 2000 watched: this call checks everything
    try {
      expect(() => checkedReduce(step, s1, 0)).toThrow(/wrote into bytes of a state/)
    } finally {
      forgetWatched()
    }
  })
  it("REFERENTIAL_STRICT=1 checks the bytes after every call, naming the call that wrote", () => {
    const s0 = { ...fresh(), bytes: new Uint8Array(1 << 12) }
    let s = checkedReduce(step, s0, 1)
    for (let i = 0; i < 10; i++) s = checkedReduce(step, s, 1)
    referentialOptions.strict = true // as REFERENTIAL_STRICT=1 does
    try {
      expect(() => checkedReduce((x: S) => { x.bytes[7] = 0xaa; return step(x, 1) }, s, 0)).toThrow(/found changed at check \d+ after call \d+/)
    } finally {
      referentialOptions.strict = false
      forgetWatched()
    }
  })
  it("after a run ends, a later call that reaches one of its states again checks its bytes afresh", () => {
    const s0 = fresh()
    checkedReduce(step, s0, 1)
    verifyBytes({ release: true }) // the run is over; the harness forgot s0
    expect(provoked(() => checkedReduce((s: S) => { s.bytes[2] = 0; return step(s, 1) }, s0, 0))).toThrow(NotReferentiallyTransparent)
    expect(() => checkedReduce((s: S) => { (s.list as Array<unknown>).pop(); return s }, s0, 0)).toThrow(TypeError) // still frozen
  })
  it("results that share old subtrees by identity but differ in a new one are caught", () => {
    const s0 = { ...fresh(), list: Array.from({ length: 1000 }, (_, v) => ({ v })) }
    let k = 0
    const flaky = (s: S): S => ({ ...s, map: new Map([[1, k++ % 2]]) })
    expect(() => checkedReduce(flaky, s0, 0)).toThrow(/different results: \$\.map\.entry\(0\)/)
  })
})

describe("firstDifference", () => {
  it("compares typed arrays by bytes, Maps by entries, and names the path", () => {
    expect(firstDifference({ a: new Uint8Array([1, 2]) }, { a: new Uint8Array([1, 2]) })).toBeUndefined()
    expect(firstDifference({ a: new Uint8Array([1, 2]) }, { a: new Uint8Array([1, 3]) })).toBe("$.a[byte 1]: 2 vs 3")
    expect(firstDifference(new Map([[1, { x: 1 }]]), new Map([[1, { x: 2 }]]))).toMatch(/entry\(0\)/)
    expect(firstDifference({ f: () => 1 }, { f: () => 1 })).toMatch(/function/)
    expect(firstDifference([NaN, Infinity], [NaN, Infinity])).toBeUndefined()
  })
  it("ends on cycles and still finds a difference inside one", () => {
    const cyclic = (n: number) => {
      const o: { next?: unknown; n: number } = { n }
      o.next = { next: { next: o, n }, n }
      return o
    }
    expect(firstDifference(cyclic(1), cyclic(1))).toBeUndefined()
    expect(firstDifference(cyclic(1), cyclic(2))).toBe("$.n: 1 vs 2")
  })
  it("does not look inside a subtree both sides share (identity), and does inside equal copies", () => {
    const shared = { g: { f: () => 1 } } // a function inside is a difference where it is walked
    expect(firstDifference({ a: shared, n: 1 }, { a: shared, n: 1 })).toBeUndefined()
    expect(firstDifference({ a: { g: { f: () => 1 } }, n: 1 }, { a: { g: { f: () => 1 } }, n: 1 })).toMatch(/\$\.a\.g\.f: a function/)
  })
})
