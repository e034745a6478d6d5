/**
 * IPv6 on the guest's link through the whole stack reducer (every event checked by the
 * referential-transparency harness, driver.ts): router solicitation and advertisements,
 * neighbour solicitations for our addresses, DAD, and echo to the gateway and DNS addresses.
 */
import { describe, expect, it } from "vitest"
import { parseIcmpv6 } from "../../../src/protocol/icmpv6/wire.ts"
import { MAX_RTR_ADV_INTERVAL_MS, MIN_RTR_ADV_INTERVAL_MS } from "../../../src/protocol/ndp/router.ts"
import { NA_OVERRIDE, NA_ROUTER, NA_SOLICITED, type NdpMessage, PREFIX_AUTONOMOUS, PREFIX_ON_LINK, parseNdp } from "../../../src/protocol/ndp/wire.ts"
import { get16 } from "../../../src/protocol/wire/bytes.ts"
import { IPV6_UNSPECIFIED, formatIpv6, solicitedNode } from "../../../src/protocol/wire/ipv6-address.ts"
import { formatMac } from "../../../src/protocol/wire/mac.ts"
import { StackDriver } from "./driver.ts"
import { GUEST_MAC } from "./frames.ts"
import { DNS6, DNS6_LL, GUEST6, GUEST6_LL, HOST6, HOST6_LL, a6, decode6, icmpv6Frame, ipv6Frame, sllOption } from "./frames6.ts"

const ALL_ROUTERS = a6("ff02::2")
const ALL_NODES_MAC = "33:33:00:00:00:01"
const GUEST_MAC_TEXT = "52:54:00:12:34:56"
const GW_MAC_TEXT = "52:55:0a:00:02:02"

const rs = (src = GUEST6_LL, options = sllOption()) => icmpv6Frame(src, ALL_ROUTERS, 133, new Uint8Array([0, 0, 0, 0, ...options]), 255, new Uint8Array([0x33, 0x33, 0, 0, 0, 2]))
const ns = (src: Uint8Array, target: Uint8Array, options: Uint8Array = sllOption(), hopLimit = 255) => {
  const group = solicitedNode(target)
  return icmpv6Frame(src, group, 135, new Uint8Array([0, 0, 0, 0, ...target, ...options]), hopLimit, new Uint8Array([0x33, 0x33, 0xff, target[13]!, target[14]!, target[15]!]))
}
const echo = (dst: Uint8Array, src = GUEST6, data = new TextEncoder().encode("tslirp ipv6 echo")) => icmpv6Frame(src, dst, 128, new Uint8Array([0x12, 0x34, 0, 7, ...data]))

/** The NDP message of a frame of ours, checked (checksum, hop limit 255). */
const ndpOf = (f: Uint8Array): NdpMessage => {
  const d = decode6(f)
  expect(d.checksumOk).toBe(true)
  expect(d.hopLimit).toBe(255)
  const p = parseNdp(d.payload, d.hopLimit)
  if (!p.ok) throw new Error(p.reason)
  return p.msg
}

describe("router advertisements (RFC 4861 §6.2, RFC 8106)", () => {
  it("an RS gets one RA from fe80::2 to the solicitor: prefix fec0::/64 (L, A), MTU 1500, RDNSS fec0::3, DNSSL, router lifetime 1800", () => {
    const d = new StackDriver({ dnsSearch: ["example.test", "corp.test"] })
    d.frame(rs())
    const [f, ...rest] = d.framesOut()
    expect(rest).toEqual([])
    const h = decode6(f!)
    expect([h.src, h.dst, h.dstMac, h.srcMac]).toEqual(["fe80::2", formatIpv6(GUEST6_LL), GUEST_MAC_TEXT, GW_MAC_TEXT])
    const ra = ndpOf(f!)
    if (ra._tag !== "RouterAdvertisement") throw new Error(ra._tag)
    expect([ra.curHopLimit, ra.flags, ra.routerLifetime]).toEqual([64, 0, 1800])
    const [p] = ra.options.prefixes
    expect([formatIpv6(p!.prefix), p!.prefixLength, p!.flags, p!.validLifetime, p!.preferredLifetime]).toEqual(["fec0::", 64, PREFIX_ON_LINK | PREFIX_AUTONOMOUS, 86400, 14400])
    expect(ra.options.mtu).toBe(1500)
    expect(formatMac(ra.options.sourceLinkAddr!)).toBe(GW_MAC_TEXT)
    expect(ra.options.rdnss?.servers.map((s) => formatIpv6(s))).toEqual(["fec0::3"])
    expect(ra.options.dnssl?.domains).toEqual(["example.test", "corp.test"])
  })

  it("--ipv6-net, --ipv6-dns and the MTU are what the RA announces; a /48 is on-link only (no SLAAC)", () => {
    const d = new StackDriver({ ipv6Prefix: a6("fd00:1:2::"), ipv6PrefixLength: 48, ipv6Host: a6("fd00:1:2::1"), ipv6Dns: a6("fd00:1:2::53"), mtu: 9000 })
    d.frame(rs())
    const ra = ndpOf(d.framesOut()[0]!)
    if (ra._tag !== "RouterAdvertisement") throw new Error(ra._tag)
    expect(ra.options.prefixes.map((p) => [formatIpv6(p.prefix), p.prefixLength, p.flags])).toEqual([["fd00:1:2::", 48, PREFIX_ON_LINK]])
    expect(ra.options.rdnss?.servers.map((s) => formatIpv6(s))).toEqual(["fd00:1:2::53"])
    expect(ra.options.mtu).toBe(9000)
  })

  it("an RS from :: (no address yet) is answered to all-nodes", () => {
    const d = new StackDriver()
    d.frame(rs(IPV6_UNSPECIFIED, new Uint8Array(0)))
    const h = decode6(d.framesOut()[0]!)
    expect([h.dst, h.dstMac]).toEqual(["ff02::1", ALL_NODES_MAC])
  })

  it("periodic RAs to all-nodes start with the first RS, each after a random 200..600 s, none before", () => {
    const d = new StackDriver()
    d.advance(2 * MAX_RTR_ADV_INTERVAL_MS)
    expect(d.framesOut()).toEqual([])
    d.frame(rs())
    d.take()
    const gaps: Array<number> = []
    let last = d.now
    for (let i = 0; i < 6; i++) {
      const due = [...d.timers.values()][0]!
      expect(due - d.now).toBeGreaterThanOrEqual(MIN_RTR_ADV_INTERVAL_MS)
      expect(due - d.now).toBeLessThanOrEqual(MAX_RTR_ADV_INTERVAL_MS)
      d.advance(due - d.now - 1)
      expect(d.framesOut()).toEqual([])
      d.advance(1)
      const [f] = d.framesOut()
      expect(decode6(f!).dst).toBe("ff02::1")
      expect(ndpOf(f!)._tag).toBe("RouterAdvertisement")
      gaps.push(d.now - last)
      last = d.now
    }
    // Randomised: not all intervals equal.
    expect(new Set(gaps).size).toBeGreaterThan(1)
  })

  it("Shutdown cancels the RA timer", () => {
    const d = new StackDriver()
    d.frame(rs())
    expect(d.timers.size).toBe(1)
    d.event({ _tag: "Shutdown" })
    expect(d.timers.size).toBe(0)
  })
})

describe("neighbour solicitations for our addresses (RFC 4861 §7.2)", () => {
  for (const [name, target] of [["fec0::2", HOST6], ["fe80::2", HOST6_LL], ["fec0::3", DNS6], ["fe80::3", DNS6_LL]] as const) {
    it(`NS for ${name} -> solicited NA (R, S, O) with our link-layer address, to the solicitor`, () => {
      const d = new StackDriver()
      d.frame(ns(GUEST6, target))
      const [f, ...rest] = d.framesOut()
      expect(rest).toEqual([])
      const h = decode6(f!)
      expect([h.src, h.dst, h.dstMac]).toEqual([name, formatIpv6(GUEST6), GUEST_MAC_TEXT])
      const na = ndpOf(f!)
      if (na._tag !== "NeighborAdvertisement") throw new Error(na._tag)
      expect(na.flags).toBe(NA_ROUTER | NA_SOLICITED | NA_OVERRIDE)
      expect(formatIpv6(na.target)).toBe(name)
      expect(formatMac(na.options.targetLinkAddr!)).toBe(GW_MAC_TEXT)
    })
  }

  it("DAD probe for the guest's own tentative address: never answered (the guest keeps it)", () => {
    const d = new StackDriver()
    d.frame(ns(IPV6_UNSPECIFIED, GUEST6, new Uint8Array(0)))
    d.frame(ns(IPV6_UNSPECIFIED, GUEST6_LL, new Uint8Array(0)))
    expect(d.framesOut()).toEqual([])
  })

  it("NS for an address that is not ours (another guest's) is not answered", () => {
    const d = new StackDriver()
    d.frame(ns(GUEST6, a6("fec0::99")))
    expect(d.framesOut()).toEqual([])
  })

  it("DAD probe for fec0::2 (the guest picked our address): defended with an unsolicited NA to all-nodes, and a warning", () => {
    const d = new StackDriver()
    d.frame(ns(IPV6_UNSPECIFIED, HOST6, new Uint8Array(0)))
    const [f] = d.framesOut()
    const h = decode6(f!)
    expect([h.src, h.dst, h.dstMac]).toEqual(["fec0::2", "ff02::1", ALL_NODES_MAC])
    const na = ndpOf(f!)
    expect(na._tag === "NeighborAdvertisement" && na.flags).toBe(NA_ROUTER | NA_OVERRIDE)
    expect(d.log.some((l) => l.startsWith("warn: ndp: the guest probed for our address fec0::2"))).toBe(true)
  })

  it("an NA from the guest claiming fec0::2 is ignored with a warning", () => {
    const d = new StackDriver()
    d.frame(icmpv6Frame(GUEST6, a6("ff02::1"), 136, new Uint8Array([0x20, 0, 0, 0, ...HOST6, 2, 1, ...GUEST_MAC]), 255))
    expect(d.framesOut()).toEqual([])
    // Only the sender's own address was learned (from its traffic), never ours.
    expect([...d.state.ipv6.neighbors.cache.values()].map((n) => formatIpv6(n.ip))).toEqual([formatIpv6(GUEST6)])
    expect(d.log.some((l) => l.startsWith("warn: ndp: the guest advertises our address fec0::2"))).toBe(true)
  })
})

describe("ICMPv6 echo to the gateway and DNS addresses (answered locally)", () => {
  for (const dst of [HOST6, HOST6_LL, DNS6, DNS6_LL]) {
    it(`echo to ${formatIpv6(dst)} -> reply with the same id, sequence and data`, () => {
      const d = new StackDriver()
      const src = dst[0] === 0xfe ? GUEST6_LL : GUEST6
      d.frame(echo(dst, src))
      const [f, ...rest] = d.framesOut()
      expect(rest).toEqual([])
      const h = decode6(f!)
      expect([h.src, h.dst, h.dstMac, h.nh, h.checksumOk]).toEqual([formatIpv6(dst), formatIpv6(src), GUEST_MAC_TEXT, 58, true])
      const p = parseIcmpv6(h.payload, f!, 22, f!, 38)
      expect(p.ok && [p.icmp.type, p.icmp.ident, p.icmp.sequence, new TextDecoder().decode(p.icmp.body)]).toEqual([129, 0x1234, 7, "tslirp ipv6 echo"])
    })
  }

  it("echo to an outside address opens an IPv6 ping socket and is sent with hop limit - 1 (forwarded)", () => {
    const d = new StackDriver()
    const fx = d.frame(echo(a6("2001:db8::1")))
    const open = fx.find((e) => e._tag === "IcmpOpen")
    const send = fx.find((e) => e._tag === "IcmpEchoSend")
    expect(open?._tag === "IcmpOpen" && open.family).toBe(6)
    expect(send?._tag === "IcmpEchoSend" && [send.to, send.sequence, send.ttl, new TextDecoder().decode(send.payload)]).toEqual(["2001:db8::1", 7, 63, "tslirp ipv6 echo"])
  })

  it("the host's echo reply comes back as an ICMPv6 echo reply with the guest's identifier, checksum good", () => {
    const d = new StackDriver()
    const fx = d.frame(echo(a6("2001:db8::1")))
    const send = fx.find((e) => e._tag === "IcmpEchoSend")!
    if (send._tag !== "IcmpEchoSend") throw new Error("no send")
    d.take()
    d.event({ _tag: "HostIcmpEchoReply", sock: send.sock, from: "2001:db8::1", sequence: 7, payload: send.payload, ttl: 57 })
    const [r] = d.framesOut()
    const x = decode6(r!)
    expect([x.src, x.dst, x.payload[0], get16(x.payload, 4), get16(x.payload, 6), x.hopLimit, x.checksumOk]).toEqual(["2001:db8::1", "fec0::5054:ff:fe12:3456", 129, 0x1234, 7, 57, true])
  })

  it("echo to another address of the prefix or to multicast is dropped with a debug line (nobody there)", () => {
    const d = new StackDriver()
    d.frame(echo(a6("fec0::77")))
    d.frame(echo(a6("ff0e::1")))
    expect(d.framesOut()).toEqual([])
    expect(d.log.filter((l) => l.includes("dropped (nobody there)"))).toHaveLength(2)
  })

  it("echo with hop limit 1 to an outside address gets time exceeded from the gateway", () => {
    const d = new StackDriver()
    d.frame(icmpv6Frame(GUEST6, a6("2001:db8::1"), 128, new Uint8Array([0x12, 0x34, 0, 7, 1, 2, 3]), 1))
    const x = decode6(d.framesOut()[0]!)
    expect([x.src, x.payload[0], x.payload[1], x.checksumOk]).toEqual(["fec0::2", 3, 0, true])
  })
})

describe("hostile or unwanted IPv6 from the guest is dropped with a debug line", () => {
  const cases: ReadonlyArray<readonly [string, Uint8Array, string]> = [
    ["an RS with a zero-length option", rs(GUEST6_LL, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0)), "length zero"],
    ["an NS with hop limit 254 (forwarded)", ns(GUEST6, HOST6, sllOption(), 254), "hop limit 254"],
    ["a DAD probe with a source link-layer option", ns(IPV6_UNSPECIFIED, HOST6), "malformed DAD"],
    ["an echo with a bad checksum", (() => {
      const f = echo(HOST6)
      f[f.length - 1]! ^= 0xff
      return f
    })(), "bad checksum"],
    ["a truncated IPv6 header", ipv6Frame(GUEST6, HOST6, 58, new Uint8Array(0)).subarray(0, 40), "truncated"],
    ["an RA from the guest", icmpv6Frame(GUEST6_LL, a6("ff02::1"), 134, new Uint8Array(12), 255), "router advertisement from the guest"],
    ["a non-final fragment of 5 bytes", ipv6Frame(GUEST6, HOST6, 44, Uint8Array.of(58, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4, 5)), "non-final fragment of 5 bytes"],
    ["an unknown next header", ipv6Frame(GUEST6, HOST6, 132, new Uint8Array(8)), "next header 132"],
  ]
  for (const [name, frame, why] of cases) {
    it(name, () => {
      const d = new StackDriver()
      expect(() => d.frame(frame)).not.toThrow()
      expect(d.framesOut()).toEqual([])
      expect(d.log.some((l) => l.startsWith("debug:") && l.includes(why)), d.log.join("\n")).toBe(true)
    })
  }

  it("with ipv6 off nothing IPv6 is answered", () => {
    const d = new StackDriver({ ipv6: false })
    d.frame(rs())
    d.frame(echo(HOST6))
    expect(d.framesOut()).toEqual([])
    expect(d.log.filter((l) => l.includes("ipv6: disabled"))).toHaveLength(2)
  })

  it("the guest's MAC is learned from its IPv6 traffic (one entry per address)", () => {
    const d = new StackDriver()
    d.frame(echo(HOST6))
    d.frame(echo(HOST6))
    d.frame(echo(HOST6_LL, GUEST6_LL))
    expect([...d.state.ipv6.neighbors.cache.values()].map((n) => `${formatIpv6(n.ip)} ${formatMac(n.mac)}`).sort()).toEqual(
      [`${formatIpv6(GUEST6)} ${GUEST_MAC_TEXT}`, `${formatIpv6(GUEST6_LL)} ${GUEST_MAC_TEXT}`].sort(),
    )
  })
})
