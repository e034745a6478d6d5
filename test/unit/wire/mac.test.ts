import { describe, expect, it } from "vitest"
import { BROADCAST_MAC, ZERO_MAC, formatMac, macEquals, macKey, parseMac, virtualMac } from "../../../src/protocol/wire/mac.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"

describe("mac", () => {
  it("formatMac: lower-case colon form, at an offset", () => {
    const f = new Uint8Array([0, 0, 0x52, 0x54, 0x00, 0x12, 0x34, 0xab])
    expect(formatMac(f, 2)).toBe("52:54:00:12:34:ab")
    expect(formatMac(BROADCAST_MAC)).toBe("ff:ff:ff:ff:ff:ff")
    expect(macKey(ZERO_MAC)).toBe("00:00:00:00:00:00")
  })

  it("parseMac: six colon-separated hex pairs only", () => {
    expect([...parseMac("52:54:00:12:34:AB")!]).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0xab])
    for (const bad of ["", "52:54:00:12:34", "52:54:00:12:34:56:78", "52-54-00-12-34-56", "5:54:00:12:34:56", "52:54:00:12:34:5g"]) {
      expect(parseMac(bad), bad).toBeUndefined()
    }
  })

  it("macEquals: compares six bytes at offsets", () => {
    const f = new Uint8Array([9, 1, 2, 3, 4, 5, 6])
    expect(macEquals(f, 1, new Uint8Array([1, 2, 3, 4, 5, 6]))).toBe(true)
    expect(macEquals(f, 1, new Uint8Array([0, 1, 2, 3, 4, 5, 7]), 1)).toBe(false)
    expect(macEquals(f, 0, f, 0)).toBe(true)
  })

  it("virtualMac: 52:55 followed by the IPv4 octets (libslirp's convention)", () => {
    expect(formatMac(virtualMac(ipv4(10, 0, 2, 2)))).toBe("52:55:0a:00:02:02")
    expect(formatMac(virtualMac(ipv4(255, 1, 128, 3)))).toBe("52:55:ff:01:80:03")
  })
})
