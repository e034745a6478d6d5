/**
 * hostfwd to an IPv6 guest address on the mocked host, the whole stack through the
 * referential-transparency harness: a host client of a rule whose guest address is IPv6 becomes
 * a TCP connection to the guest over IPv6, from the gateway fec0::2 for loopback, IPv4, unix,
 * link-local and in-prefix clients, from its own address for any other IPv6 client; fe80::2 to
 * a link-local guest address; a closed guest port resets the client; with IPv6 off the client
 * is refused; udp rules map each host peer the same way and carry the guest's answers back. Frames are built and decoded by frames6.ts, independently of src/.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { afterEach, describe, expect } from "vitest"
import type { HostBind } from "../../../src/effects/address.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { instant } from "../../../src/effects/instant.ts"
import type { StackMachine } from "../../../src/runtime/host/session.ts"
import { makeMockHost, type MockGuest } from "../../../src/runtime/mock/mock-host.ts"
import { checkedMachine } from "../../support/checked.ts"
import { bytes } from "../stack/frames.ts"
import { GUEST6, GUEST6_LL, HOST6, type Decoded6, a6, decode6, icmpv6Frame, tcp6Frame, tcpFields, udp6Frame } from "../stack/frames6.ts"
import { get16 } from "../../../src/protocol/wire/bytes.ts"

const checked = checkedMachine()
const createMockHost = () => makeMockHost({ machine: checked.machine as StackMachine<unknown> })
afterEach(() => expect(checked.failures.splice(0)).toEqual([]))

const T0 = instant(0)
const SYN = 0x02
const ACK = 0x10
const FIN = 0x01
const RST = 0x04
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const tcpOf = (frames: ReadonlyArray<Uint8Array>): Array<Decoded6 & { readonly tcp: ReturnType<typeof tcpFields> }> =>
  frames.map(decode6).filter((d) => d.nh === 6).map((d) => ({ ...d, tcp: tcpFields(d.payload) }))

const rule = (id: number, bind: HostBind, guest: Uint8Array, guestPort: number): StackEvent => ({ _tag: "HostFwdAdd", now: T0, id, proto: "tcp", bind, guest, guestPort })

/** A guest whose IPv6 neighbour entry the stack has (it pinged fec0::2). */
const knownGuest6 = (g: MockGuest) =>
  Effect.gen(function* () {
    yield* g.send(icmpv6Frame(GUEST6, HOST6, 128, new Uint8Array([0, 1, 0, 1, ...bytes("hi")])))
    g.take()
    return g
  })

describe("hostfwd to an IPv6 guest address", () => {
  it.effect("a client of [::1]:2222 reaches [guest]:22 over IPv6 from fec0::2; data both ways, FIN; every checksum good", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest6(host.attach())
      yield* guest.input(rule(1, { family: 6, address: "::1", port: 2222 }, GUEST6, 22))
      expect(guest.logs.some((l) => l.message === "hostfwd tcp:[::1]:2222 -> [fec0::5054:ff:fe12:3456]:22: listening")).toBe(true)
      const client = host.connectClient({ family: 6, address: "::1", port: 2222 }, { family: 6, address: "::1", port: 51000 })
      yield* host.settle
      const [syn] = tcpOf(guest.take())
      expect([syn!.src, syn!.dst, syn!.tcp.sport, syn!.tcp.dport, syn!.tcp.flags, syn!.checksumOk]).toEqual(["fec0::2", "fec0::5054:ff:fe12:3456", 51000, 22, SYN, true])
      // MSS for IPv6: 1500 - 40 - 20.
      expect(syn!.tcp.mss).toBe(1440)
      const t = { sport: 22, dport: 51000 }
      const ours = syn!.tcp.seq + 1
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 7000, ack: ours, flags: SYN | ACK, mss: 1440 }))
      const [ack] = tcpOf(guest.take())
      expect([ack!.tcp.flags & (SYN | ACK | RST), ack!.tcp.ack]).toEqual([ACK, 7001])
      client.write(bytes("SSH-2.0-client\r\n"))
      yield* host.settle
      const [data] = tcpOf(guest.take())
      expect([text(data!.tcp.data), data!.tcp.seq, data!.checksumOk]).toEqual(["SSH-2.0-client\r\n", ours, true])
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 7001, ack: ours + 16, flags: ACK }, bytes("SSH-2.0-guest\r\n")))
      yield* host.advance(100)
      expect(text(client.received())).toBe("SSH-2.0-guest\r\n")
      client.end()
      yield* host.settle
      const fin = tcpOf(guest.take()).find((d) => (d.tcp.flags & FIN) !== 0)
      expect([fin?.src, fin?.checksumOk]).toEqual(["fec0::2", true])
    }),
  )

  it.effect("who the guest sees: a global IPv6 client as itself; loopback, IPv4, link-local, in-prefix and unix clients as fec0::2", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest6(host.attach())
      const any6: HostBind = { family: 6, address: "", port: 2222 }
      yield* guest.input(rule(1, any6, GUEST6, 22))
      yield* guest.input(rule(2, { family: 4, address: "", port: 2223 }, GUEST6, 22))
      yield* guest.input(rule(3, { family: "unix", path: "/tmp/fwd6.sock" }, GUEST6, 22))
      host.connectClient(any6, { family: 6, address: "2001:db8::7", port: 40001 })
      host.connectClient(any6, { family: 6, address: "::1", port: 40002 })
      host.connectClient(any6, { family: 6, address: "::ffff:192.0.2.9", port: 40003 })
      host.connectClient(any6, { family: 6, address: "fe80::1", port: 40004 })
      host.connectClient(any6, { family: 6, address: "fec0::99", port: 40005 })
      host.connectClient({ family: 4, address: "", port: 2223 }, { family: 4, address: "192.0.2.10", port: 40006 })
      host.connectClient({ family: "unix", path: "/tmp/fwd6.sock" })
      yield* host.settle
      const syns = tcpOf(guest.take())
      expect(syns.map((s) => [s.src, s.dst, s.tcp.dport])).toEqual([
        ["2001:db8::7", "fec0::5054:ff:fe12:3456", 22],
        ["fec0::2", "fec0::5054:ff:fe12:3456", 22],
        ["fec0::2", "fec0::5054:ff:fe12:3456", 22],
        ["fec0::2", "fec0::5054:ff:fe12:3456", 22],
        ["fec0::2", "fec0::5054:ff:fe12:3456", 22],
        ["fec0::2", "fec0::5054:ff:fe12:3456", 22],
        ["fec0::2", "fec0::5054:ff:fe12:3456", 22],
      ])
      expect(syns.slice(0, 6).map((s) => s.tcp.sport)).toEqual([40001, 40002, 40003, 40004, 40005, 40006])
      expect(syns[6]!.tcp.sport).toBeGreaterThanOrEqual(49152)
      expect(syns.every((s) => s.checksumOk)).toBe(true)
    }),
  )

  it.effect("a link-local guest address is reached from fe80::2", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach()
      yield* guest.send(icmpv6Frame(GUEST6_LL, HOST6, 128, new Uint8Array([0, 1, 0, 1])))
      guest.take()
      yield* guest.input(rule(1, { family: 6, address: "::1", port: 2222 }, GUEST6_LL, 22))
      host.connectClient({ family: 6, address: "::1", port: 2222 }, { family: 6, address: "::1", port: 51001 })
      yield* host.settle
      const [syn] = tcpOf(guest.take())
      expect([syn!.src, syn!.dst, syn!.tcp.flags, syn!.checksumOk]).toEqual(["fe80::2", "fe80::5054:ff:fe12:3456", SYN, true])
    }),
  )

  it.effect("a closed guest port (RST) resets the host client at once", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest6(host.attach())
      yield* guest.input(rule(1, { family: 6, address: "::1", port: 2222 }, GUEST6, 23))
      const client = host.connectClient({ family: 6, address: "::1", port: 2222 }, { family: 6, address: "::1", port: 51002 })
      yield* host.settle
      const [syn] = tcpOf(guest.take())
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { sport: 23, dport: 51002, seq: 0, ack: syn!.tcp.seq + 1, flags: RST | ACK }))
      expect([client.wasReset, client.closed]).toEqual([true, true])
    }),
  )

  it.effect("with IPv6 off a client of an IPv6 rule is refused (reset), and the guest sees nothing", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach({ ipv6: false })
      yield* guest.input(rule(1, { family: 4, address: "127.0.0.1", port: 2222 }, GUEST6, 22))
      const client = host.connectClient({ family: 4, address: "127.0.0.1", port: 2222 })
      yield* host.settle
      expect(client.wasReset).toBe(true)
      expect(guest.take()).toEqual([])
      expect(guest.logs.some((l) => l.message === "hostfwd: client refused: ipv6 is off (the rule's guest address is IPv6)")).toBe(true)
    }),
  )

  it.effect("udp: a host peer's datagrams reach [guest]:53 over IPv6 (loopback from fec0::2, a global peer as itself); the guest's answers go back to each", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest6(host.attach())
      const bind = { family: 6 as const, address: "::1", port: 5353 }
      yield* guest.input({ _tag: "HostFwdAdd", now: T0, id: 1, proto: "udp", bind, guest: GUEST6, guestPort: 53 })
      host.sendToListener(bind, { family: 6, address: "::1", port: 41000 }, bytes("query one"))
      host.sendToListener(bind, { family: 6, address: "2001:db8::9", port: 41001 }, bytes("query two"))
      yield* host.settle
      const got = guest.take().map(decode6).filter((d) => d.nh === 17)
      const udp = (d: Decoded6) => [d.src, d.dst, get16(d.payload, 0), get16(d.payload, 2), text(d.payload.subarray(8)), d.checksumOk]
      expect(got.map(udp)).toEqual([
        ["fec0::2", "fec0::5054:ff:fe12:3456", 41000, 53, "query one", true],
        ["2001:db8::9", "fec0::5054:ff:fe12:3456", 41001, 53, "query two", true],
      ])
      yield* guest.send(udp6Frame(GUEST6, HOST6, 53, 41000, bytes("answer one")))
      yield* guest.send(udp6Frame(GUEST6, a6("2001:db8::9"), 53, 41001, bytes("answer two")))
      expect(host.listenerReplies.map((r) => [r.to.address, r.to.port, text(r.data)])).toEqual([
        ["::1", 41000, "answer one"],
        ["2001:db8::9", 41001, "answer two"],
      ])
      // Nothing went out through the NAPT path as ordinary UDP.
      expect(host.udpSent).toEqual([])
    }),
  )
})
