/** The persistent integer map: agrees with a Map model, never changes an old version, clones. */
import { describe, expect, it } from "vitest"
import {
  emptyIntMap,
  intMapEntries,
  intMapFromEntries,
  intMapGet,
  intMapHas,
  intMapRemove,
  intMapSet,
  type IntMap,
} from "../../../src/protocol/data/int-map.ts"
import { deepFreeze, firstDifference } from "../../support/referential.ts"

/** xorshift32, seeded: keys that collide in their low bits often (to build deep paths). */
const rng = (seed: number) => {
  let x = seed || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
}

const toMap = (m: IntMap<number, number>) => new Map([...intMapEntries(m)].map(([k, v]) => [k, v] as const))

describe("IntMap", () => {
  it("agrees with a Map under 20,000 random sets and removes, every old version unchanged (frozen)", () => {
    for (const seed of [1, 2, 3]) {
      const next = rng(seed)
      let m = emptyIntMap<number, number>()
      const model = new Map<number, number>()
      const history: Array<readonly [IntMap<number, number>, Map<number, number>]> = []
      for (let i = 0; i < 20_000; i++) {
        const r = next()
        // Keys from three shapes: small ids, keys sharing low bits, anything.
        const key = r % 3 === 0 ? next() % 64 : r % 3 === 1 ? ((next() % 4) * 0x4000_0000 + 7) >>> 0 : next()
        deepFreeze(m) // any write to an old version throws
        if (next() % 3 === 0) {
          m = intMapRemove(m, key)
          model.delete(key)
        } else {
          const v = next() % 5
          m = intMapSet(m, key, v)
          model.set(key, v)
        }
        if (i % 2000 === 0) history.push([m, new Map(model)])
        expect(m.size).toBe(model.size)
        expect(intMapGet(m, key)).toBe(model.get(key))
      }
      expect(toMap(m)).toEqual(model)
      for (const [old, oldModel] of history) expect(toMap(old)).toEqual(oldModel)
    }
  })

  it("has the same shape for the same entries, whatever the order of operations", () => {
    const keys = [5, 37, 69, 0x40000005, 1, 1025, 33, 0xffffffff]
    const a = intMapFromEntries(keys.map((k) => [k, k] as const))
    let b = intMapFromEntries([...keys].reverse().map((k) => [k, k] as const))
    b = intMapRemove(intMapSet(b, 12345, 1), 12345)
    expect(firstDifference(a, b)).toBeUndefined()
    expect([...intMapEntries(a)]).toEqual([...intMapEntries(b)])
  })

  it("returns the same map when nothing changes", () => {
    const m = intMapSet(emptyIntMap<number, string>(), 7, "x")
    expect(intMapSet(m, 7, "x")).toBe(m)
    expect(intMapRemove(m, 8)).toBe(m)
    expect(intMapHas(m, 7)).toBe(true)
    expect(intMapHas(intMapRemove(m, 7), 7)).toBe(false)
    expect(intMapRemove(m, 7).size).toBe(0)
  })

  it("survives structuredClone as a working map (plain data)", () => {
    const m = intMapFromEntries([[1, "a"], [33, "b"], [65, "c"]] as const)
    const c = structuredClone(m)
    expect(intMapGet(c, 33)).toBe("b")
    expect(intMapGet(intMapSet(c, 97, "d"), 97)).toBe("d")
    expect(firstDifference(m, c)).toBeUndefined()
  })
})
