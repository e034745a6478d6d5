/** The referential-transparency harness catches each way a reducer can break purity. */
import { describe, expect, it } from "vitest"
import { NotReferentiallyTransparent, checkedReduce, firstDifference } from "../../support/referential.ts"

interface S {
  readonly n: number
  readonly list: ReadonlyArray<{ readonly v: number }>
  readonly map: Map<number, number>
  readonly bytes: Uint8Array
}
const fresh = (): S => ({ n: 1, list: [{ v: 1 }], map: new Map([[1, 1]]), bytes: new Uint8Array([1, 2, 3]) })

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
    expect(() => checkedReduce((s: S) => { s.bytes[0] = 7; return s }, fresh(), 0)).toThrow(NotReferentiallyTransparent)
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

describe("firstDifference", () => {
  it("compares typed arrays by bytes, Maps by entries, and names the path", () => {
    expect(firstDifference({ a: new Uint8Array([1, 2]) }, { a: new Uint8Array([1, 2]) })).toBeUndefined()
    expect(firstDifference({ a: new Uint8Array([1, 2]) }, { a: new Uint8Array([1, 3]) })).toBe("$.a[byte 1]: 2 vs 3")
    expect(firstDifference(new Map([[1, { x: 1 }]]), new Map([[1, { x: 2 }]]))).toMatch(/entry\(0\)/)
    expect(firstDifference({ f: () => 1 }, { f: () => 1 })).toMatch(/function/)
    expect(firstDifference([NaN, Infinity], [NaN, Infinity])).toBeUndefined()
  })
})
