/**
 * TCP over IPv6 through the one TCP layer (the same reducer as IPv4's): the checksum over the
 * IPv6 pseudo header, MSS = MTU - 60, connections keyed by 16-byte addresses, segments and
 * errors of family 6, refusals as RST or ICMPv6. Every call goes through the
 * referential-transparency harness (fixtures.ts).
 */
import { describe, expect, it } from "vitest"
import { tcpConnections } from "../../../src/protocol/tcp/layer.ts"
import { headerOverhead, mssForMtu } from "../../../src/protocol/tcp/tcb.ts"
import { ACK, RST, SYN, assembleSegment, emitTcpHeader, parseTcp, tcpChecksum } from "../../../src/protocol/tcp/wire.ts"
import { formatIp } from "../../../src/protocol/wire/ip-address.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { golden6 } from "../../golden/ipv6/golden6.ts"
import { FULL, GPORT, GUEST6, GUEST_ISS, HOST_EP6, REMOTE6, Rig, RPORT, bytes, effects, established, icmps, only, segs, synArrived, synReceived } from "./fixtures.ts"

const v6 = (mtu = 1500): Rig => new Rig({}, mtu, 7, 6)

describe("TCP wire over IPv6 (RFC 8200 §8.1 pseudo header)", () => {
  // Linux's SYN to fec0::2:8080 (test/golden/ipv6/capture.sh step 7): Ethernet 14 + IPv6 40.
  const syn = golden6("tcp6-syn")
  const seg = syn.subarray(54)
  const src = syn.subarray(22, 38)
  const dst = syn.subarray(38, 54)

  it("Linux's captured SYN verifies over the IPv6 pseudo header and parses (MSS 1440 = MTU 1500 - 60)", () => {
    const p = parseTcp(seg, src, dst)
    expect(p.ok).toBe(true)
    if (!p.ok) return
    expect([p.tcp.dstPort, p.tcp.flags, p.tcp.mss, p.tcp.sackPermitted, p.tcp.hasTimestamp, p.tcp.wscale >= 0]).toEqual([8080, SYN, 1440, true, true, true])
  })

  it("the same bytes fail over another pseudo header (one flipped address bit, or IPv4's)", () => {
    const other = dst.slice()
    other[15]! ^= 1
    expect(parseTcp(seg, src, other)).toMatchObject({ ok: false, reason: "tcp: bad checksum" })
    expect(parseTcp(seg, ipv4(10, 0, 2, 15), ipv4(10, 0, 2, 2))).toMatchObject({ ok: false, reason: "tcp: bad checksum" })
  })

  it("assembleSegment over IPv6 reproduces Linux's checksum byte for byte", () => {
    const zeroed = seg.slice()
    zeroed[16] = 0
    zeroed[17] = 0
    const header = zeroed.subarray(0, (zeroed[12]! >> 4) * 4)
    expect(Buffer.from(assembleSegment(header, zeroed.subarray(header.length), src, dst)).toString("hex")).toBe(Buffer.from(seg).toString("hex"))
    expect(tcpChecksum(seg, src, dst)).toBe(0)
  })

  it("the data segment with 'hello tslirp\\n' verifies too", () => {
    const data = golden6("tcp6-data")
    const p = parseTcp(data.subarray(54), data.subarray(22, 38), data.subarray(38, 54))
    expect(p.ok && new TextDecoder().decode(data.subarray(54 + p.tcp.headerLength))).toBe("hello tslirp\n")
  })
})

describe("TCP layer over IPv6", () => {
  it("MSS for a link MTU: MTU - 40 over IPv4, MTU - 60 over IPv6 (and the header overhead each way)", () => {
    expect([mssForMtu(1500, ipv4(10, 0, 2, 15)), mssForMtu(1500, GUEST6), mssForMtu(1280, GUEST6), mssForMtu(9000, GUEST6)]).toEqual([1460, 1440, 1220, 8940])
    expect([headerOverhead(ipv4(10, 0, 2, 15)), headerOverhead(GUEST6)]).toEqual([40, 60])
  })

  it("Listen: an IPv6 SYN -> TcpConnect to the IPv6 host endpoint, SYN-ACK withheld", () => {
    const rig = v6()
    const out = rig.guest({ seq: GUEST_ISS, flags: SYN, mss: 1440 })
    expect(segs(out)).toHaveLength(0)
    expect(only(effects(out).filter((e) => e._tag === "TcpConnect"))).toMatchObject({ to: HOST_EP6 })
    const c = rig.conn()
    expect([c.state, formatIp(c.guestIp), formatIp(c.remoteIp)]).toEqual(["SynReceived", "fec0::5054:ff:fe12:3456", "fec0::2"])
  })

  it("the connection keeps copies of the addresses, not views of the guest's frame", () => {
    const rig = v6()
    synArrived(rig)
    const c = rig.conn()
    expect(typeof c.guestIp).toBe("object")
    expect((c.guestIp as Uint8Array).buffer).not.toBe(rig.lastSegment!.buffer)
    expect((c.guestIp as Uint8Array).byteLength).toBe(16)
    expect((c.remoteIp as Uint8Array).buffer.byteLength).toBe(16)
  })

  it("SynReceived: host connected -> SYN-ACK of family 6 from the address the guest called, MSS = mtu - 60", () => {
    const rig = v6()
    const sock = synArrived(rig)
    const out = rig.hostConnected(sock)
    const p = only(out.filter((o) => o._tag === "PacketToGuest"))
    expect(p.family).toBe(6)
    expect([formatIp(p.src), formatIp(p.dst)]).toEqual(["fec0::2", "fec0::5054:ff:fe12:3456"])
    const s = only(segs(out))
    expect([s.tcp.flags, s.tcp.mss, s.tcp.dstPort, s.tcp.srcPort]).toEqual([SYN | ACK, 1440, GPORT, RPORT])
  })

  it("MSS follows the MTU: 1220 at IPv6's minimum MTU 1280", () => {
    const rig = v6(1280)
    const { synAck } = synReceived(rig)
    expect(synAck.tcp.mss).toBe(1220)
  })

  it("Established: host data goes out in segments of MTU - 60 - options (the guest offered 1460)", () => {
    const rig = v6()
    const e = established(rig, { ...FULL, mss: 1460 })
    const out = segs(rig.hostData(e.sock, bytes(4000)))
    // Timestamps on: 1440 - 12 = 1428 bytes a segment; IPv6 + TCP + options = 1500 exactly.
    expect(out.map((s) => s.payload.length)).toEqual([1428, 1428, 4000 - 2 * 1428])
    expect(40 + out[0]!.tcp.headerLength + out[0]!.payload.length).toBe(1500)
  })

  it("Established: guest data reaches the host socket; the ACK is family 6", () => {
    const rig = v6()
    const e = established(rig)
    const out = rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: bytes(100), ts: [6000, 0] })
    const w = only(effects(out).filter((x) => x._tag === "TcpWrite"))
    expect(w).toMatchObject({ sock: e.sock })
    rig.advance(50)
    const ack = rig.outputs.filter((o) => o._tag === "PacketToGuest").at(-1)!
    expect(ack.family).toBe(6)
  })

  it("Closed: an ACK for an unknown IPv6 connection -> RST of family 6 with seq = SEG.ACK", () => {
    const rig = v6()
    const out = rig.guest({ seq: 5, ack: 777, flags: ACK })
    expect(only(out.filter((o) => o._tag === "PacketToGuest")).family).toBe(6)
    const s = only(segs(out))
    expect([s.tcp.flags, s.tcp.seq]).toEqual([RST, 777])
  })

  it("Listen: SYN refused by hostEndpointFor -> RST|ACK of family 6 acknowledging the SYN", () => {
    const rig = v6()
    rig.refuse = true
    const s = only(segs(rig.guest({ seq: GUEST_ISS, flags: SYN })))
    expect([s.tcp.flags, s.tcp.ack, rig.count()]).toEqual([RST | ACK, GUEST_ISS + 1, 0])
  })

  it("SynReceived(connecting): ECONNREFUSED -> RST|ACK (family 6)", () => {
    const rig = v6()
    const sock = synArrived(rig)
    const out = rig.hostError(sock, "ECONNREFUSED")
    expect(only(out.filter((o) => o._tag === "PacketToGuest")).family).toBe(6)
    expect(only(segs(out)).tcp.flags).toBe(RST | ACK)
    expect(rig.count()).toBe(0)
  })

  it("SynReceived(connecting): EHOSTUNREACH -> ICMPv6 error from the called address quoting the IPv6 header and 8 bytes of the SYN", () => {
    const rig = v6()
    const sock = synArrived(rig)
    const e = only(icmps(rig.hostError(sock, "EHOSTUNREACH")))
    expect([e.family, e.reason, formatIp(e.src)]).toEqual([6, "host", "fec0::2"])
    expect(e.original.length).toBe(40 + 8)
    expect(e.original[0]! >> 4).toBe(6)
    expect(Buffer.from(e.original.subarray(40)).toString("hex")).toBe(Buffer.from(rig.lastSegment!.subarray(0, 8)).toString("hex"))
  })

  it("connections are told apart by their 16-byte addresses: two guests on the same ports", () => {
    const rig = v6()
    synArrived(rig)
    // A second guest address with the same ports: a new connection, not the first one's segment.
    const other = parseIpv6("fec0::99")!
    const header = emitTcpHeader({ srcPort: GPORT, dstPort: RPORT, seq: 50, ack: 0, flags: SYN, window: 1000 })
    const segment = assembleSegment(header, undefined, other, REMOTE6)
    const out = rig.guestRaw({ src: other, dst: REMOTE6, ttl: 64, ipHeader: new Uint8Array(40), segment })
    expect(effects(out).filter((e) => e._tag === "TcpConnect")).toHaveLength(1)
    expect([...tcpConnections(rig.s)].map((c) => formatIp(c.guestIp)).sort()).toEqual(["fec0::5054:ff:fe12:3456", "fec0::99"])
    // An address equal in value but a different array finds the first connection.
    const again = assembleSegment(emitTcpHeader({ srcPort: GPORT, dstPort: RPORT, seq: GUEST_ISS, ack: 0, flags: SYN, window: 1000 }), undefined, GUEST6, REMOTE6)
    const copy = Uint8Array.from(GUEST6)
    expect(effects(rig.guestRaw({ src: copy, dst: Uint8Array.from(REMOTE6), ttl: 64, ipHeader: new Uint8Array(40), segment: again })).filter((e) => e._tag === "TcpConnect")).toHaveLength(0)
    expect(rig.count()).toBe(2)
  })

  it("an IPv4 and an IPv6 connection on the same ports live side by side", () => {
    const rig = v6()
    synArrived(rig)
    const g4 = ipv4(10, 0, 2, 15)
    const r4 = ipv4(10, 0, 2, 2)
    const segment = assembleSegment(emitTcpHeader({ srcPort: GPORT, dstPort: RPORT, seq: 9, ack: 0, flags: SYN, window: 1000 }), undefined, g4, r4)
    const out = rig.guestRaw({ src: g4, dst: r4, ttl: 64, ipHeader: new Uint8Array(20), segment })
    expect(effects(out).filter((e) => e._tag === "TcpConnect")).toHaveLength(1)
    expect([...tcpConnections(rig.s)].map((c) => typeof c.guestIp).sort()).toEqual(["number", "object"])
  })

  it("a segment with a bad IPv6 checksum is dropped with a debug log, nothing else", () => {
    const rig = v6()
    const header = emitTcpHeader({ srcPort: GPORT, dstPort: RPORT, seq: 1, ack: 0, flags: SYN, window: 1000 })
    const segment = assembleSegment(header, undefined, GUEST6, REMOTE6)
    segment[16]! ^= 0xff
    const out = rig.guestRaw({ src: GUEST6, dst: REMOTE6, ttl: 64, ipHeader: new Uint8Array(40), segment })
    expect(out).toEqual([{ _tag: "Log", level: "debug", message: "tcp: dropped segment from guest: tcp: bad checksum" }])
  })
})
