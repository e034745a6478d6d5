import { describe, expect, it } from "vitest"
import { decodeDomainSearch, encodeDnsName, encodeDomainSearch, readDnsName } from "../../../src/protocol/dns/name.ts"
import { fromHex, toHex } from "../../../src/protocol/wire/bytes.ts"

/** RFC 3397 §3's example: "eng.apple.com." and "marketing.apple.com.", 27 octets. */
const RFC3397_EXAMPLE = "03656e67056170706c6503636f6d00" + "096d61726b6574696e67" + "c004"

describe("encodeDnsName (RFC 1035 §3.1)", () => {
  it("labels with length octets and a root label", () => {
    expect(toHex(encodeDnsName("golden.test")!)).toBe("06676f6c64656e047465737400")
  })
  it("a trailing dot changes nothing; the root is one zero octet", () => {
    expect(encodeDnsName("golden.test.")).toEqual(encodeDnsName("golden.test"))
    expect(toHex(encodeDnsName("")!)).toBe("00")
    expect(toHex(encodeDnsName(".")!)).toBe("00")
  })
  it("refuses empty labels, labels over 63 octets, names over 255 octets", () => {
    expect(encodeDnsName("a..b")).toBeUndefined()
    expect(encodeDnsName(`${"x".repeat(64)}.com`)).toBeUndefined()
    expect(encodeDnsName(`${"x".repeat(63)}.com`)).toBeDefined()
    const long = Array.from({ length: 5 }, () => "y".repeat(50)).join(".") // 5*51+1 = 256 octets
    expect(encodeDnsName(long)).toBeUndefined()
  })
})

describe("encodeDomainSearch (RFC 3397 §2)", () => {
  it("RFC 3397 example bytes: the second name points at apple.com (offset 4)", () => {
    const b = encodeDomainSearch(["eng.apple.com", "marketing.apple.com"])!
    expect(toHex(b)).toBe(RFC3397_EXAMPLE)
    expect(b.length).toBe(27)
  })
  it("suffix matching is case-insensitive; a repeated name is one pointer", () => {
    expect(toHex(encodeDomainSearch(["a.Example.com", "b.example.COM", "a.example.com"])!)).toBe(
      "0161074578616d706c6503636f6d00" + "0162c002" + "c000",
    )
  })
  it("an invalid name refuses the whole list", () => {
    expect(encodeDomainSearch(["ok.test", "bad..test"])).toBeUndefined()
  })
  it("decode(encode(x)) = x", () => {
    const names = ["eng.apple.com", "marketing.apple.com", "apple.com", "other.org", "x.y.other.org"]
    expect(decodeDomainSearch(encodeDomainSearch(names)!)).toEqual(names)
  })
})

describe("readDnsName (RFC 1035 §4.1.4)", () => {
  it("follows a pointer; next is just after the pointer", () => {
    const b = fromHex(RFC3397_EXAMPLE)
    expect(readDnsName(b, 0)).toEqual({ name: "eng.apple.com", next: 15 })
    expect(readDnsName(b, 15)).toEqual({ name: "marketing.apple.com", next: 27 })
  })
  it("refuses a pointer to itself or forward (no loops)", () => {
    expect(readDnsName(fromHex("c000"), 0)).toBeUndefined()
    expect(readDnsName(fromHex("01610000c002"), 2)).toBeDefined()
    expect(readDnsName(fromHex("c0020161c000"), 0)).toBeUndefined()
    // a two-pointer cycle: 0 -> 2 is forward, refused
    expect(readDnsName(fromHex("0161c0000162c002"), 4)).toBeUndefined()
  })
  it("refuses truncation, reserved label types and names over 255 octets", () => {
    expect(readDnsName(fromHex("0361"), 0)).toBeUndefined()
    expect(readDnsName(fromHex("0161"), 0)).toBeUndefined()
    expect(readDnsName(fromHex("c0"), 0)).toBeUndefined()
    expect(readDnsName(fromHex("4161"), 0)).toBeUndefined()
    expect(readDnsName(fromHex("8161"), 0)).toBeUndefined()
    const big = new Uint8Array(300)
    for (let i = 0; i < 296; i += 2) big.set([1, 0x61], i)
    expect(readDnsName(big, 0)).toBeUndefined()
  })
  it("escapes dots, backslashes and unprintable octets like dig", () => {
    expect(readDnsName(fromHex("03612e62025c0000"), 0)!.name).toBe("a\\.b.\\\\\\000")
  })
  it("never throws on random bytes", () => {
    let x = 12345
    for (let n = 0; n < 2000; n++) {
      const b = new Uint8Array(1 + (n % 40))
      for (let i = 0; i < b.length; i++) {
        x = (x * 1103515245 + 12345) >>> 0
        b[i] = x >>> 24
      }
      expect(() => readDnsName(b, n % b.length)).not.toThrow()
    }
  })
})
