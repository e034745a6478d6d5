import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import type { HostIcmpEchoReply, HostUnreachable } from "../../../src/effects/event.ts"
import { type SocketId, socketId } from "../../../src/effects/ids.ts"
import { type Instant, instant } from "../../../src/effects/instant.ts"
import { intMapValues } from "../../../src/protocol/data/int-map.ts"
import { FLOW_SWEEP_MS, FLOW_SWEEP_TIMER } from "../../../src/protocol/flows/flow-table.ts"
import { type NaptState, closeNapt, emptyNapt, sweepNapt as rawSweepNapt } from "../../../src/protocol/flows/napt.ts"
import {
  ECHO_IDLE_MS,
  ICMP_MAX_FLOWS,
  type IcmpIn,
  icmpFromGuest as rawIcmpFromGuest,
  icmpHostEvent as rawIcmpHostEvent,
} from "../../../src/protocol/icmp/layer.ts"
import { checkedLayer } from "../../support/checked.ts"
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, emitEcho, parseIcmp } from "../../../src/protocol/icmp/wire.ts"
import { parseIpv4Header, writeIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import type { LayerOutput } from "../../../src/protocol/stack/output.ts"
import { get16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"

const c = defaultConfig
const GUEST = ipv4(10, 0, 2, 15)
const FAR = ipv4(10, 0, 3, 5) // outside 10.0.2.0/24: forwarded through the host
const T0 = instant(100_000)
const ctx = (now: Instant = T0) => ({ config: c, now })
const SOCK0 = socketId(1)
const SOCK1 = socketId(2)

// Every call is checked by the referential-transparency harness (test/support/checked.ts).
const icmpHostEvent = checkedLayer(rawIcmpHostEvent)
const sweepNapt = checkedLayer(rawSweepNapt)
const checkedFromGuest = checkedLayer(rawIcmpFromGuest)
/** The stack's allocator, played here: a new flow gets the id after the highest live one. */
const nextFree = (s: NaptState): SocketId => socketId(Math.max(0, ...[...intMapValues(s.flows.bySock)].map((f) => f.sock)) + 1)
const icmpFromGuest = (s: NaptState, k: { config: typeof c; now: Instant }, m: IcmpIn) => checkedFromGuest(s, { ...k, newSocket: nextFree(s) }, m)

/** An echo request from the guest as the IP layer hands it over. */
const echoIn = (dst: number, opts: { ident?: number; seq?: number; data?: Uint8Array; ttl?: number; src?: number } = {}): IcmpIn => {
  const message = emitEcho(ICMP_ECHO_REQUEST, opts.ident ?? 0x2cf9, opts.seq ?? 1, opts.data ?? new Uint8Array([1, 2, 3, 4]))
  const datagram = new Uint8Array(20 + message.length)
  datagram.set(message, 20)
  const ttl = opts.ttl ?? 64
  const src = opts.src ?? GUEST
  writeIpv4Header(datagram, 0, { totalLength: datagram.length, id: 1, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl, protocol: 1, src, dst })
  return { src, dst, ttl, datagram, message: datagram.subarray(20) }
}

/** The captured ping to 10.0.2.2, as the IP layer hands it over. */
const capturedEcho = (): IcmpIn => {
  const f = golden("icmp-echo-request")
  const p = parseIpv4Header(f, 14)
  if (!p.ok) throw new Error(p.reason)
  const ip = p.ip
  return { src: ip.src, dst: ip.dst, ttl: ip.ttl, datagram: f.subarray(14, 14 + ip.totalLength), message: f.subarray(ip.payloadOffset, ip.payloadOffset + ip.payloadLength) }
}

const tags = (out: ReadonlyArray<LayerOutput>) => out.map((o) => o._tag)
const only = <T extends LayerOutput["_tag"]>(out: ReadonlyArray<LayerOutput>, tag: T) =>
  out.filter((o): o is Extract<LayerOutput, { _tag: T }> => o._tag === tag)

/** A state with one forwarded echo flow (guest ident 0x2cf9) on SOCK0. */
const withFlow = (): NaptState => icmpFromGuest(emptyNapt, ctx(), echoIn(FAR))[0]

const reply = (extra: Partial<HostIcmpEchoReply> = {}): HostIcmpEchoReply => ({
  _tag: "HostIcmpEchoReply",
  now: T0,
  sock: SOCK0,
  from: "10.0.3.5",
  sequence: 1,
  payload: new Uint8Array([1, 2, 3, 4]),
  ...extra,
})

describe("icmp layer: local echo", () => {
  it("icmp: echo to the gateway is answered locally, and the reply equals Linux's byte for byte", () => {
    const [s, out] = icmpFromGuest(emptyNapt, ctx(), capturedEcho())
    expect(s).toEqual(emptyNapt)
    const [r] = only(out, "PacketToGuest")
    expect(out).toHaveLength(1)
    expect(r!.src).toBe(c.host)
    expect(r!.dst).toBe(GUEST)
    expect(r!.protocol).toBe(1)
    expect(r!.checksumOffset).toBe(-1)
    const linux = golden("icmp-echo-reply")
    expect(toHex(r!.header)).toBe(toHex(linux.subarray(34)))
  })

  it("icmp: echo to the DNS address is answered locally from the DNS address", () => {
    const [, out] = icmpFromGuest(emptyNapt, ctx(), echoIn(c.dns, { ident: 5, seq: 6 }))
    const [r] = only(out, "PacketToGuest")
    expect(r!.src).toBe(c.dns)
    const p = parseIcmp(r!.header)
    expect(p.ok && [p.icmp.type, p.icmp.ident, p.icmp.sequence]).toEqual([ICMP_ECHO_REPLY, 5, 6])
  })

  it("icmp: a local echo with TTL 1 is still answered (the gateway is the first hop)", () => {
    const [, out] = icmpFromGuest(emptyNapt, ctx(), echoIn(c.host, { ttl: 1 }))
    expect(tags(out)).toEqual(["PacketToGuest"])
  })

  it("icmp: a message with a bad checksum is dropped with a debug log", () => {
    const m = echoIn(c.host)
    m.message[5]! ^= 0xff
    const [s, out] = icmpFromGuest(emptyNapt, ctx(), m)
    expect(s).toEqual(emptyNapt)
    expect(tags(out)).toEqual(["Log"])
  })

  it("icmp: types other than echo request from the guest are ignored (echo reply, timestamp, errors)", () => {
    for (const type of [ICMP_ECHO_REPLY, 3, 11, 13]) {
      const m = emitEcho(type, 1, 1, new Uint8Array(4))
      const [, out] = icmpFromGuest(emptyNapt, ctx(), { src: GUEST, dst: c.host, ttl: 64, datagram: new Uint8Array(20 + m.length), message: m })
      expect(tags(out), `type ${type}`).toEqual(["Log"])
    }
  })

  it("icmp: echo to other addresses of the virtual network, loopback, multicast or broadcast is dropped", () => {
    for (const dst of [ipv4(10, 0, 2, 77), ipv4(10, 0, 2, 255), ipv4(127, 0, 0, 1), ipv4(224, 0, 0, 1), 0xffffffff, 0]) {
      const [s, out] = icmpFromGuest(emptyNapt, ctx(), echoIn(dst))
      expect(tags(out), `dst ${dst.toString(16)}`).toEqual(["Log"])
      expect(s.flows.bySock.size).toBe(0)
    }
  })
})

describe("icmp layer: forwarding through host ping sockets", () => {
  it("icmp: first echo to an external address opens a ping socket, sends with TTL-1 and arms the sweep", () => {
    const [s, out] = icmpFromGuest(emptyNapt, ctx(), echoIn(FAR, { ttl: 64, seq: 7, data: new Uint8Array([9, 8, 7]) }))
    expect(out).toEqual([
      { _tag: "IcmpOpen", sock: SOCK0, family: 4 },
      { _tag: "IcmpEchoSend", sock: SOCK0, to: "10.0.3.5", sequence: 7, payload: new Uint8Array([9, 8, 7]), ttl: 63 },
      { _tag: "SetTimer", timer: FLOW_SWEEP_TIMER, at: T0 + FLOW_SWEEP_MS },
    ])
    expect(s.flows.bySock.size).toBe(1)
  })

  it("icmp: the echo payload sent to the host is a view of the guest's message, not a copy (the stack owns the guest's frame)", () => {
    const m = echoIn(FAR, { data: new Uint8Array([1, 2, 3]) })
    const [, out] = icmpFromGuest(emptyNapt, ctx(), m)
    const payload = only(out, "IcmpEchoSend")[0]!.payload
    expect([...payload]).toEqual([1, 2, 3])
    expect(payload.buffer).toBe(m.message.buffer)
    expect(payload.byteOffset).toBe(m.message.byteOffset + 8)
  })

  it("icmp: more echoes of the same (guest, identifier) reuse the socket: no open, no second timer", () => {
    const [s2, out] = icmpFromGuest(withFlow(), ctx(instant(T0 + 1000)), echoIn(FAR, { seq: 2 }))
    expect(tags(out)).toEqual(["IcmpEchoSend"])
    expect(only(out, "IcmpEchoSend")[0]!.sock).toBe(SOCK0)
    expect(s2.flows.bySock.size).toBe(1)
  })

  it("icmp: a different identifier gets its own socket (next id), the sweep stays armed once", () => {
    const [s2, out] = icmpFromGuest(withFlow(), ctx(), echoIn(ipv4(192, 0, 2, 1), { ident: 0x1111 }))
    expect(tags(out)).toEqual(["IcmpOpen", "IcmpEchoSend"])
    expect(only(out, "IcmpOpen")[0]!.sock).toBe(SOCK1)
    expect(s2.flows.bySock.size).toBe(2)
  })

  it("icmp: TTL 1 to an external address gets time exceeded from the gateway, quoting the datagram", () => {
    // The captured ping -t 1 10.0.3.5 that Linux answered with time exceeded.
    const te = golden("icmp-time-exceeded")
    const quoted = te.subarray(42)
    const p = parseIpv4Header(quoted, 0)
    if (!p.ok) throw new Error(p.reason)
    const m: IcmpIn = { src: p.ip.src, dst: p.ip.dst, ttl: p.ip.ttl, datagram: quoted, message: quoted.subarray(20) }
    const [s, out] = icmpFromGuest(emptyNapt, ctx(), m)
    expect(s.flows.bySock.size).toBe(0)
    expect(out).toEqual([{ _tag: "ErrorToGuest", family: 4, src: c.host, reason: "ttl-exceeded", original: quoted }])
  })

  it(`icmp: at most ${ICMP_MAX_FLOWS} echo flows; one more is dropped with a log`, () => {
    let s = emptyNapt
    for (let i = 0; i < ICMP_MAX_FLOWS; i++) s = icmpFromGuest(s, ctx(), echoIn(FAR, { ident: i }))[0]
    const [s2, out] = icmpFromGuest(s, ctx(), echoIn(FAR, { ident: 9999 }))
    expect(s2).toBe(s)
    expect(tags(out)).toEqual(["Log"])
    // Existing flows still work.
    expect(tags(icmpFromGuest(s, ctx(), echoIn(FAR, { ident: 3 }))[1])).toEqual(["IcmpEchoSend"])
  })

  it("icmp: a host echo reply goes to the guest with its own identifier, the sequence, payload and TTL", () => {
    const [, out] = icmpHostEvent(withFlow(), ctx(), reply({ sequence: 7, payload: new Uint8Array([5, 6]), ttl: 55 }))
    const [r] = only(out, "PacketToGuest")
    expect(r!.src).toBe(FAR)
    expect(r!.dst).toBe(GUEST)
    expect(r!.ttl).toBe(55)
    const p = parseIcmp(r!.header)
    if (!p.ok) throw new Error(p.reason)
    expect([p.icmp.type, p.icmp.ident, p.icmp.sequence]).toEqual([ICMP_ECHO_REPLY, 0x2cf9, 7])
    expect([...p.icmp.body]).toEqual([5, 6])
  })

  it("icmp: a reply from the host's loopback appears to come from the gateway", () => {
    const [, out] = icmpHostEvent(withFlow(), ctx(), reply({ from: "127.0.0.1" }))
    expect(only(out, "PacketToGuest")[0]!.src).toBe(c.host)
  })

  it("icmp: a reply from an address the guest cannot see (IPv6) is dropped with a log", () => {
    const [, out] = icmpHostEvent(withFlow(), ctx(), reply({ from: "2001:db8::1" }))
    expect(tags(out)).toEqual(["Log"])
  })

  it("icmp: events for a socket the layer does not know are ignored", () => {
    const s = withFlow()
    const [s2, out] = icmpHostEvent(s, ctx(), reply({ sock: socketId(77) }))
    expect(s2).toBe(s)
    expect(out).toEqual([])
  })

  it("icmp: host unreachable for an echo becomes destination unreachable quoting an echo with the guest's identifier", () => {
    const ev: HostUnreachable = { _tag: "HostUnreachable", now: T0, sock: SOCK0, to: { family: 4, address: "10.0.3.5", port: 0 }, reason: "host", from: "192.0.2.254" }
    const [, out] = icmpHostEvent(withFlow(), ctx(), ev)
    const [e] = only(out, "ErrorToGuest")
    expect(e!.reason).toBe("host")
    expect(e!.src).toBe(ipv4(192, 0, 2, 254))
    const q = parseIpv4Header(e!.original, 0)
    if (!q.ok) throw new Error(q.reason)
    expect(q.ip.src).toBe(GUEST)
    expect(q.ip.dst).toBe(FAR)
    expect(q.ip.protocol).toBe(1)
    expect(e!.original[20]).toBe(ICMP_ECHO_REQUEST)
    expect(get16(e!.original, 24)).toBe(0x2cf9)
  })

  it("icmp: host unreachable quotes the sequence number of the guest's echo, so its ping reports the right icmp_seq", () => {
    // The guest's ping (iputils) prints "From 10.0.2.2 icmp_seq=N Destination Host Unreachable"
    // with N read from the quoted echo header; Linux's ping sockets match the error by the
    // quoted identifier and report the quoted sequence. The event carries no sequence, so the
    // flow has to remember the last one it sent.
    let s = withFlow() // sequence 1
    s = icmpFromGuest(s, ctx(), echoIn(FAR, { seq: 42 }))[0]
    const ev: HostUnreachable = { _tag: "HostUnreachable", now: T0, sock: SOCK0, to: { family: 4, address: "10.0.3.5", port: 0 }, reason: "host" }
    const [e] = only(icmpHostEvent(s, ctx(), ev)[1], "ErrorToGuest")
    expect(get16(e!.original, 24)).toBe(0x2cf9)
    expect(get16(e!.original, 26)).toBe(42)
  })

  it("icmp: TTL exceeded reported by the host maps to time exceeded from the reporting router (traceroute)", () => {
    const ev: HostUnreachable = { _tag: "HostUnreachable", now: T0, sock: SOCK0, to: { family: 4, address: "10.0.3.5", port: 0 }, reason: "ttl-exceeded", from: "198.51.100.1" }
    const [e] = only(icmpHostEvent(withFlow(), ctx(), ev)[1], "ErrorToGuest")
    expect([e!.reason, e!.src]).toEqual(["ttl-exceeded", ipv4(198, 51, 100, 1)])
  })

  it("icmp: without a reporting router the error comes from the destination", () => {
    const ev: HostUnreachable = { _tag: "HostUnreachable", now: T0, sock: SOCK0, to: { family: 4, address: "10.0.3.5", port: 0 }, reason: "net" }
    const [e] = only(icmpHostEvent(withFlow(), ctx(), ev)[1], "ErrorToGuest")
    expect([e!.reason, e!.src]).toEqual(["net", FAR])
  })

  it("icmp: a host that forbids ping sockets (EACCES) logs one warning, then external echoes are dropped", () => {
    const [s1, out1] = icmpHostEvent(withFlow(), ctx(), { _tag: "HostSocketError", now: T0, sock: SOCK0, code: "EACCES" })
    expect(out1).toHaveLength(1)
    expect(out1[0]!._tag === "Log" && out1[0]!.level).toBe("warn")
    expect(s1.pingForbidden).toBe(true)
    expect(s1.flows.bySock.size).toBe(0)
    const [, out2] = icmpFromGuest(s1, ctx(), echoIn(FAR, { ident: 2 }))
    expect(tags(out2)).toEqual(["Log"])
    expect(out2[0]!._tag === "Log" && out2[0]!.level).toBe("debug")
    // Local echoes still work.
    expect(tags(icmpFromGuest(s1, ctx(), echoIn(c.host))[1])).toEqual(["PacketToGuest"])
  })

  it("icmp: the forbidden warning is logged once, not per socket", () => {
    let s = emptyNapt
    s = icmpFromGuest(s, ctx(), echoIn(FAR, { ident: 1 }))[0]
    s = icmpFromGuest(s, ctx(), echoIn(FAR, { ident: 2 }))[0]
    const [s1, out1] = icmpHostEvent(s, ctx(), { _tag: "HostSocketError", now: T0, sock: SOCK0, code: "EPERM" })
    const [, out2] = icmpHostEvent(s1, ctx(), { _tag: "HostSocketError", now: T0, sock: SOCK1, code: "ENOADDON" })
    expect(tags(out1)).toEqual(["Log"])
    expect(out2).toEqual([])
  })

  it("icmp: another socket error closes that flow's socket with a debug log", () => {
    const [s, out] = icmpHostEvent(withFlow(), ctx(), { _tag: "HostSocketError", now: T0, sock: SOCK0, code: "ENETUNREACH" })
    expect(out[0]).toEqual({ _tag: "SocketClose", sock: SOCK0 })
    expect(tags(out)).toEqual(["SocketClose", "Log"])
    expect(s.flows.bySock.size).toBe(0)
    expect(s.pingForbidden).toBe(false)
  })

  it("icmp: socket closed by the host forgets the flow; the next echo opens a new socket", () => {
    const [s] = icmpHostEvent(withFlow(), ctx(), { _tag: "HostSocketClosed", now: T0, sock: SOCK0 })
    expect(s.flows.bySock.size).toBe(0)
    const [, out] = checkedFromGuest(s, { ...ctx(), newSocket: SOCK1 }, echoIn(FAR))
    expect(only(out, "IcmpOpen")[0]!.sock).toBe(SOCK1)
  })
})

describe("icmp layer: expiry", () => {
  it(`icmp: the sweep closes flows idle for ${ECHO_IDLE_MS / 1000} s and re-arms while flows remain`, () => {
    let s = withFlow() // active at T0
    s = icmpFromGuest(s, ctx(instant(T0 + 30_000)), echoIn(FAR, { ident: 2 }))[0] // active at T0+30 s
    const [s1, out1] = sweepNapt(s, instant(T0 + ECHO_IDLE_MS - 1))
    expect(tags(out1)).toEqual(["SetTimer"])
    const [s2, out2] = sweepNapt(s1, instant(T0 + ECHO_IDLE_MS))
    expect(out2).toEqual([
      { _tag: "SocketClose", sock: SOCK0 },
      { _tag: "Log", level: "debug", message: "icmp: echo flow 10.0.2.15 id 11513 expired", flow: { protocol: "icmp", guest: "10.0.2.15 id 11513" } },
      { _tag: "SetTimer", timer: FLOW_SWEEP_TIMER, at: T0 + ECHO_IDLE_MS + FLOW_SWEEP_MS },
    ])
    expect(s2.flows.bySock.size).toBe(1)
    const [s3, out3] = sweepNapt(s2, instant(T0 + 30_000 + ECHO_IDLE_MS))
    expect(tags(out3)).toEqual(["SocketClose", "Log"])
    expect(s3.flows.sweepArmed).toBe(false)
  })

  it("icmp: traffic keeps a flow alive (a reply counts as activity)", () => {
    let s = withFlow()
    s = icmpHostEvent(s, ctx(instant(T0 + 50_000)), reply({ now: instant(T0 + 50_000) }))[0]
    const [s2, out] = sweepNapt(s, instant(T0 + ECHO_IDLE_MS + 5_000))
    expect(tags(out)).toEqual(["SetTimer"])
    expect(s2.flows.bySock.size).toBe(1)
  })

  it("icmp: after the sweep disarms, a new flow arms it again", () => {
    const [s1] = sweepNapt(withFlow(), instant(T0 + ECHO_IDLE_MS))
    const [, out] = icmpFromGuest(s1, ctx(instant(T0 + 100_000)), echoIn(FAR))
    expect(tags(out)).toEqual(["IcmpOpen", "IcmpEchoSend", "SetTimer"])
  })

  it("icmp: shutdown closes every echo socket and cancels the sweep", () => {
    let s = withFlow()
    s = icmpFromGuest(s, ctx(), echoIn(FAR, { ident: 2 }))[0]
    const out = closeNapt(s)
    expect(out.slice(0, 2)).toHaveLength(2)
    expect(out.slice(0, 2)).toEqual(expect.arrayContaining([{ _tag: "SocketClose", sock: SOCK0 }, { _tag: "SocketClose", sock: SOCK1 }]))
    expect(out.slice(2)).toEqual([{ _tag: "CancelTimer", timer: FLOW_SWEEP_TIMER }])
  })
})
