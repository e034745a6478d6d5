/**
 * `dnsUpstream: "none"` on the mocked host: the DNS address answers nothing, as a dead server
 * would (UDP queries dropped without an ICMP error; DNS over TCP refused), while every other
 * destination is untouched.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { makeMockHost } from "../../../src/runtime/mock/mock-host.ts"
import { stackConfig } from "../../../src/runtime/config/network.ts"
import { DNS, GUEST, GW_MAC, HOST, decode, ether, ipv4Packet, udpFrame } from "../../integration/stack/frames.ts"
import { TCP_RST, TCP_SYN, parseTcp, tcpSegment } from "../../integration/e1000-stack/packets.ts"

const query = new Uint8Array([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x78, 4, 0x74, 0x65, 0x73, 0x74, 0, 0, 1, 0, 1])

describe('dnsUpstream "none"', () => {
  it.effect("a UDP query to the DNS address goes nowhere and gets no answer, no ICMP error", () =>
    Effect.gen(function* () {
      const host = yield* makeMockHost()
      // Even a resolver answering at the default upstream (127.0.0.1:53) is never asked.
      host.dnsResponder("127.0.0.1", 53, { "x.test": "192.0.2.99" })
      const guest = host.attach(stackConfig({ dnsUpstream: "none" }))
      yield* guest.send(udpFrame(GUEST, DNS, 41000, 53, query))
      yield* host.advance(10_000)
      expect(host.udpSent).toEqual([])
      expect(guest.take()).toEqual([])
    }),
  )

  it.effect("other UDP traffic still flows", () =>
    Effect.gen(function* () {
      const host = yield* makeMockHost()
      host.udpEcho("127.0.0.1", 7777)
      const guest = host.attach(stackConfig({ dnsUpstream: "none" }))
      yield* guest.send(udpFrame(GUEST, HOST, 41000, 7777, query))
      yield* host.advance(10)
      expect(host.udpSent.map((d) => d.to.port)).toEqual([7777])
      expect(guest.take().map((f) => decode(f).ip?.src)).toEqual([HOST])
    }),
  )

  it.effect("with an upstream given as text, the same query is forwarded and answered (the contrast)", () =>
    Effect.gen(function* () {
      const host = yield* makeMockHost({ latencyMs: 2 })
      host.dnsResponder("127.0.0.1", 5353, { "x.test": "192.0.2.99" })
      const guest = host.attach(stackConfig({ dnsUpstream: "127.0.0.1:5353" }))
      yield* guest.send(udpFrame(GUEST, DNS, 41000, 53, query))
      yield* host.advance(10)
      expect(host.udpSent.map((d) => d.to.port)).toEqual([5353])
      expect(guest.take()).toHaveLength(1)
    }),
  )

  it.effect("DNS over TCP to the DNS address is refused: the guest's SYN gets a RST", () =>
    Effect.gen(function* () {
      const host = yield* makeMockHost()
      // Something listening at the default upstream would accept, if it were ever asked.
      host.tcpListener({ address: "127.0.0.1", port: 53 }, () => undefined)
      const guest = host.attach(stackConfig({ dnsUpstream: "none" }))
      const syn = tcpSegment(GUEST, DNS, { sport: 40000, dport: 53, seq: 1000, ack: 0, flags: TCP_SYN, window: 65535, mss: 1460, data: new Uint8Array(0) })
      yield* guest.send(ether(GW_MAC, 0x0800, ipv4Packet(GUEST, DNS, 6, syn)))
      yield* host.advance(1000)
      expect(host.tcpPeers).toEqual([])
      const replies = guest.take().map((f) => decode(f).ip!).filter((ip) => ip.protocol === 6)
      expect(replies.length).toBeGreaterThan(0)
      const seg = parseTcp(DNS, GUEST, replies[0]!.payload)
      expect(seg !== undefined && (seg.flags & TCP_RST) !== 0).toBe(true)
    }),
  )
})
