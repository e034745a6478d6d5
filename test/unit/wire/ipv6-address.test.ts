import { describe, expect, it } from "vitest"
import { formatIpv6, inPrefix, ipv6Key, linkLocalOf, multicastMac, parseIpv6, solicitedNode, withInterfaceId } from "../../../src/protocol/wire/ipv6-address.ts"
import { toHex } from "../../../src/protocol/wire/bytes.ts"

const a = (s: string) => {
  const x = parseIpv6(s)
  if (x === undefined) throw new Error(s)
  return x
}

describe("ipv6 addresses (RFC 4291 §2.2, RFC 5952)", () => {
  it("parses the text forms and formats the canonical one", () => {
    expect(toHex(a("fec0::2"))).toBe("fec00000000000000000000000000002")
    expect(formatIpv6(a("FEC0:0:0:0:0:0:0:2"))).toBe("fec0::2")
    expect(formatIpv6(a("::"))).toBe("::")
    expect(formatIpv6(a("::ffff:10.0.2.2"))).toBe("::ffff:a00:202")
    // RFC 5952 §4.2.2: a single zero word is not shortened; §4.2.3: the first of equal runs.
    expect(formatIpv6(a("2001:db8:0:1:1:1:1:1"))).toBe("2001:db8:0:1:1:1:1:1")
    expect(formatIpv6(a("2001:0:0:1:0:0:0:1"))).toBe("2001:0:0:1::1")
    expect(formatIpv6(a("1:0:0:2:0:0:3:4"))).toBe("1::2:0:0:3:4")
  })

  it("refuses what is not an address", () => {
    for (const s of ["", ":::", "1::2::3", "fec0::g", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "::1.2.3", "fec0::/64"]) {
      expect(parseIpv6(s), s).toBeUndefined()
    }
  })

  it("prefix membership, interface ids, solicited-node group and its MAC", () => {
    expect(inPrefix(a("fec0::5054:ff:fe12:3456"), a("fec0::"), 64)).toBe(true)
    expect(inPrefix(a("fec0:0:0:1::1"), a("fec0::"), 64)).toBe(false)
    expect(inPrefix(a("fec0:0:0:1::1"), a("fec0::"), 47)).toBe(true)
    expect(formatIpv6(withInterfaceId(a("fd00:1::"), 64, a("::2")))).toBe("fd00:1::2")
    expect(formatIpv6(linkLocalOf(a("fec0::2")))).toBe("fe80::2")
    // The group Linux solicited for fec0::2 in test/golden/ipv6 ndp-ns: ff02::1:ff00:2.
    expect(formatIpv6(solicitedNode(a("fec0::2")))).toBe("ff02::1:ff00:2")
    expect(toHex(multicastMac(a("ff02::1:ff00:2")))).toBe("3333ff000002")
    // One character per byte; equal addresses (at any offset) give equal keys, others differ.
    expect([...ipv6Key(a("fec0::2"))].map((ch) => ch.charCodeAt(0))).toEqual([0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
    expect(ipv6Key(Uint8Array.of(9, ...a("fec0::2")), 1)).toBe(ipv6Key(a("fec0::2")))
    expect(ipv6Key(a("fec0::2"))).not.toBe(ipv6Key(a("fec0::3")))
  })
})
