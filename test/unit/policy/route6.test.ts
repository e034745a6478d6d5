/** The IPv6 rules of the policy module and the IPv6 checks of the config, one rule per case. */
import { describe, expect, it } from "vitest"
import { guestVisibleAddress6, hostEndpointFor6, isGuestAddress6, isOurIpv6, route6, unmappedHostAddress } from "../../../src/protocol/policy/policy.ts"
import { type StackConfig, defaultConfig, validateConfig } from "../../../src/protocol/stack/config.ts"
import { formatIpv6, parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"

const a = (s: string) => parseIpv6(s)!
const c: StackConfig = { ...defaultConfig, dnsUpstream: { family: 4, address: "127.0.0.1", port: 5353 } }

describe("policy: IPv6 routes", () => {
  it.each([
    ["fec0::2", 7777, "Loopback"],
    ["fe80::2", 7777, "Loopback"],
    ["fec0::3", 53, "DnsProxy"],
    ["fe80::3", 53, "DnsProxy"],
    ["fec0::3", 54, "Refuse"],
    ["fec0::99", 9, "Refuse"],
    ["fe80::99", 9, "Refuse"],
    ["ff02::1", 9, "Refuse"],
    ["::1", 9, "Refuse"],
    ["::", 9, "Refuse"],
    ["2001:db8::1", 9, "External"],
    ["fd00::1", 9, "External"],
  ])("%s port %d -> %s", (dst, port, tag) => {
    expect(route6(c, a(dst), port)._tag).toBe(tag)
  })

  it("endpoints: the gateway is the host's ::1, the DNS address the upstream, outside addresses themselves", () => {
    expect(hostEndpointFor6(c, a("fec0::2"), 80)).toEqual({ family: 6, address: "::1", port: 80 })
    expect(hostEndpointFor6(c, a("fec0::3"), 53)).toEqual(c.dnsUpstream)
    expect(hostEndpointFor6({ ...c, dnsUpstream: undefined }, a("fec0::3"), 53)).toBeUndefined()
    expect(hostEndpointFor6(c, a("2001:db8::1"), 443)).toEqual({ family: 6, address: "2001:db8::1", port: 443 })
  })

  it("guest addresses: in the prefix or link-local, never ours, never the subnet-router anycast", () => {
    for (const g of ["fec0::5054:ff:fe12:3456", "fe80::1", "fec0::100"]) expect(isGuestAddress6(c, a(g)), g).toBe(true)
    for (const g of ["fec0::2", "fe80::3", "fec0::", "fd00::1", "ff02::1", "::"]) expect(isGuestAddress6(c, a(g)), g).toBe(false)
    expect(["fec0::2", "fec0::3", "fe80::2", "fe80::3"].every((x) => isOurIpv6(c, a(x)))).toBe(true)
  })

  it("host peers as the guest sees them: ::1 and 127/8 (through an IPv6 socket) are the gateway; other IPv4 peers cannot be shown", () => {
    const seen = (h: string) => {
      const r = guestVisibleAddress6(c, h)
      return r === undefined ? undefined : formatIpv6(r)
    }
    expect([seen("::1"), seen("::ffff:127.0.0.1"), seen("127.0.0.1"), seen("2001:db8::5"), seen("::ffff:192.0.2.1"), seen("fe80::1")]).toEqual(["fec0::2", "fec0::2", "fec0::2", "2001:db8::5", undefined, undefined])
    expect([unmappedHostAddress("::ffff:10.1.2.3"), unmappedHostAddress("::1"), unmappedHostAddress("10.1.2.3")]).toEqual(["10.1.2.3", "::1", "10.1.2.3"])
  })
})

describe("config: IPv6 checks", () => {
  const problems = (o: Partial<StackConfig>) => validateConfig({ ...defaultConfig, ...o })
  it("the defaults (fec0::/64, ::2, ::3) are valid; IPv6 alone is valid; both families off is not", () => {
    expect(problems({})).toEqual([])
    expect(problems({ ipv4: false })).toEqual([])
    expect(problems({ ipv4: false, ipv6: false })).toEqual(["ipv4 and ipv6 are both off: the guest would have no network"])
  })
  it.each([
    [{ ipv6PrefixLength: 0 }, "ipv6 prefix length 0 must be 1..126"],
    [{ ipv6PrefixLength: 127 }, "ipv6 prefix length 127 must be 1..126"],
    [{ ipv6Prefix: a("fec0::1") }, "ipv6 prefix fec0::1/64 has host bits set"],
    [{ ipv6Prefix: a("fe80::"), ipv6Host: a("fe80::2"), ipv6Dns: a("fe80::3") }, "ipv6 prefix fe80::/64 is link-local or multicast"],
    [{ ipv6Host: a("fd00::2") }, "ipv6-host fd00::2 is outside fec0::/64"],
    [{ ipv6Dns: a("fec0::") }, "ipv6-dns fec0:: is the subnet-router anycast address"],
    [{ ipv6Dns: a("fec0::2") }, "ipv6-dns address must differ from the ipv6-host address"],
    [{ ipv6PrefixLength: 48, ipv6Dns: a("fec0:0:0:1::2") }, "ipv6-host and ipv6-dns must differ in their low 64 bits (their link-local twins)"],
  ] as const)("%j -> %s", (o, message) => {
    expect(problems(o as Partial<StackConfig>)).toContain(message)
  })
})
