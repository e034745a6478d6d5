import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import {
  BOOTREQUEST,
  DHCP_MAGIC_COOKIE,
  DHCPDISCOVER,
  DHCPOFFER,
  OPT,
  emitDhcp,
  optIpv4,
  optString,
  optU8,
  parseDhcp,
} from "../../../src/protocol/dhcp/wire.ts"
import { encodeDomainSearch } from "../../../src/protocol/dns/name.ts"
import { fromHex, put32, toHex } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"

const golden = (name: string): Uint8Array => fromHex(readFileSync(new URL(`../../golden/dhcp/${name}.hex`, import.meta.url), "utf8"))
const MAC = fromHex("525400123456")

const ok = (b: Uint8Array) => {
  const r = parseDhcp(b)
  if (!r.ok) throw new Error(r.reason)
  return r.msg
}

describe("parseDhcp on golden captures", () => {
  it("udhcpc DISCOVER: fixed fields and every option it sends", () => {
    const m = ok(golden("udhcpc-01-discover"))
    expect([m.op, m.htype, m.hlen, m.flags, m.broadcast, m.ciaddr, m.hasCookie]).toEqual([1, 1, 6, 0, false, 0, true])
    expect(m.xid).toBe(ok(golden("udhcpc-03-offer")).xid)
    expect(toHex(m.chaddr)).toBe("525400123456")
    expect(m.opts.messageType).toBe(DHCPDISCOVER)
    expect(m.opts.maxMessageSize).toBe(576)
    expect(m.opts.parameterRequestList).toEqual([1, 3, 6, 12, 15, 26, 28, 42, 119])
    expect(m.opts.hostname).toBe("golden")
    expect(toHex(m.opts.clientId!)).toBe("01525400123456")
    expect([...m.options.keys()]).toEqual([53, 57, 55, 12, 60, 61])
  })

  it("udhcpc REQUEST (selecting): requested address and server id", () => {
    const m = ok(golden("udhcpc-05-request"))
    expect(m.opts.messageType).toBe(3)
    expect(m.opts.requestedIp).toBe(ipv4(10, 77, 0, 21))
    expect(m.opts.serverId).toBe(ipv4(10, 77, 0, 1))
    expect(m.ciaddr).toBe(0)
  })

  it("udhcpc RELEASE: ciaddr is the lease, server id names dnsmasq", () => {
    const m = ok(golden("udhcpc-07-release"))
    expect([m.opts.messageType, m.ciaddr, m.opts.serverId]).toEqual([7, ipv4(10, 77, 0, 21), ipv4(10, 77, 0, 1)])
  })

  it("dhclient REQUEST from its lease file (INIT-REBOOT): option 50, no server id", () => {
    const m = ok(golden("dhclient-05-request"))
    expect(m.opts.requestedIp).toBe(ipv4(10, 77, 0, 21))
    expect(m.opts.serverId).toBeUndefined()
    expect(m.opts.parameterRequestList).toEqual([1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42])
  })

  it("dnsmasq OFFER: sname/file, lease times, option 119 search list", () => {
    const m = ok(golden("udhcpc-03-offer"))
    expect(m.op).toBe(2)
    expect(m.yiaddr).toBe(ipv4(10, 77, 0, 21))
    expect(m.siaddr).toBe(ipv4(10, 77, 0, 1))
    expect([m.sname, m.file]).toEqual(["bootserver", "pxelinux.0"])
    expect(m.opts).toMatchObject({
      messageType: DHCPOFFER,
      serverId: ipv4(10, 77, 0, 1),
      leaseTime: 86400,
      renewalTime: 43200,
      rebindingTime: 75600,
      subnetMask: ipv4(255, 255, 255, 0),
      broadcastAddress: ipv4(10, 77, 0, 255),
      routers: [ipv4(10, 77, 0, 1)],
      dnsServers: [ipv4(10, 77, 0, 1)],
      domainName: "example.test",
      interfaceMtu: 1500,
      domainSearch: ["eng.apple.com", "marketing.apple.com"],
    })
  })

  it("dnsmasq's option 119 bytes are the RFC 3397 example, which our encoder reproduces", () => {
    const m = ok(golden("udhcpc-03-offer"))
    expect(toHex(m.options.get(OPT.domainSearch)!)).toBe(toHex(encodeDomainSearch(["eng.apple.com", "marketing.apple.com"])!))
  })

  it("parse(emit(golden)) keeps fields and options", () => {
    for (const name of ["udhcpc-01-discover", "udhcpc-06-ack", "dhclient-03-request", "dhclient-06-ack"]) {
      const m = ok(golden(name))
      const again = ok(
        emitDhcp({
          op: m.op, xid: m.xid, secs: m.secs, flags: m.flags, ciaddr: m.ciaddr, yiaddr: m.yiaddr, siaddr: m.siaddr, giaddr: m.giaddr,
          chaddr: m.chaddr, sname: m.sname!, file: m.file!, options: [...m.options], maxLength: 1500,
        }).bytes,
      )
      expect(again.opts).toEqual(m.opts)
      expect([again.xid, again.yiaddr, again.siaddr, again.sname, again.file]).toEqual([m.xid, m.yiaddr, m.siaddr, m.sname, m.file])
    }
  })
})

describe("emitDhcp", () => {
  it("fixed layout: op, htype, hlen, xid, cookie at 236, options at 240, END, padded to 300", () => {
    const { bytes, omitted } = emitDhcp({ op: BOOTREQUEST, xid: 0x01020304, chaddr: MAC, options: [[OPT.messageType, optU8(DHCPDISCOVER)]] })
    expect(omitted).toEqual([])
    expect(bytes.length).toBe(300)
    expect(toHex(bytes.subarray(0, 8))).toBe("0101060001020304")
    expect(toHex(bytes.subarray(28, 34))).toBe("525400123456")
    expect(toHex(bytes.subarray(236, 244))).toBe("63825363350101ff")
  })

  it("RFC 3396: a 300-octet option 119 is split in 255 + the rest and joined on parse", () => {
    const names = Array.from({ length: 30 }, (_, i) => `host${i}.d${i}.example`)
    const search = encodeDomainSearch(names)!
    expect(search.length).toBeGreaterThan(255)
    const { bytes } = emitDhcp({ op: 2, xid: 1, chaddr: MAC, options: [[OPT.domainSearch, search]], maxLength: 1500 })
    expect([bytes[240], bytes[241]]).toEqual([119, 255])
    expect([bytes[240 + 257], bytes[240 + 258]]).toEqual([119, search.length - 255])
    expect(ok(bytes).opts.domainSearch).toEqual(names)
  })

  it("options that do not fit maxLength are left out and reported, never cut", () => {
    const { bytes, omitted } = emitDhcp({
      op: 2, xid: 1, chaddr: MAC, maxLength: 260,
      options: [[OPT.messageType, optU8(2)], [OPT.hostname, optString("x".repeat(30))], [OPT.subnetMask, optIpv4(0xffffff00)]],
    })
    expect(omitted).toEqual([OPT.hostname])
    expect(ok(bytes).opts).toEqual({ messageType: 2, subnetMask: 0xffffff00 })
  })

  it("sname/file too long for their fields are left empty and reported", () => {
    const { bytes, omitted } = emitDhcp({ op: 2, xid: 1, chaddr: MAC, options: [], sname: "s".repeat(64), file: "f".repeat(127) })
    expect(omitted).toEqual(["sname"])
    expect([ok(bytes).sname, ok(bytes).file]).toEqual(["", "f".repeat(127)])
  })
})

describe("option overload (option 52, RFC 2131 §4.1)", () => {
  const withOverload = (value: number): Uint8Array => {
    const b = emitDhcp({ op: 1, xid: 7, chaddr: MAC, options: [[OPT.messageType, optU8(3)], [OPT.overload, optU8(value)]] }).bytes
    // file (108..236): option 50; sname (44..108): option 12; both closed by END.
    b.set([50, 4, 10, 0, 2, 15, 255], 108)
    b.set([12, 3, 0x76, 0x6d, 0x31, 255], 44)
    return b
  }
  it("1: file holds options, sname stays a string field", () => {
    const m = ok(withOverload(1))
    expect(m.opts.requestedIp).toBe(ipv4(10, 0, 2, 15))
    expect(m.opts.hostname).toBeUndefined()
    expect(m.file).toBeUndefined()
    // sname is read as a string field; its 0xff octet is not UTF-8 and comes out as U+FFFD.
    expect(m.sname).toBe("\x0c\x03vm1\ufffd")
  })
  it("3: both fields hold options", () => {
    const m = ok(withOverload(3))
    expect([m.opts.requestedIp, m.opts.hostname, m.sname, m.file]).toEqual([ipv4(10, 0, 2, 15), "vm1", undefined, undefined])
  })
  it("a bad overload value is malformed", () => {
    expect(parseDhcp(withOverload(4)).ok).toBe(false)
  })
})

describe("malformed input is refused with a reason, never thrown", () => {
  const good = golden("udhcpc-01-discover")
  it("shorter than the fixed part", () => {
    expect(parseDhcp(good.subarray(0, 235))).toMatchObject({ ok: false, reason: expect.stringContaining("truncated") })
  })
  it("an option running past the end", () => {
    const b = good.slice(0, 246)
    expect(b.subarray(240, 243)).toEqual(new Uint8Array([53, 1, 1]))
    b[244] = 20 // option 57 claims 20 octets
    expect(parseDhcp(b)).toMatchObject({ ok: false, reason: expect.stringContaining("option 57") })
  })
  it("known options with wrong lengths", () => {
    for (const [code, v] of [[53, [1, 2]], [50, [10, 0, 2]], [3, [1, 2, 3, 4, 5]], [57, [2]], [55, []], [61, [1]], [119, [0xc0, 0x00]]] as const) {
      const b = emitDhcp({ op: 1, xid: 1, chaddr: MAC, options: [[code, new Uint8Array(v)]] }).bytes
      expect(parseDhcp(b).ok, `option ${code}`).toBe(false)
    }
  })
  it("hlen over 16", () => {
    const b = good.slice()
    b[2] = 17
    expect(parseDhcp(b).ok).toBe(false)
  })
  it("no magic cookie: BOOTP without options", () => {
    const b = good.slice()
    put32(b, 236, DHCP_MAGIC_COOKIE ^ 1)
    const m = ok(b)
    expect([m.hasCookie, m.options.size, m.opts.messageType]).toEqual([false, 0, undefined])
  })
  it("random bytes and every truncation of a real message never throw", () => {
    for (let n = 0; n <= good.length; n++) expect(() => parseDhcp(good.subarray(0, n))).not.toThrow()
    let x = 99
    for (let n = 0; n < 500; n++) {
      const b = good.slice()
      for (let k = 0; k < 8; k++) {
        x = (x * 1103515245 + 12345) >>> 0
        b[240 + (x % (b.length - 240))] = x >>> 24
      }
      expect(() => parseDhcp(b)).not.toThrow()
    }
  })
})
