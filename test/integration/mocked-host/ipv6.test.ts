/**
 * IPv6 through the whole stack on the mocked host runtime (src/runtime/mock): the same
 * interpreter as the Node runtime, scripted remote hosts, a TestClock (it.effect). Router advertisement,
 * echo to the gateway, UDP to the host's ::1, DNS forwarding, the host's errors as ICMPv6,
 * and IPv4-only / IPv6-only stacks.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { afterEach, describe, expect } from "vitest"
import { parseNdp } from "../../../src/protocol/ndp/wire.ts"
import { get16 } from "../../../src/protocol/wire/bytes.ts"
import { formatIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import type { StackMachine } from "../../../src/runtime/host/session.ts"
import { makeMockHost, type MockHostOptions } from "../../../src/runtime/mock/mock-host.ts"
import { GUEST, HOST, arp, bytes, ether, pingFrame } from "../stack/frames.ts"
import { DNS6, GUEST6, GUEST6_LL, HOST6, a6, decode6, icmpv6Frame, sllOption, udp6Frame } from "../stack/frames6.ts"
import { checkedMachine } from "../../support/checked.ts"

const checked = checkedMachine()
const createMockHost = (o: MockHostOptions = {}) => makeMockHost({ machine: checked.machine as StackMachine<unknown>, ...o })
afterEach(() => expect(checked.failures.splice(0)).toEqual([]))

const rs = () => icmpv6Frame(GUEST6_LL, a6("ff02::2"), 133, new Uint8Array([0, 0, 0, 0, ...sllOption()]), 255, new Uint8Array([0x33, 0x33, 0, 0, 0, 2]))

describe("mocked host: IPv6", () => {
  it.effect("an RS gets the RA; ping6 to fec0::2 is answered locally", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach()
      yield* guest.send(rs())
      const [ra] = guest.take()
      const d = decode6(ra!)
      const p = parseNdp(d.payload, d.hopLimit)
      expect(p.ok && p.msg._tag === "RouterAdvertisement" && p.msg.options.prefixes.map((x) => formatIpv6(x.prefix))).toEqual(["fec0::"])
      yield* guest.send(icmpv6Frame(GUEST6, HOST6, 128, new Uint8Array([0, 1, 0, 1, ...bytes("hi")])))
      const echo = decode6(guest.take()[0]!)
      expect([echo.src, echo.payload[0], echo.checksumOk]).toEqual(["fec0::2", 129, true])
    }),
  )

  it.effect("UDP to [fec0::2]:7777 reaches the echo service on the host's ::1 and comes back from fec0::2", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 2 })
      host.udpEcho("::1", 7777)
      const guest = host.attach()
      yield* guest.send(udp6Frame(GUEST6, HOST6, 41000, 7777, bytes("six")))
      expect(host.udpSent.map((s) => [s.from.family, s.to.address, s.to.port])).toEqual([[6, "::1", 7777]])
      yield* host.advance(10)
      const r = decode6(guest.take()[0]!)
      expect([r.src, get16(r.payload, 0), get16(r.payload, 2), new TextDecoder().decode(r.payload.subarray(8)), r.checksumOk]).toEqual(["fec0::2", 7777, 41000, "six", true])
    }),
  )

  it.effect("DNS to fec0::3 reaches the upstream and the answer comes back from fec0::3:53", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 2 })
      host.dnsResponder("127.0.0.1", 5353, { "x.test": "192.0.2.99" })
      const guest = host.attach({ dnsUpstream: { family: 4, address: "127.0.0.1", port: 5353 } })
      const q = new Uint8Array([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x78, 4, 0x74, 0x65, 0x73, 0x74, 0, 0, 1, 0, 1])
      yield* guest.send(udp6Frame(GUEST6, DNS6, 41000, 53, q))
      yield* host.advance(10)
      const r = decode6(guest.take()[0]!)
      expect([r.src, get16(r.payload, 0), get16(r.payload, 2), get16(r.payload, 8)]).toEqual(["fec0::3", 53, 41000, 0xabcd])
    }),
  )

  it.effect("a refused host port becomes ICMPv6 port unreachable", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.refuseUdp("::1", 9)
      const guest = host.attach()
      yield* guest.send(udp6Frame(GUEST6, HOST6, 41000, 9, bytes("x")))
      const r = decode6(guest.take()[0]!)
      expect([r.nh, r.payload[0], r.payload[1], r.checksumOk]).toEqual([58, 1, 4, true])
    }),
  )

  it.effect("ping6 to an outside address goes through the host's ping socket and the reply comes back from it", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 3 })
      host.icmpResponder("2001:db8::1", 52)
      const guest = host.attach()
      yield* guest.send(icmpv6Frame(GUEST6, a6("2001:db8::1"), 128, new Uint8Array([0, 9, 0, 4, ...bytes("far")])))
      yield* host.advance(10)
      const r = decode6(guest.take()[0]!)
      expect([r.src, r.payload[0], get16(r.payload, 4), get16(r.payload, 6), r.hopLimit, new TextDecoder().decode(r.payload.subarray(8)), r.checksumOk]).toEqual(["2001:db8::1", 129, 9, 4, 52, "far", true])
    }),
  )

  it.effect("the host's ICMPv6 errors for an echo reach the guest: host unreachable quoting its echo", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.icmpUnreachable("2001:db8::2", "host")
      const guest = host.attach()
      yield* guest.send(icmpv6Frame(GUEST6, a6("2001:db8::2"), 128, new Uint8Array([0, 9, 0, 5, ...bytes("x")])))
      yield* host.advance(5)
      const r = decode6(guest.take()[0]!)
      // Destination unreachable (1), code 3 (address unreachable), quoting an echo request (128) with seq 5.
      expect([r.src, r.payload[0], r.payload[1], r.payload[8 + 40], get16(r.payload, 8 + 46), r.checksumOk]).toEqual(["2001:db8::2", 1, 3, 128, 5, true])
    }),
  )

  it.effect("IPv6 only (ipv4 off): ARP and IPv4 get no answer, IPv6 works", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach({ ipv4: false })
      yield* guest.send(ether(new Uint8Array(6).fill(0xff), 0x0806, arp(1, new Uint8Array([0x52, 0x54, 0, 0x12, 0x34, 0x56]), GUEST, new Uint8Array(6), HOST)))
      yield* guest.send(pingFrame(HOST, 1, 1, bytes("v4")))
      expect(guest.take()).toEqual([])
      yield* guest.send(rs())
      expect(guest.take()).toHaveLength(1)
    }),
  )

  it.effect("IPv4 only (ipv6 off): RS and ping6 get no answer, IPv4 works", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach({ ipv6: false })
      yield* guest.send(rs())
      yield* guest.send(icmpv6Frame(GUEST6, HOST6, 128, new Uint8Array([0, 1, 0, 1])))
      expect(guest.take()).toEqual([])
      yield* guest.send(pingFrame(HOST, 1, 1, bytes("v4")))
      expect(guest.take()).toHaveLength(1)
    }),
  )
})
