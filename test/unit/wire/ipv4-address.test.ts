import { describe, expect, it } from "vitest"
import { IPV4_ANY, IPV4_BROADCAST, formatIpv4, inSubnet, ipv4, parseIpv4, prefixMask } from "../../../src/protocol/wire/ipv4-address.ts"
import { rng } from "./prng.ts"

describe("ipv4-address", () => {
  it("ipv4: builds the big-endian uint32", () => {
    expect(ipv4(10, 0, 2, 15)).toBe(0x0a00020f)
    expect(ipv4(255, 255, 255, 255)).toBe(0xffffffff)
    expect(ipv4(255, 255, 255, 255)).toBe(IPV4_BROADCAST)
    expect(ipv4(0, 0, 0, 0)).toBe(IPV4_ANY)
  })

  it("parseIpv4: accepts dotted quads, refuses everything else", () => {
    expect(parseIpv4("10.0.2.2")).toBe(0x0a000202)
    expect(parseIpv4("255.255.255.255")).toBe(0xffffffff)
    expect(parseIpv4("0.0.0.0")).toBe(0)
    for (const bad of ["", "10.0.2", "10.0.2.2.1", "256.0.0.1", "10.0.2.-1", " 10.0.2.2", "10.0.2.2 ", "a.b.c.d", "1000.0.0.1", "10..2.2", "0x0a.0.2.2"]) {
      expect(parseIpv4(bad), bad).toBeUndefined()
    }
  })

  it("formatIpv4/parseIpv4 round-trip random addresses (seeded)", () => {
    const r = rng(4)
    for (let n = 0; n < 1000; n++) {
      const a = r.int(0, 0xffffffff)
      expect(parseIpv4(formatIpv4(a))).toBe(a)
    }
  })

  it("prefixMask: 0, 8, 24, 31, 32", () => {
    expect(prefixMask(0)).toBe(0)
    expect(prefixMask(8)).toBe(0xff000000)
    expect(prefixMask(24)).toBe(0xffffff00)
    expect(prefixMask(31)).toBe(0xfffffffe)
    expect(prefixMask(32)).toBe(0xffffffff)
  })

  it("inSubnet: 10.0.2.0/24 holds 10.0.2.x only; /0 holds everything", () => {
    const net = ipv4(10, 0, 2, 0)
    const m = prefixMask(24)
    expect(inSubnet(ipv4(10, 0, 2, 15), net, m)).toBe(true)
    expect(inSubnet(ipv4(10, 0, 2, 255), net, m)).toBe(true)
    expect(inSubnet(ipv4(10, 0, 3, 1), net, m)).toBe(false)
    expect(inSubnet(ipv4(138, 0, 2, 1), ipv4(128, 0, 0, 0), prefixMask(1))).toBe(true)
    expect(inSubnet(ipv4(200, 1, 2, 3), net, prefixMask(0))).toBe(true)
  })
})
