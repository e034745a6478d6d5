import { describe, expect, it } from "vitest"
import { get16 } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { StackDriver, ofTag } from "./driver.ts"
import { DNS, GUEST, HOST, bytes, decode, udpChecksumOk, udpFrame } from "./frames.ts"

const UPSTREAM = { family: 4 as const, address: "127.0.0.1", port: 5353 }
const dnsQuery = (id: number) => {
  const q = new Uint8Array([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x66, 0x6f, 0x6f, 0, 0, 1, 0, 1])
  q[0] = id >> 8
  q[1] = id & 0xff
  return q
}
const dnsAnswer = (id: number) => {
  const a = dnsQuery(id)
  a[2] = 0x81
  a[3] = 0x80
  return a
}

describe("stack: UDP NAPT", () => {
  it("the gateway address is the host's loopback, and replies come from the gateway", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, HOST, 40000, 7777, bytes("ping")))
    const fx = d.take()
    const [open] = ofTag(fx, "UdpOpen")
    expect(ofTag(fx, "UdpSend").map((s) => [s.sock, s.to, new TextDecoder().decode(s.data)])).toEqual([
      [open!.sock, { family: 4, address: "127.0.0.1", port: 7777 }, "ping"],
    ])
    d.event({ _tag: "HostUdpDatagram", sock: open!.sock, from: { family: 4, address: "127.0.0.1", port: 7777 }, data: bytes("pong") })
    const r = decode(d.framesOut()[0]!)
    expect([r.ip!.src, r.ip!.dst, r.ip!.headerOk]).toEqual([HOST, GUEST, true])
    const u = r.ip!.payload
    expect([get16(u, 0), get16(u, 2), get16(u, 4)]).toEqual([7777, 40000, 12])
    expect(udpChecksumOk(HOST, GUEST, u)).toBe(true)
    expect(new TextDecoder().decode(u.subarray(8))).toBe("pong")
  })

  it("one socket per guest (address, port); replies from any remote are accepted", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, ipv4(192, 0, 2, 1), 40000, 9, bytes("a")))
    d.frame(udpFrame(GUEST, ipv4(192, 0, 2, 2), 40000, 9, bytes("b")))
    d.frame(udpFrame(GUEST, ipv4(192, 0, 2, 2), 40001, 9, bytes("c")))
    const fx = d.take()
    const opens = ofTag(fx, "UdpOpen")
    expect(opens).toHaveLength(2)
    expect(ofTag(fx, "UdpSend").map((s) => s.ttl)).toEqual([63, 63, 63])
    d.event({ _tag: "HostUdpDatagram", sock: opens[0]!.sock, from: { family: 4, address: "198.51.100.7", port: 1234 }, data: bytes("z") })
    const r = decode(d.framesOut()[0]!)
    expect(r.ip!.src).toBe(ipv4(198, 51, 100, 7))
    expect(get16(r.ip!.payload, 0)).toBe(1234)
    expect(get16(r.ip!.payload, 2)).toBe(40000)
  })

  it("idle flows expire after 4 minutes, not before", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, HOST, 40000, 7777, bytes("x")))
    const sock = ofTag(d.take(), "UdpOpen")[0]!.sock
    d.advance(200_000)
    expect(ofTag(d.take(), "SocketClose")).toEqual([])
    d.advance(50_000)
    expect(ofTag(d.take(), "SocketClose").map((c) => c.sock)).toEqual([sock])
    expect(d.timers.size).toBe(0)
  })

  it("traffic keeps a flow alive", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, HOST, 40000, 7777, bytes("x")))
    d.take()
    for (let i = 0; i < 10; i++) {
      d.advance(100_000)
      d.frame(udpFrame(GUEST, HOST, 40000, 7777, bytes("x")))
    }
    expect(ofTag(d.take(), "SocketClose")).toEqual([])
  })

  it("the host reporting port unreachable becomes ICMP port unreachable to the guest", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, HOST, 40000, 7777, bytes("x")))
    const sock = ofTag(d.take(), "UdpOpen")[0]!.sock
    d.event({ _tag: "HostUnreachable", sock, to: { family: 4, address: "127.0.0.1", port: 7777 }, reason: "port" })
    const r = decode(d.framesOut()[0]!)
    expect([r.ip!.src, r.ip!.protocol, r.ip!.payload[0], r.ip!.payload[1]]).toEqual([HOST, 1, 3, 3])
    const q = r.ip!.payload.subarray(8)
    expect([get16(q, 20), get16(q, 22)]).toEqual([40000, 7777])
  })

  it("datagrams into the empty virtual network, to multicast, or to loopback are dropped", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, ipv4(10, 0, 2, 99), 1, 2, bytes("x")))
    d.frame(udpFrame(GUEST, ipv4(224, 0, 0, 251), 5353, 5353, bytes("x")))
    d.frame(udpFrame(GUEST, ipv4(127, 0, 0, 1), 1, 2, bytes("x")))
    expect(d.take().filter((e) => e._tag !== "Log")).toEqual([])
  })

  it("a datagram larger than the MTU from the host is fragmented toward the guest", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, HOST, 40000, 7777, bytes("x")))
    const sock = ofTag(d.take(), "UdpOpen")[0]!.sock
    const big = new Uint8Array(4000).map((_, i) => i & 0xff)
    d.event({ _tag: "HostUdpDatagram", sock, from: { family: 4, address: "127.0.0.1", port: 7777 }, data: big })
    const frames = d.framesOut().map(decode)
    expect(frames.length).toBe(3)
    expect(frames.every((f) => f.ip!.headerOk && f.ip!.id === frames[0]!.ip!.id)).toBe(true)
    expect(frames.map((f) => [f.ip!.fragOffset, f.ip!.mf])).toEqual([[0, true], [1480, true], [2960, false]])
    const whole = new Uint8Array(4008)
    for (const f of frames) whole.set(f.ip!.payload, f.ip!.fragOffset)
    expect(udpChecksumOk(HOST, GUEST, whole)).toBe(true)
    expect([...whole.subarray(8)]).toEqual([...big])
  })

  it("a bad UDP checksum or a lying length field is dropped", () => {
    const d = new StackDriver()
    const f = udpFrame(GUEST, HOST, 40000, 7777, bytes("xyz"))
    f[14 + 20 + 6]! ^= 0x55
    d.frame(f)
    const g = udpFrame(GUEST, HOST, 40000, 7777, bytes("xyz"))
    g[14 + 20 + 5] = 200
    d.frame(g)
    expect(d.take().filter((e) => e._tag !== "Log")).toEqual([])
  })
})

describe("stack: DNS proxy", () => {
  it("queries to the DNS address go to the upstream and answers come back from 10.0.2.3:53", () => {
    const d = new StackDriver({ dnsUpstream: UPSTREAM })
    d.frame(udpFrame(GUEST, DNS, 33333, 53, dnsQuery(0xbeef)))
    const fx = d.take()
    const [send] = ofTag(fx, "UdpSend")
    expect(send!.to).toEqual(UPSTREAM)
    expect(send!.ttl).toBeUndefined()
    d.event({ _tag: "HostUdpDatagram", sock: send!.sock, from: UPSTREAM, data: dnsAnswer(0xbeef) })
    const r = decode(d.framesOut()[0]!)
    expect(r.ip!.src).toBe(DNS)
    expect(get16(r.ip!.payload, 0)).toBe(53)
    expect(get16(r.ip!.payload, 2)).toBe(33333)
  })

  it("an answer whose id was never asked does not appear to come from the DNS address", () => {
    const d = new StackDriver({ dnsUpstream: UPSTREAM })
    d.frame(udpFrame(GUEST, DNS, 33333, 53, dnsQuery(1)))
    const sock = ofTag(d.take(), "UdpSend")[0]!.sock
    d.event({ _tag: "HostUdpDatagram", sock, from: UPSTREAM, data: dnsAnswer(2) })
    const r = decode(d.framesOut()[0]!)
    expect(r.ip!.src).not.toBe(DNS)
    // The id is answered once only.
    d.event({ _tag: "HostUdpDatagram", sock, from: UPSTREAM, data: dnsAnswer(1) })
    d.event({ _tag: "HostUdpDatagram", sock, from: UPSTREAM, data: dnsAnswer(1) })
    expect(d.framesOut().map((f) => decode(f).ip!.src)).toEqual([DNS, HOST])
  })

  it("DNS-only flows expire after 10 s", () => {
    const d = new StackDriver({ dnsUpstream: UPSTREAM })
    d.frame(udpFrame(GUEST, DNS, 33333, 53, dnsQuery(1)))
    const sock = ofTag(d.take(), "UdpOpen")[0]!.sock
    d.advance(16_000)
    expect(ofTag(d.take(), "SocketClose").map((c) => c.sock)).toEqual([sock])
  })

  it("other ports of the DNS address answer ICMP port unreachable; malformed queries are dropped", () => {
    const d = new StackDriver({ dnsUpstream: UPSTREAM })
    d.frame(udpFrame(GUEST, DNS, 33333, 54, bytes("x")))
    const r = decode(d.framesOut()[0]!)
    expect([r.ip!.src, r.ip!.payload[0], r.ip!.payload[1]]).toEqual([DNS, 3, 3])
    d.frame(udpFrame(GUEST, DNS, 33333, 53, bytes("short")))
    expect(d.take().filter((e) => e._tag !== "Log")).toEqual([])
  })
})
