import { describe, expect, it } from "vitest"
import { golden6 } from "../../golden/ipv6/golden6.ts"
import {
  IPV6_HEADER_LEN,
  MAX_EXTENSION_HEADERS,
  NH_DEST_OPTIONS,
  NH_FRAGMENT,
  NH_HOP_BY_HOP,
  NH_ICMPV6,
  NH_ROUTING,
  NH_UDP,
  type Ipv6View,
  isFragment6,
  parseIpv6Header,
  writeIpv6Header,
} from "../../../src/protocol/ipv6/wire.ts"
import { toHex } from "../../../src/protocol/wire/bytes.ts"
import { formatIpv6, parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { rng } from "../wire/prng.ts"

const ip6 = (f: Uint8Array): Ipv6View => {
  const p = parseIpv6Header(f, 14)
  if (!p.ok) throw new Error(p.reason)
  return p.ip
}

// Expected values from test/golden/ipv6/decoded.txt (tshark -V).
describe("ipv6 wire (golden)", () => {
  it("echo request: payload length 64, next header ICMPv6, hop limit 64, fec0::5054:ff:fe12:3456 -> fec0::2", () => {
    const ip = ip6(golden6("icmpv6-echo-request"))
    expect(ip.payloadLength).toBe(64)
    expect(ip.protocol).toBe(NH_ICMPV6)
    expect(ip.hopLimit).toBe(64)
    expect(formatIpv6(ip.buf, ip.srcOffset)).toBe("fec0::5054:ff:fe12:3456")
    expect(formatIpv6(ip.buf, ip.dstOffset)).toBe("fec0::2")
    expect(ip.upperOffset).toBe(14 + IPV6_HEADER_LEN)
    expect(ip.fragment).toBeUndefined()
  })

  it("MLD report: the hop-by-hop header (router alert, PadN) is walked to ICMPv6", () => {
    const ip = ip6(golden6("mld-report"))
    expect(ip.hasHopByHop).toBe(true)
    expect(ip.protocol).toBe(NH_ICMPV6)
    expect(ip.upperOffset).toBe(14 + 40 + 8)
    expect(ip.upperLength).toBe(28)
    expect(ip.buf[ip.upperOffset]).toBe(143)
  })

  it("destination options (PadN) before UDP: the walk lands on the UDP header, 21 bytes", () => {
    const ip = ip6(golden6("ipv6-dstopts"))
    expect(ip.protocol).toBe(NH_UDP)
    expect(ip.upperLength).toBe(21)
    expect(ip.buf[14 + 6]).toBe(NH_DEST_OPTIONS)
  })

  it("fragments of ping -s 3000: id 0x1f8f3d9b, first at 0 with M, last at 2896 without", () => {
    const first = ip6(golden6("frag6-request-1"))
    expect(first.fragment).toEqual({ headerOffset: 54, nextHeader: NH_ICMPV6, offset: 0, more: true, id: 0x1f8f3d9b })
    expect(first.upperLength).toBe(1456 - 8)
    const last = ip6(golden6("frag6-request-3"))
    expect(last.fragment?.offset).toBe(2896)
    expect(last.fragment?.more).toBe(false)
    expect(last.fragment?.id).toBe(0x1f8f3d9b)
    expect(isFragment6(first) && isFragment6(last)).toBe(true)
    expect(ip6(golden6("frag6-reply-1")).fragment?.id).toBe(0x6225ab0b)
  })

  it("writeIpv6Header reproduces Linux's echo reply header byte for byte", () => {
    const f = golden6("icmpv6-echo-reply")
    const h = new Uint8Array(40)
    writeIpv6Header(h, 0, { payloadLength: 64, nextHeader: NH_ICMPV6, hopLimit: 64, src: parseIpv6("fec0::2")!, dst: parseIpv6("fec0::5054:ff:fe12:3456")!, flowLabel: ip6(f).flowLabel })
    expect(toHex(h)).toBe(toHex(f.subarray(14, 54)))
  })
})

/** A datagram with the given extension headers (each [nh, bytes]) then `upper`. */
const chain = (headers: ReadonlyArray<readonly [number, Uint8Array]>, upperNh: number, upper: Uint8Array): Uint8Array => {
  const len = headers.reduce((n, [, b]) => n + b.length, 0) + upper.length
  const b = new Uint8Array(40 + len)
  writeIpv6Header(b, 0, { payloadLength: len, nextHeader: headers[0]?.[0] ?? upperNh, hopLimit: 64, src: parseIpv6("fec0::15")!, dst: parseIpv6("fec0::2")! })
  let o = 40
  headers.forEach(([, h], i) => {
    b.set(h, o)
    b[o] = headers[i + 1]?.[0] ?? upperNh
    o += h.length
  })
  b.set(upper, o)
  return b
}
const opts = (len8 = 1) => {
  const h = new Uint8Array(len8 * 8)
  h[1] = len8 - 1
  return h
}

describe("ipv6 extension header walk (RFC 8200 §4)", () => {
  it("walks hop-by-hop, destination options, routing (segments left 0), destination options", () => {
    const p = parseIpv6Header(chain([[NH_HOP_BY_HOP, opts()], [NH_DEST_OPTIONS, opts(2)], [NH_ROUTING, opts()], [NH_DEST_OPTIONS, opts()]], NH_UDP, new Uint8Array(8)), 0)
    expect(p.ok && p.ip.protocol === NH_UDP && p.ip.upperOffset === 40 + 40 && p.ip.upperLength === 8).toBe(true)
  })

  const refused: ReadonlyArray<readonly [string, Uint8Array, string]> = [
    ["hop-by-hop not first", chain([[NH_DEST_OPTIONS, opts()], [NH_HOP_BY_HOP, opts()]], NH_UDP, new Uint8Array(8)), "not first"],
    ["routing header with segments left", chain([[NH_ROUTING, Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0)]], NH_UDP, new Uint8Array(8)), "segments left"],
    ["header longer than the datagram", chain([[NH_DEST_OPTIONS, Uint8Array.of(0, 5, 0, 0, 0, 0, 0, 0)]], NH_UDP, new Uint8Array(8)), "runs past"],
    ["two fragment headers (the first atomic)", chain([[NH_FRAGMENT, new Uint8Array(8)], [NH_FRAGMENT, new Uint8Array(8)]], NH_UDP, new Uint8Array(8)), "two fragment"],
    ["two routing headers", chain([[NH_ROUTING, opts()], [NH_ROUTING, opts()]], NH_UDP, new Uint8Array(8)), "two routing"],
    // Destination options may follow a routing header once more, but never without bound.
    ["too many headers", chain([[NH_HOP_BY_HOP, opts()], [NH_ROUTING, opts()], ...Array.from({ length: MAX_EXTENSION_HEADERS }, () => [NH_DEST_OPTIONS, opts()] as const)], NH_UDP, new Uint8Array(8)), "more than"],
    ["an unrecognised destination option of action 01 (discard)", chain([[NH_DEST_OPTIONS, Uint8Array.of(0, 0, 0x4d, 4, 0, 0, 0, 0)]], NH_UDP, new Uint8Array(8)), "unrecognised option 77 (action 1)"],
    ["an unrecognised hop-by-hop option of action 10 (discard, report)", chain([[NH_HOP_BY_HOP, Uint8Array.of(0, 0, 0x8d, 4, 0, 0, 0, 0)]], NH_UDP, new Uint8Array(8)), "action 2"],
    ["an option running past its header", chain([[NH_DEST_OPTIONS, Uint8Array.of(0, 0, 1, 9, 0, 0, 0, 0)]], NH_UDP, new Uint8Array(8)), "runs past its header"],
    ["payload length past the bytes", chain([], NH_UDP, new Uint8Array(8)).subarray(0, 45), "payload length"],
    ["version 4", Uint8Array.from({ length: 40 }, (_, i) => (i === 0 ? 0x45 : 0)), "version"],
  ]
  for (const [name, bytes, why] of refused) {
    it(`refuses ${name}`, () => {
      const p = parseIpv6Header(bytes, 0)
      expect(p.ok).toBe(false)
      if (!p.ok) expect(p.reason).toContain(why)
    })
  }

  it("skips Pad1, PadN, router alert and unrecognised options of action 00", () => {
    const p = parseIpv6Header(chain([[NH_HOP_BY_HOP, Uint8Array.of(0, 0, 5, 2, 0, 0, 0, 0)], [NH_DEST_OPTIONS, Uint8Array.of(0, 1, 0, 0, 0x1e, 1, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0)]], NH_UDP, new Uint8Array(8)), 0)
    expect(p.ok && p.ip.protocol).toBe(NH_UDP)
  })

  it("a fragment header ends the walk: the rest of a first fragment is data until reassembly", () => {
    const p = parseIpv6Header(chain([[NH_FRAGMENT, Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 7)]], NH_DEST_OPTIONS, new Uint8Array(16)), 0)
    expect(p.ok && p.ip.protocol === NH_DEST_OPTIONS && p.ip.fragment?.more === true && p.ip.fragment.id === 7).toBe(true)
  })

  it("random bytes never throw (seeded)", () => {
    const r = rng(6)
    for (let i = 0; i < 3000; i++) {
      const b = chain([], NH_UDP, new Uint8Array(0))
      const junk = new Uint8Array(40 + r.int(0, 80))
      junk.set(b.subarray(0, 8))
      for (let k = 6; k < junk.length; k++) junk[k] = r.int(0, 255)
      junk[6] = [0, 43, 44, 60, 17, 58][r.int(0, 5)]!
      expect(() => parseIpv6Header(junk, 0)).not.toThrow()
    }
  })
})
