/**
 * UDP over IPv6 through the same UDP layer and flow table as IPv4, through the whole stack
 * reducer (every event checked by the referential-transparency harness): the gateway is the
 * host's ::1, DNS to the IPv6 DNS address goes to the upstream, errors become ICMPv6, and a
 * large datagram from the host is fragmented as its source.
 */
import { describe, expect, it } from "vitest"
import { parseIcmpv6 } from "../../../src/protocol/icmpv6/wire.ts"
import { get16, get32 } from "../../../src/protocol/wire/bytes.ts"
import { formatIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { StackDriver, ofTag } from "./driver.ts"
import { bytes } from "./frames.ts"
import { DNS6, DNS6_LL, GUEST6, GUEST6_LL, HOST6, a6, decode6, udp6Frame } from "./frames6.ts"

const UPSTREAM = { family: 6 as const, address: "::1", port: 5353 }
const dnsQuery = (id: number) => {
  const q = new Uint8Array([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x66, 0x6f, 0x6f, 0, 0, 28, 0, 1])
  q[0] = id >> 8
  q[1] = id & 0xff
  return q
}
const answerOf = (q: Uint8Array) => {
  const a = q.slice()
  a[2] = 0x81
  a[3] = 0x80
  return a
}
const text = (b: Uint8Array) => new TextDecoder().decode(b)

describe("stack: UDP over IPv6", () => {
  it("the IPv6 gateway is the host's ::1 (an IPv6 socket); replies come from fec0::2 with a valid checksum", () => {
    const d = new StackDriver()
    d.frame(udp6Frame(GUEST6, HOST6, 40000, 7777, bytes("ping6")))
    const fx = d.take()
    const [open] = ofTag(fx, "UdpOpen")
    expect(open!.family).toBe(6)
    expect(ofTag(fx, "UdpSend").map((s) => [s.sock, s.to, text(s.data), s.ttl])).toEqual([[open!.sock, { family: 6, address: "::1", port: 7777 }, "ping6", undefined]])
    d.event({ _tag: "HostUdpDatagram", sock: open!.sock, from: { family: 6, address: "::1", port: 7777 }, data: bytes("pong6") })
    const r = decode6(d.framesOut()[0]!)
    expect([r.src, r.dst, r.nh, r.checksumOk, r.dstMac]).toEqual(["fec0::2", formatIpv6(GUEST6), 17, true, "52:54:00:12:34:56"])
    expect([get16(r.payload, 0), get16(r.payload, 2), text(r.payload.subarray(8))]).toEqual([7777, 40000, "pong6"])
  })

  it("IPv4 and IPv6 flows of the same port are distinct sockets in the one flow table", () => {
    const d = new StackDriver()
    d.frame(udp6Frame(GUEST6, HOST6, 40000, 7777, bytes("a")))
    d.frame(udp6Frame(GUEST6_LL, a6("fe80::2"), 40000, 7777, bytes("b")))
    const opens = ofTag(d.take(), "UdpOpen")
    expect(opens.map((o) => o.family)).toEqual([6, 6])
    expect(d.state.napt.flows.udpCount).toBe(2)
  })

  it("a link-local guest talking to fe80::2 gets replies from fe80::2", () => {
    const d = new StackDriver()
    d.frame(udp6Frame(GUEST6_LL, a6("fe80::2"), 40000, 7777, bytes("x")))
    const [open] = ofTag(d.take(), "UdpOpen")
    d.event({ _tag: "HostUdpDatagram", sock: open!.sock, from: { family: 6, address: "::1", port: 7777 }, data: bytes("y") })
    expect(decode6(d.framesOut()[0]!).src).toBe("fe80::2")
  })

  for (const via of [DNS6, DNS6_LL]) {
    it(`DNS to ${formatIpv6(via)}:53 goes to the upstream; the answer comes back from ${formatIpv6(via)}:53`, () => {
      const d = new StackDriver({ dnsUpstream: UPSTREAM })
      const src = via[0] === 0xfe ? GUEST6_LL : GUEST6
      d.frame(udp6Frame(src, via, 53000, 53, dnsQuery(0x4242)))
      const fx = d.take()
      const [send] = ofTag(fx, "UdpSend")
      expect(send!.to).toEqual(UPSTREAM)
      d.event({ _tag: "HostUdpDatagram", sock: send!.sock, from: UPSTREAM, data: answerOf(dnsQuery(0x4242)) })
      const r = decode6(d.framesOut()[0]!)
      expect([r.src, r.dst, get16(r.payload, 0), get16(r.payload, 2), get16(r.payload, 8), r.checksumOk]).toEqual([formatIpv6(via), formatIpv6(src), 53, 53000, 0x4242, true])
    })
  }

  it("an IPv4 upstream answering an IPv6 flow's socket (as ::ffff:127.0.0.1) still answers from fec0::3:53", () => {
    const upstream = { family: 4 as const, address: "127.0.0.1", port: 5353 }
    const d = new StackDriver({ dnsUpstream: upstream })
    d.frame(udp6Frame(GUEST6, DNS6, 53000, 53, dnsQuery(7)))
    const [send] = ofTag(d.take(), "UdpSend")
    expect(send!.to).toEqual(upstream)
    d.event({ _tag: "HostUdpDatagram", sock: send!.sock, from: { family: 6, address: "::ffff:127.0.0.1", port: 5353 }, data: answerOf(dnsQuery(7)) })
    const r = decode6(d.framesOut()[0]!)
    expect([r.src, get16(r.payload, 0), get16(r.payload, 8)]).toEqual(["fec0::3", 53, 7])
  })

  it("the host's loopback seen through an IPv6 socket (::ffff:127.0.0.1) appears as the gateway; other IPv4 peers are not shown", () => {
    const d = new StackDriver()
    d.frame(udp6Frame(GUEST6, HOST6, 40000, 7777, bytes("x")))
    const [open] = ofTag(d.take(), "UdpOpen")
    d.event({ _tag: "HostUdpDatagram", sock: open!.sock, from: { family: 6, address: "::ffff:127.0.0.1", port: 7777 }, data: bytes("y") })
    expect(decode6(d.framesOut()[0]!).src).toBe("fec0::2")
    d.event({ _tag: "HostUdpDatagram", sock: open!.sock, from: { family: 6, address: "::ffff:192.0.2.1", port: 7777 }, data: bytes("y") })
    expect(d.framesOut()).toEqual([])
  })

  it("another port of the DNS address: ICMPv6 port unreachable from fec0::3 quoting the datagram", () => {
    const d = new StackDriver()
    const f = udp6Frame(GUEST6, DNS6, 40000, 5353, bytes("nope"))
    d.frame(f)
    const r = decode6(d.framesOut()[0]!)
    expect([r.src, r.dst, r.nh, r.checksumOk]).toEqual(["fec0::3", formatIpv6(GUEST6), 58, true])
    const p = parseIcmpv6(r.payload, new Uint8Array([...new Uint8Array(22), ...DNS6, ...GUEST6]), 22, new Uint8Array([...new Uint8Array(38), ...GUEST6]), 38)
    expect(p.ok && [p.icmp.type, p.icmp.code]).toEqual([1, 4])
    expect(r.payload.subarray(8)).toEqual(f.subarray(14))
  })

  it("an outside address goes out through an IPv6 socket with hop limit - 1; hop limit 1 gets time exceeded from fec0::2", () => {
    const d = new StackDriver()
    d.frame(udp6Frame(GUEST6, a6("2001:db8::7"), 40000, 9, bytes("out"), 30))
    expect(ofTag(d.take(), "UdpSend").map((s) => [s.to, s.ttl])).toEqual([[{ family: 6, address: "2001:db8::7", port: 9 }, 29]])
    d.frame(udp6Frame(GUEST6, a6("2001:db8::7"), 40001, 9, bytes("out"), 1))
    const fx = d.take()
    expect(ofTag(fx, "UdpSend")).toEqual([])
    const r = decode6(ofTag(fx, "DeliverFrame")[0]!.frame)
    expect([r.src, r.payload[0], r.payload[1]]).toEqual(["fec0::2", 3, 0])
  })

  it("the host's port unreachable for a flow becomes ICMPv6 1/4 from the remote, quoting a rebuilt datagram", () => {
    const d = new StackDriver()
    d.frame(udp6Frame(GUEST6, a6("2001:db8::7"), 40000, 9, bytes("out")))
    const [open] = ofTag(d.take(), "UdpOpen")
    d.event({ _tag: "HostUnreachable", sock: open!.sock, to: { family: 6, address: "2001:db8::7", port: 9 }, reason: "port" })
    const r = decode6(d.framesOut()[0]!)
    expect([r.src, r.dst, r.payload[0], r.payload[1], r.checksumOk]).toEqual(["2001:db8::7", formatIpv6(GUEST6), 1, 4, true])
    const quoted = r.payload.subarray(8)
    expect([formatIpv6(quoted, 8), formatIpv6(quoted, 24), quoted[6], get16(quoted, 40), get16(quoted, 42)]).toEqual([formatIpv6(GUEST6), "2001:db8::7", 17, 40000, 9])
  })

  it("a host datagram of 3000 bytes is fragmented as its source: Fragment headers, 8-byte multiples, one id, the whole payload", () => {
    const d = new StackDriver()
    d.frame(udp6Frame(GUEST6, HOST6, 40000, 7777, bytes("big?")))
    const [open] = ofTag(d.take(), "UdpOpen")
    const data = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff)
    d.event({ _tag: "HostUdpDatagram", sock: open!.sock, from: { family: 6, address: "::1", port: 7777 }, data })
    const frames = d.framesOut()
    expect(frames.length).toBe(3)
    const parts: Array<readonly [number, Uint8Array]> = []
    const ids = new Set<number>()
    frames.forEach((f, i) => {
      expect(f.length).toBeLessThanOrEqual(1514)
      expect(f[20]).toBe(44)
      const fo = get16(f, 56)
      expect((fo & 1) === 1).toBe(i < 2)
      ids.add(get32(f, 58))
      const len = get16(f, 18) - 8
      if (i < 2) expect(len % 8).toBe(0)
      parts.push([fo & 0xfff8, f.subarray(62, 62 + len)])
    })
    expect(ids.size).toBe(1)
    const whole = new Uint8Array(3008)
    for (const [off, p] of parts) whole.set(p, off)
    expect([get16(whole, 0), get16(whole, 2), get16(whole, 4)]).toEqual([7777, 40000, 3008])
    expect(whole.subarray(8)).toEqual(data)
  })

  it("guest datagrams with a zero checksum (forbidden over IPv6) or a bad one are dropped", () => {
    const d = new StackDriver()
    d.frame(udp6Frame(GUEST6, HOST6, 40000, 7777, bytes("z"), 64, true))
    const bad = udp6Frame(GUEST6, HOST6, 40000, 7777, bytes("z"))
    bad[bad.length - 1]! ^= 1
    d.frame(bad)
    expect(d.take().filter((e) => e._tag !== "Log")).toEqual([])
    expect(d.log.filter((l) => l.includes("zero checksum over IPv6") || l.includes("bad checksum"))).toHaveLength(2)
  })

  it("a datagram from an IPv4 peer on an IPv6 flow cannot be shown to the guest: dropped with a log", () => {
    const d = new StackDriver()
    d.frame(udp6Frame(GUEST6, HOST6, 40000, 7777, bytes("x")))
    const [open] = ofTag(d.take(), "UdpOpen")
    d.event({ _tag: "HostUdpDatagram", sock: open!.sock, from: { family: 4, address: "192.0.2.1", port: 7777 }, data: bytes("y") })
    expect(d.framesOut()).toEqual([])
    expect(d.log.some((l) => l.includes("has no IPv6 address for the guest"))).toBe(true)
  })
})
