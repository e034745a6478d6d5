/**
 * TCP over IPv6 through the whole stack on the mocked host (the real interpreter, a TestClock),
 * every reduction checked by the referential-transparency harness: the gateway fec0::2 (and
 * fe80::2) is the host's ::1, other global addresses go out through IPv6 host sockets, the rest
 * of the prefix is refused with RST, a refused host connect is answered RST. The guest here is
 * a few raw segments (frames6.ts), decoded independently of src/.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { afterEach, describe, expect } from "vitest"
import type { StackMachine } from "../../../src/runtime/host/session.ts"
import { makeMockHost, type MockHostOptions } from "../../../src/runtime/mock/mock-host.ts"
import { bytes } from "../stack/frames.ts"
import { GUEST6, GUEST6_LL, HOST6, HOST6_LL, type Decoded6, a6, decode6, tcp6Frame, tcpFields } from "../stack/frames6.ts"
import { checkedMachine } from "../../support/checked.ts"

const checked = checkedMachine()
const createMockHost = (o: MockHostOptions = {}) => makeMockHost({ machine: checked.machine as StackMachine<unknown>, ...o })
afterEach(() => expect(checked.failures.splice(0)).toEqual([]))

const SYN = 0x02
const ACK = 0x10
const FIN = 0x01
const RST = 0x04
const PSH = 0x08
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const tcpOf = (frames: ReadonlyArray<Uint8Array>): Array<Decoded6 & { readonly tcp: ReturnType<typeof tcpFields> }> =>
  frames.map(decode6).filter((d) => d.nh === 6).map((d) => ({ ...d, tcp: tcpFields(d.payload) }))

describe("mocked host: TCP over IPv6", () => {
  it.effect("[fec0::2]:80 is the host's [::1]:80: handshake (MSS 1440), data both ways, FIN both ways; every checksum good", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost({ latencyMs: 1 })
      host.tcpListener({ address: "::1", port: 80 }, (peer) => {
        peer.onData = (d) => peer.write(new TextEncoder().encode(text(d).toUpperCase()))
        peer.onEnd = () => peer.end()
      })
      const guest = host.attach()
      const t = { sport: 40000, dport: 80 }
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 100, flags: SYN, mss: 1460 }))
      yield* host.advance(5)
      const [synAck] = tcpOf(guest.take())
      expect([synAck!.src, synAck!.dst, synAck!.tcp.flags, synAck!.tcp.ack, synAck!.tcp.mss, synAck!.checksumOk]).toEqual(["fec0::2", "fec0::5054:ff:fe12:3456", SYN | ACK, 101, 1440, true])
      expect(host.tcpPeers.map((p) => [p.to.family, p.to.address, p.to.port])).toEqual([[6, "::1", 80]])
      const ours = synAck!.tcp.seq + 1
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 101, ack: ours, flags: ACK }))
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 101, ack: ours, flags: ACK | PSH }, bytes("hello over six")))
      yield* host.advance(100)
      const got = tcpOf(guest.take())
      const data = got.filter((d) => d.tcp.data.length > 0)
      expect(data.map((d) => [text(d.tcp.data), d.tcp.seq, d.checksumOk])).toEqual([["HELLO OVER SIX", ours, true]])
      expect(text(host.tcpPeers[0]!.received())).toBe("hello over six")
      // The guest acknowledges and closes; the host closes too.
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 115, ack: ours + 14, flags: ACK | FIN }))
      yield* host.advance(100)
      const end = tcpOf(guest.take())
      expect(end.some((d) => (d.tcp.flags & FIN) !== 0 && d.tcp.ack === 116)).toBe(true)
      expect(host.tcpPeers[0]!.eof).toBe(true)
      expect(end.every((d) => d.checksumOk && (d.tcp.flags & RST) === 0)).toBe(true)
    }),
  )

  it.effect("the link-local gateway fe80::2 is the host's ::1 too, answered from fe80::2", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.tcpListener({ address: "::1", port: 22 }, () => {})
      const guest = host.attach()
      yield* guest.send(tcp6Frame(GUEST6_LL, HOST6_LL, { sport: 40001, dport: 22, seq: 1, flags: SYN }))
      yield* host.advance(5)
      const [synAck] = tcpOf(guest.take())
      expect([synAck!.src, synAck!.dst, synAck!.tcp.flags]).toEqual(["fe80::2", "fe80::5054:ff:fe12:3456", SYN | ACK])
      expect(host.tcpPeers.map((p) => p.to.address)).toEqual(["::1"])
    }),
  )

  it.effect("a global address outside the prefix goes out through an IPv6 host socket; refused there -> RST|ACK", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach()
      yield* guest.send(tcp6Frame(GUEST6, a6("2001:db8::1"), { sport: 40002, dport: 443, seq: 7, flags: SYN }))
      yield* host.advance(5)
      const connects = guest.effects.filter((e) => e._tag === "TcpConnect")
      expect(connects.map((e) => e._tag === "TcpConnect" && e.to)).toEqual([{ family: 6, address: "2001:db8::1", port: 443 }])
      const [rst] = tcpOf(guest.take())
      expect([rst!.src, rst!.tcp.flags, rst!.tcp.ack, rst!.checksumOk]).toEqual(["2001:db8::1", RST | ACK, 8, true])
    }),
  )

  it.effect("another address of the prefix (nobody there) -> RST|ACK at once, no host socket", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach()
      yield* guest.send(tcp6Frame(GUEST6, a6("fec0::5"), { sport: 40003, dport: 80, seq: 9, flags: SYN }))
      const [rst] = tcpOf(guest.take())
      expect([rst!.src, rst!.tcp.flags, rst!.tcp.ack]).toEqual(["fec0::5", RST | ACK, 10])
      expect(guest.effects.filter((e) => e._tag === "TcpConnect")).toEqual([])
    }),
  )

  it.effect("with IPv6 off a TCP segment over IPv6 gets nothing", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach({ ipv6: false })
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { sport: 40004, dport: 80, seq: 1, flags: SYN }))
      yield* host.advance(5)
      expect(guest.take()).toEqual([])
    }),
  )
})
