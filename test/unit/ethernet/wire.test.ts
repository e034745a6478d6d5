import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import {
  ETH_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_VLAN,
  isGroupMac,
  parseEthernet,
  writeEthernetHeader,
} from "../../../src/protocol/ethernet/wire.ts"
import { formatMac } from "../../../src/protocol/wire/mac.ts"
import { fromHex, toHex } from "../../../src/protocol/wire/bytes.ts"
import { rng } from "../wire/prng.ts"

// Expected values read from test/golden/net/decoded.txt (tshark -V).
const GUEST = "52:54:00:12:34:56"
const ROUTER = "52:55:0a:00:02:02"

describe("ethernet wire (golden)", () => {
  const cases = [
    ["arp-request", "ff:ff:ff:ff:ff:ff", GUEST, ETHERTYPE_ARP, true],
    ["arp-reply", GUEST, ROUTER, ETHERTYPE_ARP, false],
    ["arp-gratuitous", "ff:ff:ff:ff:ff:ff", GUEST, ETHERTYPE_ARP, true],
    ["icmp-echo-request", ROUTER, GUEST, ETHERTYPE_IPV4, false],
    ["icmp-echo-reply", GUEST, ROUTER, ETHERTYPE_IPV4, false],
    ["udp-request", ROUTER, GUEST, ETHERTYPE_IPV4, false],
    ["frag-reply-2", GUEST, ROUTER, ETHERTYPE_IPV4, false],
  ] as const
  for (const [name, dst, src, type, group] of cases) {
    it(`ethernet: ${name} has dst ${dst}, src ${src}, type 0x${type.toString(16).padStart(4, "0")}`, () => {
      const f = golden(name)
      const v = parseEthernet(f)!
      expect(v).toBeDefined()
      expect(formatMac(f, 0)).toBe(dst)
      expect(formatMac(f, 6)).toBe(src)
      expect(v.ethertype).toBe(type)
      expect(v.payloadOffset).toBe(ETH_HEADER_LEN)
      expect(v.frame).toBe(f) // a view, not a copy
      expect(isGroupMac(f)).toBe(group)
    })
  }

  it("ethernet: writeEthernetHeader reproduces the captured header of the echo reply", () => {
    const f = golden("icmp-echo-reply")
    const out = f.slice()
    out.fill(0, 0, 14)
    writeEthernetHeader(out, fromHex("525400123456"), fromHex("52550a000202"), ETHERTYPE_IPV4)
    expect(toHex(out)).toBe(toHex(f))
  })

  it("ethernet: frames shorter than 14 bytes are refused, 14 bytes is an empty payload", () => {
    for (let n = 0; n < 14; n++) expect(parseEthernet(new Uint8Array(n))).toBeUndefined()
    const v = parseEthernet(fromHex("ffffffffffff52540012345681000000".slice(0, 28)))!
    expect(v.ethertype).toBe(ETHERTYPE_VLAN)
  })

  it("ethernet: isGroupMac reads the I/G bit of the destination only", () => {
    expect(isGroupMac(fromHex("01005e000001"))).toBe(true)
    expect(isGroupMac(fromHex("525400123456"))).toBe(false)
    expect(isGroupMac(fromHex("00000000000001"), 1)).toBe(false)
  })

  it("ethernet: random garbage never throws (seeded)", () => {
    const r = rng(802)
    for (let n = 0; n < 2000; n++) {
      const f = r.bytes(r.int(0, 80))
      const v = parseEthernet(f)
      expect(v === undefined).toBe(f.length < 14)
    }
  })
})
