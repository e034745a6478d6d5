import { describe, expect, it } from "vitest"
import { fromHex, get16, get32, put16, put32, toHex } from "../../../src/protocol/wire/bytes.ts"
import { rng } from "./prng.ts"

describe("bytes", () => {
  it("bytes: get16/get32 read big-endian at any offset", () => {
    const b = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01])
    expect(get16(b, 0)).toBe(0xdead)
    expect(get16(b, 3)).toBe(0xef01)
    expect(get32(b, 0)).toBe(0xdeadbeef)
    expect(get32(b, 1)).toBe(0xadbeef01)
  })

  it("bytes: get32 of a value with the top bit set is a non-negative uint32", () => {
    expect(get32(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0)).toBe(0xffffffff)
    expect(get32(new Uint8Array([0x80, 0, 0, 0]), 0)).toBe(0x80000000)
  })

  it("bytes: put16/put32 write big-endian and keep only the low bits", () => {
    const b = new Uint8Array(6)
    put16(b, 0, 0x1_abcd)
    put32(b, 2, 0xfedcba98)
    expect(toHex(b)).toBe("abcdfedcba98")
    put32(b, 2, -1)
    expect(toHex(b.subarray(2))).toBe("ffffffff")
  })

  it("bytes: put then get round-trips random values (seeded)", () => {
    const r = rng(16)
    const b = new Uint8Array(8)
    for (let n = 0; n < 1000; n++) {
      const v16 = r.int(0, 0xffff)
      const v32 = r.int(0, 0xffffffff)
      const o = r.int(0, 2)
      put16(b, o, v16)
      expect(get16(b, o)).toBe(v16)
      put32(b, o, v32)
      expect(get32(b, o)).toBe(v32)
    }
  })

  it("bytes: toHex/fromHex round-trip, whitespace ignored, bad input refused", () => {
    expect(toHex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe("0001abff")
    expect([...fromHex("00 01\nAB ff")]).toEqual([0, 1, 0xab, 0xff])
    expect(toHex(fromHex(""))).toBe("")
    expect(() => fromHex("abc")).toThrow(/bad hex/)
    expect(() => fromHex("zz")).toThrow(/bad hex/)
  })
})
