import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import type { HostUdpDatagram, HostUnreachable } from "../../../src/effects/event.ts"
import { type SocketId, socketId } from "../../../src/effects/ids.ts"
import { type Instant, instant } from "../../../src/effects/instant.ts"
import { parseIpv4Header, writeIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import type { LayerOutput as AnyLayerOutput } from "../../../src/protocol/stack/output.ts"

type LayerOutput = AnyLayerOutput
import { FLOW_SWEEP_MS, FLOW_SWEEP_TIMER } from "../../../src/protocol/flows/flow-table.ts"
import { type NaptState, closeNapt, emptyNapt, sweepNapt as rawSweepNapt } from "../../../src/protocol/flows/napt.ts"
import {
  DNS_PENDING_MAX,
  UDP_DNS_IDLE_MS,
  UDP_IDLE_MS,
  UDP_MAX_FLOWS,
  type UdpIn,
  udpFromGuest as rawUdpFromGuest,
  udpHostEvent as rawUdpHostEvent,
} from "../../../src/protocol/udp/layer.ts"
import { checkedLayer } from "../../support/checked.ts"
import { UDP_CHECKSUM_OFFSET, emitUdpHeader, parseUdp } from "../../../src/protocol/udp/wire.ts"
import { get16, put16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { intMapValues } from "../../../src/protocol/data/int-map.ts"

const c = defaultConfig
const GUEST = ipv4(10, 0, 2, 15)
const FAR = ipv4(192, 0, 2, 10)
const T0 = instant(1_000_000)
const ctx = (now: Instant = T0) => ({ config: c, now })
const SOCK0 = socketId(1)
const SOCK1 = socketId(2)

// Every call is checked by the referential-transparency harness (test/support/checked.ts).
const udpHostEvent = checkedLayer(rawUdpHostEvent)
const sweepNapt = checkedLayer(rawSweepNapt)
const checkedFromGuest = checkedLayer(rawUdpFromGuest)
/** The stack's allocator, played here: a new flow gets the id after the highest live one. */
const nextFree = (s: NaptState): SocketId => socketId(Math.max(0, ...[...intMapValues(s.flows.bySock)].map((f) => f.sock)) + 1)
const udpFromGuest = (s: NaptState, k: { config: typeof c; now: Instant }, m: UdpIn) => checkedFromGuest(s, { ...k, newSocket: nextFree(s) }, m)

/** A UDP datagram from the guest as the IP layer hands it over (checksum 0: none). */
const udpIn = (dst: number, dstPort: number, opts: { srcPort?: number; data?: Uint8Array; ttl?: number; src?: number } = {}): UdpIn => {
  const data = opts.data ?? new TextEncoder().encode("hi")
  const datagram = new Uint8Array(28 + data.length)
  datagram.set(emitUdpHeader(opts.srcPort ?? 40000, dstPort, data.length), 20)
  datagram.set(data, 28)
  const ttl = opts.ttl ?? 64
  const src = opts.src ?? GUEST
  writeIpv4Header(datagram, 0, { totalLength: datagram.length, id: 1, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl, protocol: 17, src, dst })
  const p = parseUdp(datagram.subarray(20), src, dst)
  if (!p.ok) throw new Error(p.reason)
  return { src, dst, ttl, datagram, udp: p.udp }
}

/** A DNS query header (12 bytes, id given) plus a little question. */
const dnsQuery = (id: number): Uint8Array => {
  const q = new Uint8Array(12 + 5)
  put16(q, 0, id)
  put16(q, 2, 0x0100)
  put16(q, 4, 1)
  return q
}
const dnsReply = (id: number): Uint8Array => {
  const r = dnsQuery(id)
  put16(r, 2, 0x8180)
  return r
}

const tags = (out: ReadonlyArray<LayerOutput>) => out.map((o) => o._tag)
const only = <T extends LayerOutput["_tag"]>(out: ReadonlyArray<LayerOutput>, tag: T) =>
  out.filter((o): o is Extract<LayerOutput, { _tag: T }> => o._tag === tag)

const datagram = (from: { address: string; port: number }, data: Uint8Array, sock = SOCK0, now: Instant = T0): HostUdpDatagram => ({
  _tag: "HostUdpDatagram",
  now,
  sock,
  from: { family: 4, ...from },
  data,
})

/** One flow for guest port 40000 to the gateway (host loopback) port 7777. */
const withFlow = (): NaptState => udpFromGuest(emptyNapt, ctx(), udpIn(c.host, 7777))[0]
const withDnsFlow = (id = 0xbeef): NaptState => udpFromGuest(emptyNapt, ctx(), udpIn(c.dns, 53, { srcPort: 5353, data: dnsQuery(id) }))[0]

describe("udp layer: guest to host", () => {
  it("udp: the captured datagram to 10.0.2.2:7777 opens a socket and goes to 127.0.0.1:7777; sweep armed", () => {
    const f = golden("udp-request")
    const ip = parseIpv4Header(f, 14)
    if (!ip.ok) throw new Error(ip.reason)
    const seg = f.subarray(ip.ip.payloadOffset, ip.ip.payloadOffset + ip.ip.payloadLength)
    const u = parseUdp(seg, ip.ip.src, ip.ip.dst)
    if (!u.ok) throw new Error(u.reason)
    const [s, out] = udpFromGuest(emptyNapt, ctx(), { src: ip.ip.src, dst: ip.ip.dst, ttl: ip.ip.ttl, datagram: f.subarray(14), udp: u.udp })
    expect(out).toEqual([
      { _tag: "UdpOpen", sock: SOCK0, family: 4 },
      { _tag: "UdpSend", sock: SOCK0, to: { family: 4, address: "127.0.0.1", port: 7777 }, data: new TextEncoder().encode("hello tslirp\n") },
      { _tag: "SetTimer", timer: FLOW_SWEEP_TIMER, at: T0 + FLOW_SWEEP_MS },
    ])
    expect(s.flows.bySock.size).toBe(1)
  })

  it("udp: the payload sent is a view of the guest's datagram, not a copy (the stack owns the guest's frame)", () => {
    const m = udpIn(c.host, 7777, { data: new Uint8Array([1, 2, 3]) })
    const [, out] = udpFromGuest(emptyNapt, ctx(), m)
    const data = only(out, "UdpSend")[0]!.data
    expect([...data]).toEqual([1, 2, 3])
    expect(data.buffer).toBe(m.datagram.buffer)
    expect(data.byteOffset).toBe(m.datagram.byteOffset + 28)
  })

  it("udp: datagrams to an external address go to it with TTL-1", () => {
    const [, out] = udpFromGuest(emptyNapt, ctx(), udpIn(FAR, 9999, { ttl: 10 }))
    const [send] = only(out, "UdpSend")
    expect(send!.to).toEqual({ family: 4, address: "192.0.2.10", port: 9999 })
    expect(send!.ttl).toBe(9)
  })

  it("udp: TTL 1 to an external address gets time exceeded from the gateway, no socket", () => {
    const m = udpIn(FAR, 9999, { ttl: 1 })
    const [s, out] = udpFromGuest(emptyNapt, ctx(), m)
    expect(out).toEqual([{ _tag: "ErrorToGuest", family: 4, src: c.host, reason: "ttl-exceeded", original: m.datagram }])
    expect(s.flows.bySock.size).toBe(0)
  })

  it("udp: broadcasts (limited and subnet) go to the host's loopback, like libslirp", () => {
    for (const dst of [0xffffffff, ipv4(10, 0, 2, 255)]) {
      const [, out] = udpFromGuest(emptyNapt, ctx(), udpIn(dst, 137))
      expect(only(out, "UdpSend")[0]!.to).toEqual({ family: 4, address: "127.0.0.1", port: 137 })
    }
  })

  it("udp: other hosts of the virtual network, multicast and reserved addresses are dropped with a log", () => {
    for (const dst of [ipv4(10, 0, 2, 77), ipv4(224, 0, 0, 251), ipv4(127, 0, 0, 1), 0]) {
      const [s, out] = udpFromGuest(emptyNapt, ctx(), udpIn(dst, 5353))
      expect(tags(out), `dst ${dst.toString(16)}`).toEqual(["Log"])
      expect(s.flows.bySock.size).toBe(0)
    }
  })

  it("udp: a port other than 53 of the DNS address gets ICMP port unreachable from the DNS address", () => {
    const m = udpIn(c.dns, 9)
    const [s, out] = udpFromGuest(emptyNapt, ctx(), m)
    expect(out).toEqual([{ _tag: "ErrorToGuest", family: 4, src: c.dns, reason: "port", original: m.datagram }])
    expect(s.flows.bySock.size).toBe(0)
  })

  it("udp: a DNS query to the DNS address goes to the upstream resolver", () => {
    const [s, out] = udpFromGuest(emptyNapt, ctx(), udpIn(c.dns, 53, { data: dnsQuery(0x1234) }))
    expect(only(out, "UdpSend")[0]!.to).toEqual(c.dnsUpstream)
    expect(s.flows.bySock.size).toBe(1)
  })

  it("udp: a malformed DNS query (shorter than a header) to the DNS address is dropped", () => {
    const [s, out] = udpFromGuest(emptyNapt, ctx(), udpIn(c.dns, 53, { data: new Uint8Array(11) }))
    expect(tags(out)).toEqual(["Log"])
    expect(s.flows.bySock.size).toBe(0)
  })

  it("udp: later datagrams of the same guest (address, port) reuse the socket, to any destination", () => {
    const [s2, out] = udpFromGuest(withFlow(), ctx(instant(T0 + 2000)), udpIn(FAR, 1))
    expect(tags(out)).toEqual(["UdpSend"])
    expect(only(out, "UdpSend")[0]!.sock).toBe(SOCK0)
    expect(s2.flows.bySock.size).toBe(1)
  })

  it("udp: another guest port gets another socket; the sweep timer is not armed twice", () => {
    const [s2, out] = udpFromGuest(withFlow(), ctx(), udpIn(c.host, 7777, { srcPort: 40001 }))
    expect(tags(out)).toEqual(["UdpOpen", "UdpSend"])
    expect(only(out, "UdpOpen")[0]!.sock).toBe(SOCK1)
    expect(s2.flows.bySock.size).toBe(2)
  })

  it(`udp: at most ${UDP_MAX_FLOWS} flows; one more is dropped with a log, existing flows still work`, () => {
    let s = emptyNapt
    for (let i = 0; i < UDP_MAX_FLOWS; i++) s = udpFromGuest(s, ctx(), udpIn(c.host, 7, { srcPort: 1000 + i }))[0]
    const [s2, out] = udpFromGuest(s, ctx(), udpIn(c.host, 7, { srcPort: 60000 }))
    expect(s2).toBe(s)
    expect(tags(out)).toEqual(["Log"])
    expect(tags(udpFromGuest(s, ctx(), udpIn(c.host, 7, { srcPort: 1000 }))[1])).toEqual(["UdpSend"])
  })
})

describe("udp layer: host to guest", () => {
  it("udp: a datagram from the host's loopback comes to the guest from the gateway, with a UDP header to fill", () => {
    const data = new TextEncoder().encode("hello tslirp\n")
    const [, out] = udpHostEvent(withFlow(), ctx(), datagram({ address: "127.0.0.1", port: 7777 }, data))
    expect(out).toHaveLength(1)
    const [o] = only(out, "PacketToGuest")
    expect(o!.src).toBe(c.host)
    expect(o!.dst).toBe(GUEST)
    expect(o!.protocol).toBe(17)
    expect(o!.checksumOffset).toBe(UDP_CHECKSUM_OFFSET)
    expect(o!.pseudoHeader).toBe(true)
    expect(o!.payload).toBe(data)
    // The same header Linux sent in the captured echo (checksum left zero for the IP layer).
    const linux = golden("udp-reply").slice(34, 42)
    put16(linux, 6, 0)
    expect(toHex(o!.header)).toBe(toHex(linux))
  })

  it("udp: replies from any remote are accepted and appear from that remote (full cone)", () => {
    const [, out] = udpHostEvent(withFlow(), ctx(), datagram({ address: "198.51.100.7", port: 123 }, new Uint8Array(3)))
    const [o] = only(out, "PacketToGuest")
    expect(o!.src).toBe(ipv4(198, 51, 100, 7))
    expect(get16(o!.header, 0)).toBe(123)
    expect(get16(o!.header, 2)).toBe(40000)
  })

  it("udp: a datagram from an IPv6 remote cannot be shown to an IPv4 guest: dropped with a log", () => {
    const [, out] = udpHostEvent(withFlow(), ctx(), datagram({ address: "2001:db8::1", port: 1 }, new Uint8Array(1)))
    expect(tags(out)).toEqual(["Log"])
  })

  it("udp: events for an unknown socket are ignored", () => {
    const s = withFlow()
    const [s2, out] = udpHostEvent(s, ctx(), datagram({ address: "127.0.0.1", port: 1 }, new Uint8Array(1), socketId(50)))
    expect(s2).toBe(s)
    expect(out).toEqual([])
  })

  it("udp: the upstream's answer to a proxied query comes from the DNS address, port 53", () => {
    const up = c.dnsUpstream!
    const [s, out] = udpHostEvent(withDnsFlow(0xbeef), ctx(), datagram({ address: up.address, port: up.port }, dnsReply(0xbeef)))
    const [o] = only(out, "PacketToGuest")
    expect(o!.src).toBe(c.dns)
    expect(get16(o!.header, 0)).toBe(53)
    expect(get16(o!.header, 2)).toBe(5353)
    // The id is answered: a second answer with the same id is not the DNS proxy's any more.
    const [, out2] = udpHostEvent(s, ctx(), datagram({ address: up.address, port: up.port }, dnsReply(0xbeef)))
    expect(only(out2, "PacketToGuest")[0]!.src).not.toBe(c.dns)
  })

  it("udp: an upstream datagram whose DNS id was never asked does not come from the DNS address", () => {
    const up = c.dnsUpstream!
    const [, out] = udpHostEvent(withDnsFlow(0xbeef), ctx(), datagram({ address: up.address, port: up.port }, dnsReply(0x0bad)))
    expect(only(out, "PacketToGuest")[0]!.src).toBe(c.host) // 127.0.0.1 appears as the gateway
  })

  it(`udp: at most ${DNS_PENDING_MAX} outstanding DNS ids are remembered per flow, the oldest forgotten`, () => {
    let s = emptyNapt
    for (let id = 0; id <= DNS_PENDING_MAX; id++) s = udpFromGuest(s, ctx(), udpIn(c.dns, 53, { srcPort: 5353, data: dnsQuery(id) }))[0]
    const up = c.dnsUpstream!
    const from = (id: number) => only(udpHostEvent(s, ctx(), datagram({ address: up.address, port: up.port }, dnsReply(id)))[1], "PacketToGuest")[0]!.src
    expect(from(0)).toBe(c.host) // forgotten
    expect(from(1)).toBe(c.dns)
    expect(from(DNS_PENDING_MAX)).toBe(c.dns)
  })

  it("udp: the host's port unreachable becomes ICMP port unreachable quoting the guest's UDP header", () => {
    const ev: HostUnreachable = { _tag: "HostUnreachable", now: T0, sock: SOCK0, to: { family: 4, address: "198.51.100.7", port: 9 }, reason: "port" }
    const [, out] = udpHostEvent(withFlow(), ctx(), ev)
    const [e] = only(out, "ErrorToGuest")
    expect([e!.reason, e!.src]).toEqual(["port", ipv4(198, 51, 100, 7)])
    const q = parseIpv4Header(e!.original, 0)
    if (!q.ok) throw new Error(q.reason)
    expect([q.ip.src, q.ip.dst, q.ip.protocol]).toEqual([GUEST, ipv4(198, 51, 100, 7), 17])
    expect([get16(e!.original, 20), get16(e!.original, 22)]).toEqual([40000, 9])
  })

  it("udp: port unreachable from the host's loopback is quoted as from the gateway", () => {
    const ev: HostUnreachable = { _tag: "HostUnreachable", now: T0, sock: SOCK0, to: { family: 4, address: "127.0.0.1", port: 7777 }, reason: "port" }
    const [e] = only(udpHostEvent(withFlow(), ctx(), ev)[1], "ErrorToGuest")
    expect(e!.src).toBe(c.host)
    expect(get16(e!.original, 22)).toBe(7777)
  })

  it("udp: the upstream resolver unreachable is reported from the DNS address, port 53", () => {
    const up = c.dnsUpstream!
    const ev: HostUnreachable = { _tag: "HostUnreachable", now: T0, sock: SOCK0, to: { family: 4, address: up.address, port: up.port }, reason: "port" }
    const [e] = only(udpHostEvent(withDnsFlow(), ctx(), ev)[1], "ErrorToGuest")
    expect(e!.src).toBe(c.dns)
    const q = parseIpv4Header(e!.original, 0)
    expect(q.ok && q.ip.dst).toBe(c.dns)
    expect(get16(e!.original, 22)).toBe(53)
  })

  it("udp: fragmentation needed carries the MTU; the reporting router is the source", () => {
    const ev: HostUnreachable = { _tag: "HostUnreachable", now: T0, sock: SOCK0, to: { family: 4, address: "198.51.100.7", port: 9 }, reason: "fragmentation-needed", mtu: 1280, from: "203.0.113.1" }
    const [e] = only(udpHostEvent(withFlow(), ctx(), ev)[1], "ErrorToGuest")
    expect([e!.reason, e!.mtu, e!.src]).toEqual(["fragmentation-needed", 1280, ipv4(203, 0, 113, 1)])
  })

  it("udp: a socket error closes the socket and forgets the flow", () => {
    const [s, out] = udpHostEvent(withFlow(), ctx(), { _tag: "HostSocketError", now: T0, sock: SOCK0, code: "EMFILE" })
    expect(tags(out)).toEqual(["SocketClose", "Log"])
    expect(out[0]).toEqual({ _tag: "SocketClose", sock: SOCK0 })
    expect(s.flows.bySock.size).toBe(0)
  })

  it("udp: a socket closed by the host forgets the flow; the next datagram opens a new one", () => {
    const [s] = udpHostEvent(withFlow(), ctx(), { _tag: "HostSocketClosed", now: T0, sock: SOCK0 })
    expect(s.flows.bySock.size).toBe(0)
    expect(only(checkedFromGuest(s, { ...ctx(), newSocket: SOCK1 }, udpIn(c.host, 7777))[1], "UdpOpen")[0]!.sock).toBe(SOCK1)
  })
})

describe("udp layer: expiry", () => {
  it(`udp: a flow idle for ${UDP_IDLE_MS / 1000} s is closed by the sweep, not before`, () => {
    const s = withFlow()
    const [s1, out1] = sweepNapt(s, instant(T0 + UDP_IDLE_MS - 1))
    expect(tags(out1)).toEqual(["SetTimer"])
    expect(s1.flows.bySock.size).toBe(1)
    const [s2, out2] = sweepNapt(s1, instant(T0 + UDP_IDLE_MS))
    expect(tags(out2)).toEqual(["SocketClose", "Log"])
    expect(s2.flows.bySock.size).toBe(0)
    expect(s2.flows.sweepArmed).toBe(false)
  })

  it(`udp: a flow that only carried DNS queries expires after ${UDP_DNS_IDLE_MS / 1000} s`, () => {
    const [s1, out1] = sweepNapt(withDnsFlow(), instant(T0 + UDP_DNS_IDLE_MS - 1))
    expect(tags(out1)).toEqual(["SetTimer"])
    const [s2, out2] = sweepNapt(s1, instant(T0 + UDP_DNS_IDLE_MS))
    expect(tags(out2)).toEqual(["SocketClose", "Log"])
    expect(s2.flows.bySock.size).toBe(0)
  })

  it("udp: a DNS flow that also sends elsewhere gets the long expiry", () => {
    let s = withDnsFlow()
    s = udpFromGuest(s, ctx(), udpIn(c.host, 7777, { srcPort: 5353 }))[0]
    const [s2] = sweepNapt(s, instant(T0 + UDP_DNS_IDLE_MS + 1))
    expect(s2.flows.bySock.size).toBe(1)
  })

  it("udp: traffic from either side keeps a flow alive", () => {
    let s = withFlow()
    s = udpHostEvent(s, ctx(instant(T0 + 200_000)), datagram({ address: "127.0.0.1", port: 7777 }, new Uint8Array(1), SOCK0, instant(T0 + 200_000)))[0]
    const [s2] = sweepNapt(s, instant(T0 + UDP_IDLE_MS + 1000))
    expect(s2.flows.bySock.size).toBe(1)
  })

  it("udp: shutdown closes every socket and cancels the sweep", () => {
    let s = withFlow()
    s = udpFromGuest(s, ctx(), udpIn(c.host, 1, { srcPort: 2 }))[0]
    const out = closeNapt(s)
    // Sockets in the table's order, then the sweep's cancellation.
    expect(out.slice(0, 2)).toHaveLength(2)
    expect(out.slice(0, 2)).toEqual(expect.arrayContaining([{ _tag: "SocketClose", sock: SOCK0 }, { _tag: "SocketClose", sock: SOCK1 }]))
    expect(out.slice(2)).toEqual([{ _tag: "CancelTimer", timer: FLOW_SWEEP_TIMER }])
  })
})
