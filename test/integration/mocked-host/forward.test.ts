/**
 * Forwarding on the mocked host, the whole stack through the referential-transparency harness:
 * hostfwd (TCP and UDP, the address the guest sees, a refused guest port, one binder per host
 * port, removal, expiry of UDP peers), guestfwd (ARP for the virtual server, IP, unix and
 * command targets), restricted mode, a disabled host loopback. A TestClock (it.effect) moves the time.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { afterEach, describe, expect } from "vitest"
import type { StackEvent } from "../../../src/effects/event.ts"
import { instant } from "../../../src/effects/instant.ts"
import { BOOTREQUEST, DHCPDISCOVER, OPT, emitDhcp, optU8, parseDhcp } from "../../../src/protocol/dhcp/wire.ts"
import { ACK, FIN, RST, SYN } from "../../../src/protocol/tcp/wire.ts"
import { get16 } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC } from "../../../src/protocol/wire/mac.ts"
import { openSession, type StackMachine } from "../../../src/runtime/host/session.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { Forwarder } from "../../../src/runtime/forward/forwarder.ts"
import { makeMockHost, type MockGuest, type MockHost } from "../../../src/runtime/mock/mock-host.ts"
import { checkedMachine } from "../../support/checked.ts"
import { GUEST, GUEST_MAC, HOST, arp, bytes, decode, ether, ipv4Packet, pingFrame, udpFrame, udpSegment } from "../stack/frames.ts"
import { segments, tcpFrame } from "../stack/tcp-frames.ts"

const checked = checkedMachine()
const createMockHost = () => makeMockHost({ machine: checked.machine as StackMachine<unknown> })
afterEach(() => expect(checked.failures.splice(0)).toEqual([]))

const T0 = instant(0)
const SERVER = ipv4(10, 0, 2, 100)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

const hostFwd = (id: number, proto: "tcp" | "udp", port: number, guestPort: number, address = ""): StackEvent => ({
  _tag: "HostFwdAdd",
  now: T0,
  id,
  proto,
  bind: { family: 4, address, port },
  guest: undefined,
  guestPort,
})

/** A guest whose MAC the stack knows (it pinged the gateway). */
const knownGuest = (g: MockGuest): Effect.Effect<MockGuest> =>
  Effect.gen(function* () {
    yield* g.send(pingFrame(HOST, 1, 1, bytes("hi")))
    g.take()
    return g
  })

describe("hostfwd tcp", () => {
  it.effect("a loopback client reaches the guest's port from the gateway; data flows both ways, then FIN", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest(host.attach())
      yield* guest.input(hostFwd(1, "tcp", 8080, 80))
      expect(guest.logs.some((l) => l.message.includes("hostfwd tcp:0.0.0.0:8080 -> :80: listening"))).toBe(true)
      const client = host.connectClient({ family: 4, address: "", port: 8080 }, { family: 4, address: "127.0.0.1", port: 51000 })
      yield* host.settle
      const [syn] = segments(guest.take())
      expect([syn!.src, syn!.dst, syn!.tcp.srcPort, syn!.tcp.dstPort, syn!.tcp.flags]).toEqual([HOST, GUEST, 51000, 80, SYN])
      yield* guest.send(tcpFrame(GUEST, HOST, 80, 51000, 1000, syn!.tcp.seq + 1, SYN | ACK))
      const [ack] = segments(guest.take())
      expect(ack!.tcp.flags & (SYN | ACK | RST)).toBe(ACK)
      client.write(bytes("hello guest"))
      yield* host.settle
      const [data] = segments(guest.take())
      expect(text(data!.payload)).toBe("hello guest")
      yield* guest.send(tcpFrame(GUEST, HOST, 80, 51000, 1001, data!.tcp.seq + data!.payload.length, ACK, bytes("hello host")))
      yield* host.advance(100)
      expect(text(client.received())).toBe("hello host")
      client.end()
      yield* host.settle
      expect(segments(guest.take()).some((s) => (s.tcp.flags & FIN) !== 0)).toBe(true)
    }),
  )

  it.effect("the guest sees a remote client's real address; an IPv6 client and a unix client come from the gateway", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest(host.attach())
      yield* guest.input(hostFwd(1, "tcp", 2222, 22))
      yield* guest.input({ _tag: "HostFwdAdd", now: T0, id: 2, proto: "tcp", bind: { family: "unix", path: "/tmp/fwd.sock" }, guest: undefined, guestPort: 22 })
      host.connectClient({ family: 4, address: "", port: 2222 }, { family: 4, address: "192.0.2.7", port: 40001 })
      host.connectClient({ family: 4, address: "", port: 2222 }, { family: 6, address: "2001:db8::1", port: 40002 })
      host.connectClient({ family: 4, address: "", port: 2222 }, { family: 6, address: "::ffff:198.51.100.9", port: 40003 })
      host.connectClient({ family: "unix", path: "/tmp/fwd.sock" })
      yield* host.settle
      const syns = segments(guest.take())
      expect(syns.map((s) => [s.src, s.tcp.dstPort])).toEqual([
        [ipv4(192, 0, 2, 7), 22],
        [HOST, 22],
        [ipv4(198, 51, 100, 9), 22],
        [HOST, 22],
      ])
      expect(syns.slice(0, 3).map((s) => s.tcp.srcPort)).toEqual([40001, 40002, 40003])
      expect(syns[3]!.tcp.srcPort).toBeGreaterThanOrEqual(49152)
    }),
  )

  it.effect("a closed guest port (RST) resets the host client at once", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest(host.attach())
      yield* guest.input(hostFwd(1, "tcp", 8080, 81))
      const client = host.connectClient({ family: 4, address: "", port: 8080 })
      yield* host.settle
      const [syn] = segments(guest.take())
      yield* guest.send(tcpFrame(GUEST, HOST, 81, syn!.tcp.srcPort, 0, syn!.tcp.seq + 1, RST | ACK))
      expect([client.wasReset, client.closed]).toEqual([true, true])
      expect(guest.logs.some((l) => l.message.includes("guest refused the connection"))).toBe(true)
    }),
  )

  it.effect("a port is bound once: a second guest's rule for it fails with a warning, the first keeps it", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const first = yield* knownGuest(host.attach())
      const second = host.attach({ seed: 2 })
      yield* first.input(hostFwd(1, "tcp", 8080, 80))
      yield* second.input(hostFwd(1, "tcp", 8080, 80))
      expect(second.logs.filter((l) => l.level === "warn").map((l) => l.message)).toEqual([
        "hostfwd tcp:0.0.0.0:8080 -> :80: cannot listen: EADDRINUSE; rule dropped",
      ])
      host.connectClient({ family: 4, address: "", port: 8080 })
      yield* host.settle
      expect(segments(first.take())).toHaveLength(1)
      expect(second.take()).toEqual([])
    }),
  )

  it.effect("a removed rule closes its listener: later clients are refused, the forwarded connection stays", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest(host.attach())
      yield* guest.input(hostFwd(7, "tcp", 8080, 80))
      const early = host.connectClient({ family: 4, address: "", port: 8080 })
      yield* host.settle
      const [syn] = segments(guest.take())
      yield* guest.send(tcpFrame(GUEST, HOST, 80, syn!.tcp.srcPort, 5000, syn!.tcp.seq + 1, SYN | ACK))
      guest.take()
      yield* guest.input({ _tag: "HostFwdRemove", now: T0, id: 7 })
      const late = host.connectClient({ family: 4, address: "", port: 8080 })
      expect(late.wasReset).toBe(true)
      yield* guest.send(tcpFrame(GUEST, HOST, 80, syn!.tcp.srcPort, 5001, syn!.tcp.seq + 1, ACK, bytes("still here")))
      yield* host.advance(100)
      expect([text(early.received()), early.closed]).toEqual(["still here", false])
    }),
  )

  it.effect("on host ports without listeners the rule fails with a warning (EOPNOTSUPP), nothing else", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const logs: Array<string> = []
      const deps = host.deps({ enabled: () => true, log: (level, m) => void logs.push(`${level} ${m}`) })
      const session = openSession(defaultConfig, { ...deps, tcp: (r) => ({ ...deps.tcp(r), listen: undefined }) }, () => undefined)
      session.input(hostFwd(1, "tcp", 8080, 80))
      yield* host.settle
      expect(logs.filter((l) => l.startsWith("warn"))).toEqual(["warn hostfwd tcp:0.0.0.0:8080 -> :80: cannot listen: EOPNOTSUPP; rule dropped"])
      session.shutdown()
    }),
  )
})

describe("hostfwd udp", () => {
  it.effect("a host peer's datagrams reach the guest port; the guest's answers go back to that peer; idle peers expire", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest(host.attach())
      yield* guest.input(hostFwd(1, "udp", 5353, 53))
      const peer = { family: 4 as const, address: "127.0.0.1", port: 41000 }
      expect(host.sendToListener({ family: 4, address: "", port: 5353 }, peer, bytes("query"))).toBe(true)
      yield* host.settle
      const [d] = guest.take().map(decode)
      expect([d!.ip!.src, d!.ip!.dst, get16(d!.ip!.payload, 0), get16(d!.ip!.payload, 2), text(d!.ip!.payload.subarray(8))]).toEqual([HOST, GUEST, 41000, 53, "query"])
      yield* guest.send(udpFrame(GUEST, HOST, 53, 41000, bytes("answer")))
      expect(host.listenerReplies.map((r) => [r.to.address, r.to.port, text(r.data)])).toEqual([["127.0.0.1", 41000, "answer"]])
      expect(host.udpSent).toEqual([])
      // 240 s without traffic: the mapping is gone, the same datagram is ordinary NAPT traffic.
      yield* host.advance(250_000)
      yield* guest.send(udpFrame(GUEST, HOST, 53, 41000, bytes("late")))
      expect(host.listenerReplies).toHaveLength(1)
      expect(host.udpSent.map((s) => [s.to.address, s.to.port])).toEqual([["127.0.0.1", 41000]])
    }),
  )

  it.effect("two peers the guest would see as one pair get distinct ports", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest(host.attach())
      yield* guest.input(hostFwd(1, "udp", 5353, 53))
      host.sendToListener({ family: 4, address: "", port: 5353 }, { family: 4, address: "127.0.0.1", port: 41000 }, bytes("a"))
      host.sendToListener({ family: 4, address: "", port: 5353 }, { family: 6, address: "::1", port: 41000 }, bytes("b"))
      yield* host.settle
      const ports = guest.take().map((f) => get16(decode(f).ip!.payload, 0))
      expect(ports[0]).toBe(41000)
      expect(ports[1]).not.toBe(41000)
      yield* guest.send(udpFrame(GUEST, HOST, 53, ports[1]!, bytes("to b")))
      expect(host.listenerReplies.map((r) => [r.to.address, text(r.data)])).toEqual([["::1", "to b"]])
    }),
  )
})

const guestFwd = (id: number, port: number, target: Extract<StackEvent, { _tag: "GuestFwdAdd" }>["target"]): StackEvent => ({
  _tag: "GuestFwdAdd",
  now: T0,
  id,
  server: SERVER,
  port,
  target,
})

describe("guestfwd", () => {
  it.effect("the virtual server answers ARP; a connection to it reaches the IP, unix or command target", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const seen: Array<string> = []
      host.tcpListener({ address: "127.0.0.1", port: 9000 }, (p) => void seen.push(`ip ${p.to.port}`))
      host.tcpListener({ address: "unix:/tmp/svc.sock", port: 0 }, () => void seen.push("unix"))
      host.tcpListener({ address: "cmd:cat", port: 0 }, (p) => {
        seen.push("cmd")
        p.onData = (d) => p.write(d)
      })
      const guest = yield* knownGuest(host.attach())
      yield* guest.send(ether(BROADCAST_MAC, 0x0806, arp(1, GUEST_MAC, GUEST, new Uint8Array(6), SERVER)))
      expect(guest.take()).toEqual([]) // nobody there yet
      yield* guest.input(guestFwd(1, 80, { family: 4, address: "127.0.0.1", port: 9000 }))
      yield* guest.input(guestFwd(2, 81, { family: "unix", path: "/tmp/svc.sock" }))
      yield* guest.input(guestFwd(3, 82, { family: "cmd", command: "cat" }))
      yield* guest.send(ether(BROADCAST_MAC, 0x0806, arp(1, GUEST_MAC, GUEST, new Uint8Array(6), SERVER)))
      const reply = guest.take()[0]!
      expect([get16(reply, 12), get16(reply, 20), Array.from(reply.subarray(22, 28))]).toEqual([0x0806, 2, [0x52, 0x55, 10, 0, 2, 100]])
      for (const port of [80, 81, 82]) yield* guest.send(tcpFrame(GUEST, SERVER, 40000 + port, port, 100, 0, SYN))
      expect(seen).toEqual(["ip 9000", "unix", "cmd"])
      const synAcks = segments(guest.take())
      expect(synAcks.map((s) => [s.src, s.tcp.srcPort, s.tcp.flags])).toEqual([
        [SERVER, 80, SYN | ACK],
        [SERVER, 81, SYN | ACK],
        [SERVER, 82, SYN | ACK],
      ])
      // The command's stdout comes back to the guest.
      const cmd = synAcks[2]!
      yield* guest.send(tcpFrame(GUEST, SERVER, 40082, 82, 101, cmd.tcp.seq + 1, ACK, bytes("echo me")))
      yield* host.advance(100)
      expect(segments(guest.take()).map((s) => text(s.payload)).filter((t) => t !== "")).toEqual(["echo me"])
    }),
  )

  it.effect("other ports of the server are refused; a removed rule is gone", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.tcpListener({ address: "127.0.0.1", port: 9000 }, () => undefined)
      const guest = yield* knownGuest(host.attach())
      yield* guest.input(guestFwd(1, 80, { family: 4, address: "127.0.0.1", port: 9000 }))
      yield* guest.send(tcpFrame(GUEST, SERVER, 40001, 81, 100, 0, SYN))
      expect(segments(guest.take()).map((s) => s.tcp.flags)).toEqual([RST | ACK])
      yield* guest.input({ _tag: "GuestFwdRemove", now: T0, id: 1 })
      yield* guest.send(tcpFrame(GUEST, SERVER, 40002, 80, 100, 0, SYN))
      expect(segments(guest.take()).map((s) => s.tcp.flags)).toEqual([RST | ACK])
    }),
  )

  it.effect("a guestfwd server inside the DHCP pool is never leased", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach()
      yield* guest.input({ _tag: "GuestFwdAdd", now: T0, id: 1, server: GUEST, port: 80, target: { family: 4, address: "127.0.0.1", port: 1 } })
      yield* guest.send(dhcpDiscover())
      const offer = parseDhcp(decode(guest.take()[0]!).ip!.payload.subarray(8))
      if (!offer.ok) throw new Error(offer.reason)
      expect(offer.msg.yiaddr).toBe(ipv4(10, 0, 2, 16))
    }),
  )

  it.effect("a rule whose server is the gateway is refused with a warning", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = host.attach()
      yield* guest.input({ _tag: "GuestFwdAdd", now: T0, id: 1, server: HOST, port: 80, target: { family: 4, address: "127.0.0.1", port: 1 } })
      expect(guest.logs.filter((l) => l.level === "warn").map((l) => l.message)).toEqual([
        "guestfwd 10.0.2.2:80: refused: guestfwd 10.0.2.2:80: the server address must differ from the host and dns addresses",
      ])
    }),
  )
})

const dhcpDiscover = () =>
  ether(
    BROADCAST_MAC,
    0x0800,
    ipv4Packet(0, 0xffffffff, 17, udpSegment(0, 0xffffffff, 68, 67, emitDhcp({ op: BOOTREQUEST, xid: 42, chaddr: GUEST_MAC, options: [[OPT.messageType, optU8(DHCPDISCOVER)]] }).bytes)),
  )

describe("restricted mode and host loopback", () => {
  it.effect("--restrict on: TCP, UDP and ping out are blocked, DHCP has no router or DNS, guestfwd and hostfwd still work", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.tcpListener({ address: "127.0.0.1", port: 22 }, () => undefined)
      host.tcpListener({ address: "127.0.0.1", port: 9000 }, () => undefined)
      host.udpEcho("192.0.2.1", 7)
      host.icmpResponder("192.0.2.1")
      const guest = yield* knownGuest(host.attach({ restrict: true }))
      yield* guest.send(tcpFrame(GUEST, HOST, 40000, 22, 1, 0, SYN))
      yield* guest.send(tcpFrame(GUEST, ipv4(192, 0, 2, 1), 40001, 80, 1, 0, SYN))
      expect(segments(guest.take()).map((s) => s.tcp.flags)).toEqual([RST | ACK, RST | ACK])
      yield* guest.send(udpFrame(GUEST, ipv4(192, 0, 2, 1), 40002, 7, bytes("x")))
      yield* guest.send(udpFrame(GUEST, ipv4(10, 0, 2, 3), 40003, 53, bytes("not even dns")))
      yield* guest.send(pingFrame(ipv4(192, 0, 2, 1), 9, 1, bytes("x")))
      yield* host.advance(10)
      expect(host.udpSent).toEqual([])
      expect(host.tcpPeers).toEqual([])
      // The gateway still answers ping: it is on the virtual network.
      guest.take()
      yield* guest.send(pingFrame(HOST, 9, 2, bytes("x")))
      expect(guest.take()).toHaveLength(1)
      yield* guest.send(dhcpDiscover())
      const offer = parseDhcp(decode(guest.take()[0]!).ip!.payload.subarray(8))
      if (!offer.ok) throw new Error(offer.reason)
      expect([offer.msg.yiaddr, offer.msg.opts.routers, offer.msg.opts.dnsServers]).toEqual([GUEST, undefined, undefined])
      yield* guest.input(guestFwd(1, 80, { family: 4, address: "127.0.0.1", port: 9000 }))
      yield* guest.send(tcpFrame(GUEST, SERVER, 40004, 80, 1, 0, SYN))
      expect(host.tcpPeers.map((p) => p.to.port)).toEqual([9000])
      yield* guest.input(hostFwd(2, "tcp", 2200, 22))
      host.connectClient({ family: 4, address: "", port: 2200 })
      yield* host.settle
      expect(segments(guest.take()).map((s) => [s.tcp.dstPort, s.tcp.flags])).toEqual([
        [40004, SYN | ACK],
        [22, SYN],
      ])
    }),
  )

  it.effect("--disable-host-loopback: the gateway reaches nothing on the host; other hosts still do", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.tcpListener({ address: "127.0.0.1", port: 22 }, () => undefined)
      host.tcpListener({ address: "192.0.2.1", port: 80 }, () => undefined)
      const guest = yield* knownGuest(host.attach({ disableHostLoopback: true }))
      yield* guest.send(tcpFrame(GUEST, HOST, 40000, 22, 1, 0, SYN))
      expect(segments(guest.take()).map((s) => s.tcp.flags)).toEqual([RST | ACK])
      yield* guest.send(udpFrame(GUEST, HOST, 40001, 7, bytes("x")))
      expect(host.udpSent).toEqual([])
      yield* guest.send(tcpFrame(GUEST, ipv4(192, 0, 2, 1), 40002, 80, 1, 0, SYN))
      expect(host.tcpPeers.map((p) => p.to.address)).toEqual(["192.0.2.1"])
    }),
  )
})

describe("the Forwarder: rules shared by every guest session", () => {
  const session = (host: MockHost, forwarder: Forwarder, seed: number) =>
    Effect.gen(function* () {
      const frames: Array<Uint8Array> = []
      const logs: Array<string> = []
      const deps = forwarder.wrapDeps(host.deps({ enabled: () => true, log: (l, m) => void logs.push(`${l} ${m}`) }))
      const s = openSession({ ...defaultConfig, seed }, deps, (f) => void frames.push(f.slice()), { machine: checked.machine as StackMachine<unknown> })
      const detach = forwarder.attach(s, deps)
      s.fromGuest(pingFrame(HOST, 1, 1, bytes("hi")))
      yield* host.settle
      frames.length = 0
      return { s, frames, logs, detach }
    })

  it.effect("a rule added with no guest waits for one; with two guests the first binds, the second logs; a later guest gets the rules", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const forwarder = new Forwarder(defaultConfig, () => host.now)
      const early = yield* Effect.promise(() => forwarder.addHostFwd({ proto: "tcp", hostAddr: "", hostPort: 2222, guestAddr: "", guestPort: 22 }))
      expect(early).toEqual({ id: 1, proto: "tcp", hostAddr: "", hostPort: 2222, guestAddr: "10.0.2.15", guestPort: 22 })
      const a = yield* session(host, forwarder, 1)
      const b = yield* session(host, forwarder, 2)
      expect(b.logs.filter((l) => l.startsWith("warn"))).toEqual(["warn hostfwd tcp:0.0.0.0:2222 -> :22: cannot listen: EADDRINUSE; rule dropped"])
      const added = forwarder.addHostFwd({ proto: "udp", hostAddr: "127.0.0.1", hostPort: 5353, guestAddr: "10.0.2.15", guestPort: 53 })
      yield* host.settle
      yield* Effect.promise(() => expect(added).resolves.toMatchObject({ id: 2, proto: "udp", hostPort: 5353 }))
      host.connectClient({ family: 4, address: "", port: 2222 })
      yield* host.settle
      expect([segments(a.frames).length, segments(b.frames).length]).toEqual([1, 0])
      // The first guest goes: the next one takes the ports over.
      a.detach()
      a.s.shutdown()
      yield* host.settle
      const c = yield* session(host, forwarder, 3)
      expect(c.logs.filter((l) => l.startsWith("warn"))).toEqual([])
      host.connectClient({ family: 4, address: "", port: 2222 })
      yield* host.settle
      expect(segments(c.frames).map((x) => x.tcp.dstPort)).toEqual([22])
      expect(forwarder.listConnections().filter((x) => x.proto === "tcp").map((x) => [x.origin, x.state, x.guest.port])).toEqual([["host", "SynSent", 22]])
      host.sendToListener({ family: 4, address: "127.0.0.1", port: 5353 }, { family: 4, address: "127.0.0.1", port: 41000 }, bytes("q"))
      yield* host.settle
      expect(forwarder.listConnections().filter((x) => x.proto === "udp")).toEqual([
        { proto: "udp", origin: "host", guest: { address: "10.0.2.15", port: 53 }, host: { address: "127.0.0.1", port: 41000 }, state: "open", bytesToHost: 0, bytesToGuest: 1 },
      ])
    }),
  )

  it.effect("listConnections counts the payload bytes of UDP and ICMP flows and udp hostfwd peers each way; expired flows leave the listing and a new one counts from zero", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      host.udpEcho("127.0.0.1", 7777)
      host.icmpResponder("192.0.2.1")
      const forwarder = new Forwarder(defaultConfig, () => host.now)
      const a = yield* session(host, forwarder, 1)
      const added = forwarder.addHostFwd({ proto: "udp", hostAddr: "127.0.0.1", hostPort: 5353, guestAddr: "", guestPort: 53 })
      yield* host.settle
      yield* Effect.promise(() => added)
      a.s.fromGuest(udpFrame(GUEST, HOST, 40000, 7777, bytes("twelve bytes")))
      a.s.fromGuest(udpFrame(GUEST, HOST, 40000, 7777, bytes("and 7 more")))
      a.s.fromGuest(pingFrame(ipv4(192, 0, 2, 1), 9, 1, bytes("ping!")))
      host.sendToListener({ family: 4, address: "127.0.0.1", port: 5353 }, { family: 4, address: "127.0.0.1", port: 41000 }, bytes("query"))
      yield* host.settle
      a.s.fromGuest(udpFrame(GUEST, HOST, 53, 41000, bytes("the answer")))
      yield* host.settle
      const flows = () => forwarder.listConnections().filter((c) => c.proto !== "tcp").map((c) => [c.proto, c.origin, c.guest.port, c.bytesToHost, c.bytesToGuest])
      expect(flows()).toEqual([
        ["udp", "host", 53, 10, 5],
        ["icmp", "guest", 9, 5, 5],
        ["udp", "guest", 40000, 22, 22],
      ])
      // The counters agree: two UDP flows (the guest's and the hostfwd peer), one ICMP flow.
      expect(forwarder.guestCounters().map((c) => [c.udpFlows, c.icmpFlows])).toEqual([[2, 1]])
      // Idle flows expire (UDP, ICMP) and their sockets close: nothing of them is listed or kept.
      yield* host.advance(300_000)
      expect(flows()).toEqual([])
      a.s.fromGuest(udpFrame(GUEST, HOST, 40000, 7777, bytes("again")))
      yield* host.settle
      expect(flows()).toEqual([["udp", "guest", 40000, 5, 5]])
    }),
  )

  it.effect("guestCounters (the control socket's get_counters): one report per attached guest, from its current state", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const forwarder = new Forwarder(defaultConfig, () => host.now)
      expect(forwarder.guestCounters()).toEqual([])
      const a = yield* session(host, forwarder, 1)
      const b = yield* session(host, forwarder, 2)
      b.s.fromGuest(pingFrame(HOST, 1, 2, bytes("again")))
      b.s.fromGuest(new Uint8Array(5))
      yield* host.settle
      const [ca, cb] = forwarder.guestCounters()
      // Each session's setup sent one ping (answered); b sent one more and a runt.
      expect([ca!.framesFromGuest, ca!.framesToGuest, cb!.framesFromGuest, cb!.framesToGuest]).toEqual([1, 1, 3, 2])
      expect(Object.values(cb!.drops).reduce((x, y) => x + y, 0)).toBe(1)
      a.detach()
      expect(forwarder.guestCounters()).toHaveLength(1)
    }),
  )

  it.effect("an address every guest fails to bind is refused in one line and the rule is not kept", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const forwarder = new Forwarder(defaultConfig, () => host.now)
      const other = host.attach()
      yield* other.input(hostFwd(9, "tcp", 8080, 80))
      yield* session(host, forwarder, 1)
      const added = forwarder.addHostFwd({ proto: "tcp", hostAddr: "", hostPort: 8080, guestAddr: "", guestPort: 80 })
      // The expectation holds the promise before settle rejects it (settle yields to the scheduler).
      const refused = expect(added).rejects.toThrow("tcp *:8080: address in use")
      yield* host.settle
      yield* Effect.promise(() => refused)
      expect(forwarder.listHostFwd()).toEqual([])
      yield* Effect.promise(() => expect(forwarder.addHostFwd({ proto: "tcp", hostAddr: "localhost", hostPort: 1, guestAddr: "", guestPort: 1 })).rejects.toThrow('host address "localhost" is not an IPv4 address'))
      yield* Effect.promise(() => expect(forwarder.addGuestFwd({ proto: "tcp", serverAddr: "10.0.2.3", serverPort: 80, target: "127.0.0.1:80" })).rejects.toThrow("must differ from the host and dns addresses"))
      yield* Effect.promise(() => expect(forwarder.removeGuestFwd(42)).rejects.toThrow("no guestfwd rule with id 42"))
    }),
  )
})

describe("hostfwd tcp: a guest that never answers", () => {
  it.effect("the host client is reset once the connect bound (75 s) passes, not after every SYN retry", () =>
    Effect.gen(function* () {
      const host = yield* createMockHost()
      const guest = yield* knownGuest(host.attach())
      yield* guest.input(hostFwd(1, "tcp", 8080, 80))
      const client = host.connectClient({ family: 4, address: "", port: 8080 })
      yield* host.advance(74_000)
      expect([client.wasReset, segments(guest.take()).every((s) => s.tcp.flags === SYN)]).toEqual([false, true])
      yield* host.advance(1_000)
      expect(client.wasReset).toBe(true)
      expect(segments(guest.take()).map((s) => s.tcp.flags & RST)).toEqual([RST])
      expect(guest.logs.some((l) => l.message.includes("no answer from the guest within 75000 ms"))).toBe(true)
    }),
  )
})
