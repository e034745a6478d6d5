/**
 * The ICMPv6 layer's echo rules: local answers, forwarding through the echo NAPT both families
 * share (icmp/layer.ts), replies and host errors back as ICMPv6, and the ping-socket fallback
 * per family. Every call goes through the referential-transparency harness.
 */
import { describe, expect, it } from "vitest"
import type { HostIcmpEchoReply, HostUnreachable } from "../../../src/effects/event.ts"
import { type SocketId, socketId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { intMapValues } from "../../../src/protocol/data/int-map.ts"
import { type NaptState, emptyNapt } from "../../../src/protocol/flows/napt.ts"
import { icmpFromGuest as rawIcmpFromGuest, icmpHostEvent as rawIcmpHostEvent } from "../../../src/protocol/icmp/layer.ts"
import { ICMP_ECHO_REQUEST, emitEcho } from "../../../src/protocol/icmp/wire.ts"
import { type Icmpv6In, icmpv6FromGuest as rawIcmpv6FromGuest } from "../../../src/protocol/icmpv6/layer.ts"
import { ICMPV6_ECHO_REQUEST, emitEcho6, parseIcmpv6 } from "../../../src/protocol/icmpv6/wire.ts"
import { writeIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import type { LayerOutput } from "../../../src/protocol/stack/output.ts"
import { get16 } from "../../../src/protocol/wire/bytes.ts"
import { formatIp } from "../../../src/protocol/wire/ip-address.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { checkedLayer } from "../../support/checked.ts"

const c = defaultConfig
const a6 = (t: string) => parseIpv6(t)!
const GUEST6 = a6("fec0::5054:ff:fe12:3456")
const GUEST6_LL = a6("fe80::5054:ff:fe12:3456")
const FAR6 = a6("2001:db8::1")
const T0 = instant(100_000)

const checkedV6 = checkedLayer(rawIcmpv6FromGuest)
const checkedV4 = checkedLayer(rawIcmpFromGuest)
const icmpHostEvent = checkedLayer(rawIcmpHostEvent)
const nextFree = (s: NaptState): SocketId => socketId(Math.max(0, ...[...intMapValues(s.flows.bySock)].map((f) => f.sock)) + 1)
const fromGuest = (s: NaptState, m: Icmpv6In) => checkedV6(s, { config: c, now: T0, newSocket: nextFree(s) }, m)
const ctx = { config: c, now: T0 }

/** An echo request of the guest's, as the stack hands it to the layer (a view into one datagram). */
const echoIn = (dst: Uint8Array, o: { ident?: number; seq?: number; hopLimit?: number; src?: Uint8Array; type?: number } = {}): Icmpv6In => {
  const src = o.src ?? GUEST6
  const msg = emitEcho6(o.type ?? ICMPV6_ECHO_REQUEST, o.ident ?? 0x1234, o.seq ?? 7, new TextEncoder().encode("six"), src, dst)
  const datagram = new Uint8Array(40 + msg.length)
  datagram[0] = 0x60
  datagram[5] = msg.length
  datagram[6] = 58
  datagram[7] = o.hopLimit ?? 64
  datagram.set(src, 8)
  datagram.set(dst, 24)
  datagram.set(msg, 40)
  const p = parseIcmpv6(datagram.subarray(40), datagram, 8, datagram, 24)
  if (!p.ok) throw new Error(p.reason)
  return { src: datagram.subarray(8, 24), dst: datagram.subarray(24, 40), hopLimit: o.hopLimit ?? 64, datagram, icmp: p.icmp }
}

const tags = (out: ReadonlyArray<LayerOutput>) => out.map((o) => o._tag)

describe("ICMPv6 echo from the guest", () => {
  it("echo to fec0::2 is answered locally (no socket)", () => {
    const [s, out] = fromGuest(emptyNapt, echoIn(a6("fec0::2")))
    expect(s).toBe(emptyNapt)
    const p = out[0]!
    expect(p._tag === "PacketToGuest" && [p.family, formatIp(p.src), p.header[0]]).toEqual([6, "fec0::2", 129])
  })

  it("first echo to an outside address opens an IPv6 ping socket, sends with hop limit - 1, arms the sweep", () => {
    const [s, out] = fromGuest(emptyNapt, echoIn(FAR6))
    expect(tags(out)).toEqual(["IcmpOpen", "IcmpEchoSend", "SetTimer"])
    expect(out[0]).toMatchObject({ _tag: "IcmpOpen", family: 6 })
    expect(out[1]).toMatchObject({ _tag: "IcmpEchoSend", to: "2001:db8::1", sequence: 7, ttl: 63 })
    const flow = [...intMapValues(s.flows.bySock)][0]!
    // The flow keeps its own copy of the guest's address, not a view of the frame.
    expect([formatIp(flow.guest), (flow.guest as Uint8Array).buffer.byteLength]).toEqual(["fec0::5054:ff:fe12:3456", 16])
  })

  it("more echoes of the same (guest, identifier) reuse the socket; a new identifier opens another", () => {
    const [s1, out1] = fromGuest(emptyNapt, echoIn(FAR6))
    const sock = out1[0]!._tag === "IcmpOpen" ? out1[0]!.sock : undefined
    const [s2, out2] = fromGuest(s1, echoIn(FAR6, { seq: 8 }))
    expect(tags(out2)).toEqual(["IcmpEchoSend"])
    expect(out2[0]).toMatchObject({ sock, sequence: 8 })
    const [, out3] = fromGuest(s2, echoIn(FAR6, { ident: 0x999 }))
    expect(tags(out3)).toEqual(["IcmpOpen", "IcmpEchoSend"])
  })

  it("an IPv4 and an IPv6 echo with the same identifier are separate flows", () => {
    const [s1] = fromGuest(emptyNapt, echoIn(FAR6))
    const message = emitEcho(ICMP_ECHO_REQUEST, 0x1234, 7, Uint8Array.of(1))
    const datagram = new Uint8Array(20 + message.length)
    datagram.set(message, 20)
    writeIpv4Header(datagram, 0, { totalLength: datagram.length, id: 1, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: 64, protocol: 1, src: ipv4(10, 0, 2, 15), dst: ipv4(192, 0, 2, 1) })
    const [, out] = checkedV4(s1, { config: c, now: T0, newSocket: nextFree(s1) }, { src: ipv4(10, 0, 2, 15), dst: ipv4(192, 0, 2, 1), ttl: 64, datagram, message: datagram.subarray(20) })
    expect(out[0]).toMatchObject({ _tag: "IcmpOpen", family: 4 })
  })

  it("hop limit 1 to an outside address gets time exceeded from the gateway of the guest's scope", () => {
    const [, out] = fromGuest(emptyNapt, echoIn(FAR6, { hopLimit: 1 }))
    expect(out).toMatchObject([{ _tag: "ErrorToGuest", family: 6, reason: "ttl-exceeded" }])
    expect(out[0]!._tag === "ErrorToGuest" && formatIp(out[0]!.src)).toBe("fec0::2")
    const [, ll] = fromGuest(emptyNapt, echoIn(FAR6, { hopLimit: 1, src: GUEST6_LL }))
    expect(ll[0]!._tag === "ErrorToGuest" && formatIp(ll[0]!.src)).toBe("fe80::2")
  })

  it("echo to the rest of the prefix, multicast, loopback or link-local is dropped with a debug line", () => {
    for (const dst of ["fec0::99", "ff02::1", "::1", "fe80::1234"]) {
      const [s, out] = fromGuest(emptyNapt, echoIn(a6(dst)))
      expect(s).toBe(emptyNapt)
      expect(out).toEqual([
        { _tag: "Log", level: "debug", message: `icmpv6: echo to ${dst} dropped (nobody there)`, flow: { protocol: "icmp", guest: "fec0::5054:ff:fe12:3456 id 4660", host: dst } },
      ])
    }
  })

  it("other types from the guest are ignored with a debug line", () => {
    const [, out] = fromGuest(emptyNapt, echoIn(FAR6, { type: 129 }))
    expect(out).toEqual([{ _tag: "Log", level: "debug", message: "icmpv6: type 129 from the guest ignored" }])
  })
})

describe("ICMPv6 echo: the host's answers", () => {
  const opened = (): readonly [NaptState, SocketId] => {
    const [s, out] = fromGuest(emptyNapt, echoIn(FAR6))
    return [s, out[0]!._tag === "IcmpOpen" ? out[0]!.sock : socketId(0)]
  }

  it("a reply goes to the guest as an echo reply (type 129) with its identifier, sequence, data and hop limit", () => {
    const [s, sock] = opened()
    const ev: HostIcmpEchoReply = { _tag: "HostIcmpEchoReply", now: T0, sock, from: "2001:db8::1", sequence: 7, payload: new TextEncoder().encode("six"), ttl: 55 }
    const [, out] = icmpHostEvent(s, ctx, ev)
    const p = out[0]!
    if (p._tag !== "PacketToGuest" || p.family !== 6) throw new Error("no IPv6 packet")
    expect([formatIp(p.src), formatIp(p.dst), p.header[0], get16(p.header, 4), get16(p.header, 6), p.ttl]).toEqual(["2001:db8::1", "fec0::5054:ff:fe12:3456", 129, 0x1234, 7, 55])
    // Sealed over the IPv6 pseudo header: it verifies.
    const d = new Uint8Array(40 + p.header.length)
    d.set(p.src, 8)
    d.set(p.dst, 24)
    d.set(p.header, 40)
    expect(parseIcmpv6(d.subarray(40), d, 8, d, 24).ok).toBe(true)
  })

  it("a reply from the host's ::1 appears to come from the gateway; one from an IPv4 address is dropped", () => {
    const [s, sock] = opened()
    const [, out] = icmpHostEvent(s, ctx, { _tag: "HostIcmpEchoReply", now: T0, sock, from: "::1", sequence: 7, payload: new Uint8Array(0) })
    expect(out[0]!._tag === "PacketToGuest" && formatIp(out[0]!.src)).toBe("fec0::2")
    const [, none] = icmpHostEvent(s, ctx, { _tag: "HostIcmpEchoReply", now: T0, sock, from: "192.0.2.1", sequence: 7, payload: new Uint8Array(0) })
    expect(none).toEqual([
      { _tag: "Log", level: "debug", message: "icmp: reply from 192.0.2.1 has no IPv6 address for the guest", flow: { protocol: "icmp", guest: "fec0::5054:ff:fe12:3456 id 4660" } },
    ])
  })

  it("the host's unreachable, time exceeded and packet too big become ICMPv6 errors quoting an echo request (128) with the guest's identifier and sequence", () => {
    const [s, sock] = opened()
    for (const [reason, from, mtu] of [["host", undefined, undefined], ["ttl-exceeded", "2001:db8:ff::1", undefined], ["fragmentation-needed", undefined, 1400]] as const) {
      const ev: HostUnreachable = {
        _tag: "HostUnreachable",
        now: T0,
        sock,
        to: { family: 6, address: "2001:db8::1", port: 0 },
        reason,
        ...(from === undefined ? {} : { from }),
        ...(mtu === undefined ? {} : { mtu }),
      }
      const [, out] = icmpHostEvent(s, ctx, ev)
      const e = out[0]!
      if (e._tag !== "ErrorToGuest") throw new Error("no error")
      expect([e.family, e.reason, formatIp(e.src), e.mtu]).toEqual([6, reason, from ?? "2001:db8::1", mtu])
      // The quote: IPv6 header (next header 58, guest -> destination) and the echo's first 8 bytes.
      expect([e.original[0]! >> 4, e.original[6], formatIp(e.original.subarray(8, 24)), formatIp(e.original.subarray(24, 40))]).toEqual([6, 58, "fec0::5054:ff:fe12:3456", "2001:db8::1"])
      expect([e.original[40], get16(e.original, 44), get16(e.original, 46)]).toEqual([128, 0x1234, 7])
    }
  })

  it("a host without IPv6 ping sockets (EAFNOSUPPORT): one warning, later IPv6 echoes dropped, IPv4 echoes still forwarded", () => {
    const [s, sock] = opened()
    const [s1, out] = icmpHostEvent(s, ctx, { _tag: "HostSocketError", now: T0, sock, code: "EAFNOSUPPORT" })
    expect(out).toMatchObject([{ _tag: "Log", level: "warn" }])
    expect([s1.ping6Forbidden, s1.pingForbidden]).toEqual([true, false])
    const [, again] = fromGuest(s1, echoIn(FAR6, { ident: 5 }))
    expect(again).toEqual([
      { _tag: "Log", level: "debug", message: "icmp: echo to 2001:db8::1 dropped: the host forbids IPv6 ping sockets", flow: { protocol: "icmp", guest: "fec0::5054:ff:fe12:3456 id 5", host: "2001:db8::1" } },
    ])
    const message = emitEcho(ICMP_ECHO_REQUEST, 1, 1, Uint8Array.of(1))
    const datagram = new Uint8Array(20 + message.length)
    datagram.set(message, 20)
    writeIpv4Header(datagram, 0, { totalLength: datagram.length, id: 1, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: 64, protocol: 1, src: ipv4(10, 0, 2, 15), dst: ipv4(192, 0, 2, 1) })
    const [, v4] = checkedV4(s1, { config: c, now: T0, newSocket: nextFree(s1) }, { src: ipv4(10, 0, 2, 15), dst: ipv4(192, 0, 2, 1), ttl: 64, datagram, message: datagram.subarray(20) })
    expect(tags(v4).slice(0, 2)).toEqual(["IcmpOpen", "IcmpEchoSend"])
  })
})
