/**
 * Friendly stack configuration (src/runtime/config/network.ts): text addresses, the DNS
 * upstream as "ADDR:PORT" or "none", one clear error naming every problem.
 */
import { describe, expect, it } from "vitest"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { formatIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { ConfigError, isIpv6Text, parseDnsUpstream, stackConfig, type StackOptions } from "../../../src/runtime/config/network.ts"

const refusal = (o: unknown): string => {
  try {
    stackConfig(o as StackOptions)
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    const message = (e as Error).message
    expect(message).not.toContain("\n")
    return message
  }
  throw new Error("accepted")
}

describe("stackConfig: friendly options to a StackConfig", () => {
  it("no options: QEMU's -netdev user defaults, with the seed given", () => {
    expect(stackConfig({}, 99)).toEqual({ ...defaultConfig, seed: 99 })
  })

  it('net "192.168.76.0/24" moves host, dns and the first lease to .2, .3, .15 unless given', () => {
    const c = stackConfig({ net: "192.168.76.0/24", dns: "192.168.76.53" })
    expect([c.network, c.prefixLength, c.host, c.dns, c.dhcpStart]).toEqual([
      ipv4(192, 168, 76, 0), 24, ipv4(192, 168, 76, 2), ipv4(192, 168, 76, 53), ipv4(192, 168, 76, 15),
    ])
    expect(stackConfig({ net: "10.1.0.0/255.255.0.0" }).prefixLength).toBe(16)
  })

  it("dnsUpstream as text: ADDR:PORT, ADDR (port 53), [V6]:PORT, V6, none", () => {
    expect(stackConfig({ dnsUpstream: "127.0.0.1:5353" }).dnsUpstream).toEqual({ family: 4, address: "127.0.0.1", port: 5353 })
    expect(stackConfig({ dnsUpstream: "192.0.2.1" }).dnsUpstream).toEqual({ family: 4, address: "192.0.2.1", port: 53 })
    expect(stackConfig({ dnsUpstream: "[::1]:5353" }).dnsUpstream).toEqual({ family: 6, address: "::1", port: 5353 })
    expect(stackConfig({ dnsUpstream: "2001:db8::53" }).dnsUpstream).toEqual({ family: 6, address: "2001:db8::53", port: 53 })
    expect(stackConfig({ dnsUpstream: "none" }).dnsUpstream).toBeUndefined()
  })

  it("numeric StackConfig fields still work (NodeStack callers pass them)", () => {
    const c = stackConfig({ host: ipv4(10, 0, 2, 1), dnsUpstream: { family: 4, address: "10.9.9.9", port: 53 }, seed: 7, mtu: 9000 })
    expect([c.host, c.dnsUpstream?.address, c.seed, c.mtu]).toEqual([ipv4(10, 0, 2, 1), "10.9.9.9", 7, 9000])
  })

  it("any other StackConfig field passes through as given; options.seed wins over the runtime's", () => {
    const c = stackConfig({ tftpServerName: "boot", bootfile: "pxelinux.0", tcpBufferBytes: 65536, dnsSearch: ["a.test"], seed: 3 }, 99)
    expect([c.tftpServerName, c.bootfile, c.tcpBufferBytes, c.dnsSearch, c.seed]).toEqual(["boot", "pxelinux.0", 65536, ["a.test"], 3])
  })

  it("tftpRoot turns the TFTP server on; an empty root and BOOTP strings too long for their fields are refused", () => {
    expect(stackConfig({ tftpRoot: "/srv/tftp" }).tftpRoot).toBe("/srv/tftp")
    expect(stackConfig({}).tftpRoot).toBeUndefined()
    expect(refusal({ tftpRoot: "" })).toBe("invalid stack options: tftp root must be a non-empty path without NUL bytes")
    expect(refusal({ bootfile: "b".repeat(128), tftpServerName: "s".repeat(64) })).toBe(
      "invalid stack options: tftp server name is 64 bytes; the BOOTP sname field holds 63; bootfile is 128 bytes; the BOOTP file field holds 127",
    )
  })

  it("refuses with one ConfigError naming every problem", () => {
    expect(refusal({ net: "10.0.2.0/33", dnsUpstream: "resolver:53", host: "10.0.2" })).toBe(
      'invalid stack options: net prefix length /33 must be 0..32; host "10.0.2" is not an IPv4 address; dnsUpstream "resolver:53" is not "none", ADDR or ADDR:PORT (an IP address; IPv6 with a port in brackets: [::1]:53)',
    )
    expect(refusal({ dnsUpstream: "127.0.0.1:0" })).toBe("invalid stack options: dnsUpstream port 0 must be 1..65535")
    expect(refusal({ host: "10.9.9.9" })).toBe("invalid stack options: host 10.9.9.9 is outside 10.0.2.0/24")
    expect(refusal({ mtu: 20 })).toMatch(/^invalid stack options: mtu 20 must be an integer in 68\.\.65521$/)
    expect(refusal({ ipv4: false, ipv6: false })).toBe("invalid stack options: ipv4 and ipv6 are both off: the guest would have no network")
    expect(refusal({ ipv6Net: "fec0::/130", ipv6Host: "fec0::zz" })).toBe('invalid stack options: ipv6Net prefix length /130 must be 1..126; ipv6Host "fec0::zz" is not an IPv6 address')
  })

  it("IPv6 as text: ipv6Net moves host and DNS to ::2 and ::3; ipv4 off alone is fine", () => {
    const c = stackConfig({ ipv6Net: "fd00:a::/64", ipv6Dns: "fd00:a::53", ipv4: false })
    expect([formatIpv6(c.ipv6Prefix), c.ipv6PrefixLength, formatIpv6(c.ipv6Host), formatIpv6(c.ipv6Dns), c.ipv4, c.ipv6]).toEqual(["fd00:a::", 64, "fd00:a::2", "fd00:a::53", false, true])
  })

  it("refuses unknown keys (a JavaScript caller's typo is not ignored)", () => {
    expect(refusal({ gateway: "10.0.2.2" })).toMatch(/^invalid stack options: unknown option "gateway" \(known: net, host, dns, /)
    expect(refusal(null)).toBe("invalid stack options: expected an object")
  })
})

describe("address text", () => {
  it.each(["::", "::1", "2001:db8::1", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8", "::ffff:192.0.2.1", "1:2:3:4:5:6:192.0.2.1"])("IPv6 %s", (s) => {
    expect(isIpv6Text(s)).toBe(true)
  })
  it.each(["", ":", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "1:2:3:4:5:6:7", "::ffff:300.0.0.1", "1:2:3:4:5:6:7:192.0.2.1"])("not IPv6: %s", (s) => {
    expect(isIpv6Text(s)).toBe(false)
  })
  it("parseDnsUpstream returns a reason rather than throwing", () => {
    expect(parseDnsUpstream("[::1]:70000")).toBe("port 70000 must be 1..65535")
  })
})
