import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import {
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_ERROR_MAX_DATAGRAM,
  ICMP_HEADER_LEN,
  ICMP_TIME_EXCEEDED,
  UNREACH_NEEDFRAG,
  UNREACH_PORT,
  type IcmpView,
  emitEcho,
  emitIcmpError,
  isIcmpError,
  parseIcmp,
} from "../../../src/protocol/icmp/wire.ts"
import { parseIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import { parseUdp } from "../../../src/protocol/udp/wire.ts"
import { get16, get32, toHex } from "../../../src/protocol/wire/bytes.ts"
import { checksum } from "../../../src/protocol/wire/checksum.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { rng } from "../wire/prng.ts"

const GUEST = ipv4(10, 0, 2, 15)
const ROUTER = ipv4(10, 0, 2, 2)

/** The ICMP message of a captured frame (IP payload), parsed. */
const icmpIn = (name: string): { readonly msg: Uint8Array; readonly icmp: IcmpView } => {
  const f = golden(name)
  const ip = parseIpv4Header(f, 14)
  if (!ip.ok) throw new Error(ip.reason)
  const msg = f.subarray(ip.ip.payloadOffset, ip.ip.payloadOffset + ip.ip.payloadLength)
  const p = parseIcmp(msg)
  if (!p.ok) throw new Error(p.reason)
  return { msg, icmp: p.icmp }
}

// Expected values from test/golden/net/decoded.txt (tshark -V).
describe("icmp wire (golden)", () => {
  it("icmp: captured echo request: type 8 code 0, checksum 0xba2b, id 11513, seq 1, 56 bytes of data", () => {
    const { msg, icmp } = icmpIn("icmp-echo-request")
    expect(icmp.type).toBe(ICMP_ECHO_REQUEST)
    expect(icmp.code).toBe(0)
    expect(get16(msg, 2)).toBe(0xba2b)
    expect(icmp.ident).toBe(11513)
    expect(icmp.sequence).toBe(1)
    expect(icmp.body.length).toBe(56) // tshark: 8-byte timestamp + "Data (48 bytes)"
    expect(toHex(icmp.body.subarray(16, 24))).toBe("1011121314151617") // after the 16-byte timeval
    expect(icmp.body.buffer).toBe(msg.buffer) // a view
  })

  it("icmp: captured echo reply: type 0, checksum 0xc22b, same id, seq and data", () => {
    const req = icmpIn("icmp-echo-request")
    const { msg, icmp } = icmpIn("icmp-echo-reply")
    expect(icmp.type).toBe(ICMP_ECHO_REPLY)
    expect(get16(msg, 2)).toBe(0xc22b)
    expect(icmp.ident).toBe(11513)
    expect(icmp.sequence).toBe(1)
    expect(toHex(icmp.body)).toBe(toHex(req.icmp.body))
  })

  it("icmp: emitEcho of the request's fields reproduces Linux's echo reply byte for byte", () => {
    const req = icmpIn("icmp-echo-request").icmp
    const reply = icmpIn("icmp-echo-reply").msg
    expect(toHex(emitEcho(ICMP_ECHO_REPLY, req.ident, req.sequence, req.body))).toBe(toHex(reply))
  })

  it("icmp: emitEcho reproduces the captured request too (checksum 0xba2b)", () => {
    const { msg, icmp } = icmpIn("icmp-echo-request")
    expect(toHex(emitEcho(ICMP_ECHO_REQUEST, icmp.ident, icmp.sequence, icmp.body))).toBe(toHex(msg))
  })

  it("icmp: emitEcho copies the data (later changes to the source do not leak)", () => {
    const data = new Uint8Array([1, 2, 3])
    const m = emitEcho(0, 1, 2, data)
    data[0] = 9
    expect(m[8]).toBe(1)
    expect(checksum(m, 0, m.length)).toBe(0)
  })

  it("icmp: captured port unreachable: type 3 code 3, checksum 0x1534, quoting the whole 41-byte UDP datagram", () => {
    const { msg, icmp } = icmpIn("icmp-port-unreachable")
    expect(icmp.type).toBe(ICMP_DEST_UNREACHABLE)
    expect(icmp.code).toBe(UNREACH_PORT)
    expect(get16(msg, 2)).toBe(0x1534)
    expect(get32(msg, 4)).toBe(0) // "Unused: 00000000"
    expect(icmp.body.length).toBe(41)
    // The quoted datagram: IPv4 id 0x2f64, DF, TTL 64, UDP, checksum 0xf34f, 10.0.2.15 -> 10.0.2.2.
    const q = parseIpv4Header(icmp.body, 0)
    if (!q.ok) throw new Error(q.reason)
    expect(q.ip.id).toBe(0x2f64)
    expect(q.ip.dontFragment).toBe(true)
    expect(q.ip.ttl).toBe(64)
    expect(q.ip.protocol).toBe(17)
    expect(get16(icmp.body, 10)).toBe(0xf34f)
    expect(q.ip.src).toBe(GUEST)
    expect(q.ip.dst).toBe(ROUTER)
    // ... and its UDP header: 40000 -> 9, length 21, checksum 0xaa2a (correct), "hello tslirp\n".
    const u = parseUdp(icmp.body.subarray(20), q.ip.src, q.ip.dst)
    if (!u.ok) throw new Error(u.reason)
    expect(u.udp.srcPort).toBe(40000)
    expect(u.udp.dstPort).toBe(9)
    expect(get16(icmp.body, 24)).toBe(21)
    expect(get16(icmp.body, 26)).toBe(0xaa2a)
    expect(new TextDecoder().decode(u.udp.payload)).toBe("hello tslirp\n")
  })

  it("icmp: emitIcmpError(3, 3, datagram) reproduces Linux's port unreachable byte for byte", () => {
    const { msg, icmp } = icmpIn("icmp-port-unreachable")
    expect(toHex(emitIcmpError(ICMP_DEST_UNREACHABLE, UNREACH_PORT, icmp.body))).toBe(toHex(msg))
  })

  it("icmp: captured time exceeded: type 11 code 0, checksum 0xf4ff, quoting the TTL-1 echo to 10.0.3.5", () => {
    const { msg, icmp } = icmpIn("icmp-time-exceeded")
    expect(icmp.type).toBe(ICMP_TIME_EXCEEDED)
    expect(icmp.code).toBe(0)
    expect(get16(msg, 2)).toBe(0xf4ff)
    expect(icmp.body.length).toBe(84)
    const q = parseIpv4Header(icmp.body, 0)
    if (!q.ok) throw new Error(q.reason)
    expect(q.ip.id).toBe(0x1b58)
    expect(q.ip.ttl).toBe(1)
    expect(q.ip.protocol).toBe(1)
    expect(get16(icmp.body, 10)).toBe(0x453e)
    expect(q.ip.src).toBe(GUEST)
    expect(q.ip.dst).toBe(ipv4(10, 0, 3, 5))
    const inner = parseIcmp(icmp.body.subarray(20))
    if (!inner.ok) throw new Error(inner.reason)
    expect(inner.icmp.type).toBe(ICMP_ECHO_REQUEST)
    expect(get16(icmp.body, 22)).toBe(0x8732)
    expect(inner.icmp.ident).toBe(11875)
    expect(inner.icmp.sequence).toBe(1)
  })

  it("icmp: emitIcmpError(11, 0, datagram) reproduces Linux's time exceeded byte for byte", () => {
    const { msg, icmp } = icmpIn("icmp-time-exceeded")
    expect(toHex(emitIcmpError(ICMP_TIME_EXCEEDED, 0, icmp.body))).toBe(toHex(msg))
  })

  it("icmp: the record-route echo request's ICMP part parses after skipping the options (checksum 0x2918)", () => {
    const { msg, icmp } = icmpIn("ipv4-rr-request")
    expect(icmp.type).toBe(ICMP_ECHO_REQUEST)
    expect(icmp.ident).toBe(11944)
    expect(get16(msg, 2)).toBe(0x2918)
  })
})

describe("icmp wire: rules", () => {
  it("icmp: an error quote is trimmed so the IP datagram stays within 576 bytes (RFC 1812 §4.3.2.3)", () => {
    const original = new Uint8Array(1500).map((_, i) => i & 0xff)
    const m = emitIcmpError(ICMP_DEST_UNREACHABLE, UNREACH_PORT, original)
    expect(20 + m.length).toBe(ICMP_ERROR_MAX_DATAGRAM)
    expect(toHex(m.subarray(8))).toBe(toHex(original.subarray(0, 548)))
    expect(checksum(m, 0, m.length)).toBe(0)
    // A quote that fits is kept whole.
    expect(emitIcmpError(ICMP_TIME_EXCEEDED, 0, original.subarray(0, 548)).length).toBe(556)
    expect(emitIcmpError(ICMP_TIME_EXCEEDED, 0, original.subarray(0, 28)).length).toBe(36)
  })

  it("icmp: fragmentation needed (3/4) carries the next-hop MTU in bytes 6-7 (RFC 1191), other errors zero", () => {
    const original = new Uint8Array(28)
    const m = emitIcmpError(ICMP_DEST_UNREACHABLE, UNREACH_NEEDFRAG, original, 1400)
    expect(get16(m, 4)).toBe(0)
    expect(get16(m, 6)).toBe(1400)
    expect(checksum(m, 0, m.length)).toBe(0)
    expect(get32(emitIcmpError(ICMP_DEST_UNREACHABLE, UNREACH_PORT, original, 1400), 4)).toBe(0)
    expect(get32(emitIcmpError(ICMP_TIME_EXCEEDED, 0, original, 1400), 4)).toBe(0)
  })

  it("icmp: a message with a bad checksum is refused", () => {
    const { msg } = icmpIn("icmp-echo-request")
    const bad = msg.slice()
    bad[20]! ^= 0x01
    const p = parseIcmp(bad)
    expect(p.ok).toBe(false)
    expect(!p.ok && p.reason).toMatch(/checksum/)
  })

  it("icmp: fewer than 8 bytes is refused; exactly 8 (empty echo) is accepted", () => {
    for (let n = 0; n < 8; n++) expect(parseIcmp(new Uint8Array(n)).ok).toBe(false)
    const e = parseIcmp(emitEcho(ICMP_ECHO_REQUEST, 7, 9, new Uint8Array(0)))
    expect(e.ok && e.icmp.body.length).toBe(0)
  })

  it("icmp: odd-length echo data checksums correctly (padding byte)", () => {
    const m = emitEcho(ICMP_ECHO_REQUEST, 0xffff, 0xffff, new Uint8Array([0xff, 0xff, 0xff]))
    expect(parseIcmp(m).ok).toBe(true)
  })

  it("icmp: isIcmpError is true for 3, 4, 5, 11, 12 only", () => {
    const errors = [...Array(256).keys()].filter(isIcmpError)
    expect(errors).toEqual([3, 4, 5, 11, 12])
  })

  it("icmp: parse(emit(x)) round-trips random echoes (seeded)", () => {
    const r = rng(792)
    for (let n = 0; n < 500; n++) {
      const type = r.int(0, 1) === 0 ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY
      const ident = r.int(0, 0xffff)
      const seq = r.int(0, 0xffff)
      const data = r.bytes(r.int(0, 1500))
      const p = parseIcmp(emitEcho(type, ident, seq, data))
      if (!p.ok) throw new Error(p.reason)
      expect([p.icmp.type, p.icmp.code, p.icmp.ident, p.icmp.sequence]).toEqual([type, 0, ident, seq])
      expect(toHex(p.icmp.body)).toBe(toHex(data))
    }
  })

  it("icmp: random garbage never throws (seeded)", () => {
    const r = rng(1122)
    for (let n = 0; n < 5000; n++) {
      const b = r.bytes(r.int(0, 100))
      const p = parseIcmp(b)
      if (p.ok) expect(p.icmp.body.length).toBe(b.length - ICMP_HEADER_LEN)
    }
  })
})
