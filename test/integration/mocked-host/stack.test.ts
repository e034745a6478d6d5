/**
 * The whole stack on the mocked host runtime (src/runtime/mock): the same interpreter as the
 * Node runtime, with scripted remote hosts and a TestClock (it.effect). DHCP, ARP, ping (local and
 * forwarded), DNS forwarding, UDP NAPT with expiry and host errors, reassembly limits.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { afterEach, describe, expect } from "vitest"
import { BOOTREQUEST, DHCPACK, DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, OPT, emitDhcp, optIpv4, optU8, parseDhcp } from "../../../src/protocol/dhcp/wire.ts"
import { get16 } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC } from "../../../src/protocol/wire/mac.ts"
import type { StackMachine } from "../../../src/runtime/host/session.ts"
import { makeMockHost, type MockHostOptions } from "../../../src/runtime/mock/mock-host.ts"
import { DNS, GUEST, GUEST_MAC, GW_MAC, HOST, bytes, decode, ether, ipv4Packet, pingFrame, udpFrame, udpSegment } from "../stack/frames.ts"
import { checkedMachine } from "../../support/checked.ts"
import { TCP_SYN, tcpSegment } from "../e1000-stack/packets.ts"

// The real stack runs through the referential-transparency harness (test/support/checked.ts).
const checked = checkedMachine()
const createMockHost = (o: MockHostOptions = {}) => makeMockHost({ machine: checked.machine as StackMachine<unknown>, ...o })
afterEach(() => expect(checked.failures.splice(0)).toEqual([]))

const dhcp = (type: number, extra: ReadonlyArray<readonly [number, Uint8Array]> = []) =>
  ether(
    BROADCAST_MAC,
    0x0800,
    ipv4Packet(0, 0xffffffff, 17, udpSegment(0, 0xffffffff, 68, 67, emitDhcp({ op: BOOTREQUEST, xid: 42, chaddr: GUEST_MAC, options: [[OPT.messageType, optU8(type)], ...extra] }).bytes)),
  )

const dhcpReply = (f: Uint8Array) => {
  const p = parseDhcp(decode(f).ip!.payload.subarray(8))
  if (!p.ok) throw new Error(p.reason)
  return p.msg
}

describe("mocked host: the whole stack", () => {
  it.effect("DHCP: DISCOVER, OFFER, REQUEST, ACK with router, DNS and mask", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach()
      yield* guest.send(dhcp(DHCPDISCOVER))
      const offer = dhcpReply(guest.take()[0]!)
      expect([offer.opts.messageType, offer.yiaddr]).toEqual([DHCPOFFER, GUEST])
      yield* guest.send(dhcp(DHCPREQUEST, [[50, optIpv4(GUEST)], [54, optIpv4(HOST)]]))
      const ack = dhcpReply(guest.take()[0]!)
      expect([ack.opts.messageType, ack.yiaddr, ack.opts.routers, ack.opts.dnsServers, ack.opts.subnetMask]).toEqual([
        DHCPACK,
        GUEST,
        [HOST],
        [DNS],
        ipv4(255, 255, 255, 0),
      ])
    }),
  )

  it.effect("ping: the gateway answers locally; an external host answers through the host's ping socket", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 3 })
      host.icmpResponder("192.0.2.5", 55)
      const guest = host.attach()
      yield* guest.send(pingFrame(HOST, 7, 1, bytes("local")))
      expect(decode(guest.take()[0]!).ip!.src).toBe(HOST)
      yield* guest.send(pingFrame(ipv4(192, 0, 2, 5), 7, 2, bytes("remote")))
      expect(guest.take()).toEqual([]) // the reply needs 3 ms of TestClock time
      yield* host.advance(3)
      const r = decode(guest.take()[0]!)
      expect([r.ip!.src, r.ip!.ttl, get16(r.ip!.payload, 4), get16(r.ip!.payload, 6)]).toEqual([ipv4(192, 0, 2, 5), 55, 7, 2])
    }),
  )

  it.effect("ping: a host that forbids ping sockets drops forwarded echoes with one warning", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.denyPing("EACCES")
      const guest = host.attach()
      for (let i = 0; i < 3; i++) yield* guest.send(pingFrame(ipv4(192, 0, 2, 5), 7, i, bytes("x")))
      expect(guest.take()).toEqual([])
      expect(guest.logs.filter((l) => l.level === "warn" && l.message.includes("icmp"))).toHaveLength(1)
    }),
  )

  it.effect("DNS: a query to 10.0.2.3 reaches the upstream and the answer comes back from 10.0.2.3:53", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 2 })
      host.dnsResponder("127.0.0.1", 5353, { "x.test": "192.0.2.99" })
      const guest = host.attach({ dnsUpstream: { family: 4, address: "127.0.0.1", port: 5353 } })
      const q = new Uint8Array([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x78, 4, 0x74, 0x65, 0x73, 0x74, 0, 0, 1, 0, 1])
      yield* guest.send(udpFrame(GUEST, DNS, 41000, 53, q))
      expect(host.udpSent.map((d) => [d.to.port, d.data.length])).toEqual([[5353, q.length]])
      yield* host.advance(10)
      const r = decode(guest.take()[0]!)
      expect([r.ip!.src, get16(r.ip!.payload, 0), get16(r.ip!.payload, 2), get16(r.ip!.payload, 8)]).toEqual([DNS, 53, 41000, 0xabcd])
    }),
  )

  it.effect("UDP: a refused host port becomes ICMP port unreachable; idle flows close after 4 minutes", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.refuseUdp("127.0.0.1", 9)
      const guest = host.attach()
      yield* guest.send(udpFrame(GUEST, HOST, 41000, 9, bytes("x")))
      const r = decode(guest.take()[0]!)
      expect([r.ip!.protocol, r.ip!.payload[0], r.ip!.payload[1]]).toEqual([1, 3, 3])
      const closesBefore = guest.effects.filter((e) => e._tag === "SocketClose").length
      yield* host.advance(250_000)
      expect(guest.effects.filter((e) => e._tag === "SocketClose").length).toBe(closesBefore + 1)
    }),
  )

  it.effect("logs about a flow carry it: a UDP flow's expiry, a TCP connection the host refused", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.udpEcho("127.0.0.1", 7777)
      const guest = host.attach()
      yield* guest.send(udpFrame(GUEST, HOST, 41000, 7777, bytes("x")))
      const syn = tcpSegment(GUEST, HOST, { sport: 40000, dport: 80, seq: 1000, ack: 0, flags: TCP_SYN, window: 65535, mss: 1460, data: new Uint8Array(0) })
      yield* guest.send(ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 6, syn)))
      yield* host.advance(250_000)
      expect(guest.logs.filter((l) => l.flow !== undefined)).toEqual([
        {
          level: "info",
          message: "tcp 10.0.2.15:40000<->10.0.2.2:80 sock 2 SynReceived: reset: host connect failed (ECONNREFUSED)",
          flow: { protocol: "tcp", guest: "10.0.2.15:40000", host: "10.0.2.2:80" },
        },
        { level: "debug", message: "udp: flow 10.0.2.15:41000 expired", flow: { protocol: "udp", guest: "10.0.2.15:41000" } },
      ])
    }),
  )

  it.effect("reassembly: a fragmented datagram is forwarded once complete; a lone fragment is released after 30 s", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.udpEcho("127.0.0.1", 7777)
      const guest = host.attach()
      const data = new Uint8Array(2000).map((_, i) => i & 0xff)
      const seg = udpSegment(GUEST, HOST, 41000, 7777, data)
      yield* guest.send(ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 17, seg.subarray(1480), { id: 9, fragOffset: 1480 })))
      yield* guest.send(ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 17, seg.subarray(0, 1480), { id: 9, mf: true })))
      expect(host.udpSent.map((d) => d.data.length)).toEqual([2000])
      guest.take()
      yield* guest.send(ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 17, seg.subarray(0, 1480), { id: 10, mf: true })))
      yield* host.advance(31_000)
      expect(guest.logs.some((l) => l.message.includes("incomplete after 30 s"))).toBe(true)
      expect(host.udpSent).toHaveLength(1)
    }),
  )
})
