import { describe, expect, it } from "vitest"
import { golden6 } from "../../golden/ipv6/golden6.ts"
import { parseIcmpv6, sealIcmpv6 } from "../../../src/protocol/icmpv6/wire.ts"
import { parseIpv6Header } from "../../../src/protocol/ipv6/wire.ts"
import {
  NA_OVERRIDE,
  NA_ROUTER,
  NA_SOLICITED,
  type NdpMessage,
  PREFIX_AUTONOMOUS,
  PREFIX_ON_LINK,
  RA_MANAGED,
  RA_OTHER,
  emitNeighborAdvert,
  emitNeighborSolicit,
  emitRouterAdvert,
  parseNdp,
} from "../../../src/protocol/ndp/wire.ts"
import { toHex } from "../../../src/protocol/wire/bytes.ts"
import { formatMac } from "../../../src/protocol/wire/mac.ts"
import { formatIpv6, parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { rng } from "../wire/prng.ts"

const SRC = 14 + 8
const DST = 14 + 24

const ndpIn = (name: string): { readonly frame: Uint8Array; readonly msg: Uint8Array; readonly ndp: NdpMessage } => {
  const frame = golden6(name)
  const p = parseIpv6Header(frame, 14)
  if (!p.ok) throw new Error(p.reason)
  const msg = frame.subarray(p.ip.upperOffset, p.ip.upperOffset + p.ip.upperLength)
  const i = parseIcmpv6(msg, frame, SRC, frame, DST)
  if (!i.ok) throw new Error(i.reason)
  const n = parseNdp(msg, p.ip.hopLimit)
  if (!n.ok) throw new Error(n.reason)
  return { frame, msg, ndp: n.msg }
}
const addr = (f: Uint8Array, o: number) => f.subarray(o, o + 16)

// Expected values from test/golden/ipv6/decoded.txt (tshark -V).
describe("ndp wire (golden)", () => {
  it("RS from fe80::5054:ff:fe12:3456 to ff02::2 with source link-layer 52:54:00:12:34:56", () => {
    const { ndp } = ndpIn("ndp-rs")
    expect(ndp._tag).toBe("RouterSolicitation")
    expect(formatMac(ndp.options.sourceLinkAddr!)).toBe("52:54:00:12:34:56")
  })

  it("DAD probe: NS from :: for the tentative fe80::5054:ff:fe12:3456, a nonce and no link-layer option", () => {
    const { frame, ndp } = ndpIn("ndp-dad-ns")
    if (ndp._tag !== "NeighborSolicitation") throw new Error(ndp._tag)
    expect(formatIpv6(addr(frame, SRC))).toBe("::")
    expect(formatIpv6(ndp.target)).toBe("fe80::5054:ff:fe12:3456")
    expect(toHex(ndp.options.nonce!)).toBe("b8b3706d7de2")
    expect(ndp.options.sourceLinkAddr).toBeUndefined()
  })

  it("dnsmasq's RA: M, O, lifetime 600, prefix fec0::/64 L+A 3600/3600, MTU 1500, RDNSS fec0::3, DNSSL example.test", () => {
    const { ndp } = ndpIn("ndp-ra")
    if (ndp._tag !== "RouterAdvertisement") throw new Error(ndp._tag)
    expect([ndp.curHopLimit, ndp.flags, ndp.routerLifetime, ndp.reachableTime, ndp.retransTimer]).toEqual([64, RA_MANAGED | RA_OTHER, 600, 0, 0])
    const [p] = ndp.options.prefixes
    expect([p!.prefixLength, p!.flags, p!.validLifetime, p!.preferredLifetime, formatIpv6(p!.prefix)]).toEqual([64, PREFIX_ON_LINK | PREFIX_AUTONOMOUS, 3600, 3600, "fec0::"])
    expect(ndp.options.mtu).toBe(1500)
    expect(formatMac(ndp.options.sourceLinkAddr!)).toBe("52:55:0a:00:02:02")
    expect(ndp.options.rdnss?.lifetime).toBe(3600)
    expect(ndp.options.rdnss?.servers.map((s) => formatIpv6(s))).toEqual(["fec0::3"])
    expect(ndp.options.dnssl).toEqual({ lifetime: 3600, domains: ["example.test"] })
  })

  it("emitRouterAdvert of the parsed fields reproduces dnsmasq's RA byte for byte", () => {
    const { frame, msg, ndp } = ndpIn("ndp-ra")
    if (ndp._tag !== "RouterAdvertisement") throw new Error(ndp._tag)
    const mine = emitRouterAdvert({ ...ndp, ...ndp.options, sourceLinkAddr: ndp.options.sourceLinkAddr! }, addr(frame, SRC), addr(frame, DST))
    expect(toHex(mine)).toBe(toHex(msg))
  })

  it("address resolution: NS for fec0::2 with SLLA, and the NA (R, S, O, TLLA) reproduced by emitNeighborAdvert", () => {
    const ns = ndpIn("ndp-ns")
    if (ns.ndp._tag !== "NeighborSolicitation") throw new Error(ns.ndp._tag)
    expect(formatIpv6(ns.ndp.target)).toBe("fec0::2")
    expect(formatIpv6(addr(ns.frame, DST))).toBe("ff02::1:ff00:2")
    const mineNs = emitNeighborSolicit(ns.ndp.target, ns.ndp.options.sourceLinkAddr!, addr(ns.frame, SRC), addr(ns.frame, DST))
    expect(toHex(mineNs)).toBe(toHex(ns.msg))
    const na = ndpIn("ndp-na")
    if (na.ndp._tag !== "NeighborAdvertisement") throw new Error(na.ndp._tag)
    expect(na.ndp.flags).toBe(NA_ROUTER | NA_SOLICITED | NA_OVERRIDE)
    expect(formatMac(na.ndp.options.targetLinkAddr!)).toBe("52:55:0a:00:02:02")
    const mineNa = emitNeighborAdvert(na.ndp.flags, na.ndp.target, na.ndp.options.targetLinkAddr!, addr(na.frame, SRC), addr(na.frame, DST))
    expect(toHex(mineNa)).toBe(toHex(na.msg))
  })
})

describe("ndp validity checks (RFC 4861 §6.1, §7.1, §4.6)", () => {
  const rs = () => ndpIn("ndp-rs").msg.slice()
  const src = parseIpv6("fe80::1")!
  const dst = parseIpv6("ff02::2")!

  it("a hop limit other than 255 means the message was forwarded: refused", () => {
    expect(parseNdp(rs(), 254).ok).toBe(false)
  })
  it("a code other than 0 is refused", () => {
    const m = rs()
    m[1] = 1
    expect(parseNdp(m, 255).ok).toBe(false)
  })
  it("an option of length zero discards the whole message", () => {
    const m = rs()
    m[9] = 0
    const p = parseNdp(m, 255)
    expect(!p.ok && p.reason.includes("length zero")).toBe(true)
  })
  it("an option running past the message is refused", () => {
    const m = rs()
    m[9] = 2
    expect(parseNdp(m, 255).ok).toBe(false)
  })
  it("an NS for a multicast target is refused", () => {
    const m = ndpIn("ndp-ns").msg.slice()
    m[8] = 0xff
    expect(parseNdp(sealIcmpv6(m, src, dst), 255).ok).toBe(false)
  })
  it("unknown options are skipped", () => {
    const m = new Uint8Array([...rs(), 200, 1, 0, 0, 0, 0, 0, 0])
    expect(parseNdp(m, 255).ok).toBe(true)
  })
  it("random option bytes never throw (seeded)", () => {
    const r = rng(4861)
    for (let i = 0; i < 3000; i++) {
      const m = new Uint8Array(24 + r.int(0, 64))
      for (let k = 0; k < m.length; k++) m[k] = r.int(0, 255)
      m[0] = r.int(133, 137)
      m[1] = 0
      expect(() => parseNdp(m, 255)).not.toThrow()
    }
  })
})
