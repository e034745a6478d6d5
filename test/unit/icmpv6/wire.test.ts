import { describe, expect, it } from "vitest"
import { golden6 } from "../../golden/ipv6/golden6.ts"
import {
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_TIME_EXCEEDED,
  UNREACH6_PORT,
  type Icmpv6View,
  emitEcho6,
  emitIcmpv6Error,
  isIcmpv6Error,
  parseIcmpv6,
} from "../../../src/protocol/icmpv6/wire.ts"
import { IPV6_MIN_MTU, parseIpv6Header } from "../../../src/protocol/ipv6/wire.ts"
import { get16, toHex } from "../../../src/protocol/wire/bytes.ts"

/** The ICMPv6 message of a captured frame, parsed with its pseudo header. */
const icmpIn = (name: string): { readonly frame: Uint8Array; readonly msg: Uint8Array; readonly icmp: Icmpv6View } => {
  const frame = golden6(name)
  const p = parseIpv6Header(frame, 14)
  if (!p.ok) throw new Error(p.reason)
  const msg = frame.subarray(p.ip.upperOffset, p.ip.upperOffset + p.ip.upperLength)
  const i = parseIcmpv6(msg, frame, p.ip.srcOffset, frame, p.ip.dstOffset)
  if (!i.ok) throw new Error(i.reason)
  return { frame, msg, icmp: i.icmp }
}
const SRC = 14 + 8
const DST = 14 + 24

// Expected values from test/golden/ipv6/decoded.txt (tshark -V).
describe("icmpv6 wire (golden)", () => {
  it("echo request: type 128, checksum 0xf21e over the pseudo header, id 0x3e42, seq 1", () => {
    const { msg, icmp } = icmpIn("icmpv6-echo-request")
    expect([icmp.type, icmp.code, get16(msg, 2), icmp.ident, icmp.sequence]).toEqual([ICMPV6_ECHO_REQUEST, 0, 0xf21e, 0x3e42, 1])
    expect(icmp.body.length).toBe(56)
  })

  it("emitEcho6 of the request's fields reproduces Linux's echo reply byte for byte", () => {
    const req = icmpIn("icmpv6-echo-request")
    const rep = icmpIn("icmpv6-echo-reply")
    expect(rep.icmp.type).toBe(ICMPV6_ECHO_REPLY)
    const mine = emitEcho6(ICMPV6_ECHO_REPLY, req.icmp.ident, req.icmp.sequence, req.icmp.body, req.frame.subarray(DST, DST + 16), req.frame.subarray(SRC, SRC + 16))
    expect(toHex(mine)).toBe(toHex(rep.msg))
  })

  it("a flipped bit in the message or in the pseudo header's address fails the checksum", () => {
    const { frame, msg } = icmpIn("icmpv6-echo-request")
    const m = msg.slice()
    m[20]! ^= 1
    expect(parseIcmpv6(m, frame, SRC, frame, DST).ok).toBe(false)
    const other = frame.slice()
    other[DST + 15]! ^= 1
    expect(parseIcmpv6(msg, other, SRC, other, DST).ok).toBe(false)
  })

  it("port unreachable (1/4) quoting the whole UDP datagram is reproduced from the request", () => {
    const { msg, icmp } = icmpIn("icmpv6-port-unreachable")
    expect([icmp.type, icmp.code, get16(msg, 2)]).toEqual([ICMPV6_DEST_UNREACHABLE, UNREACH6_PORT, 0xeabc])
    const req = golden6("udp6-request")
    // The quote is the same text sent to port 9 (flow label, port and checksum differ from
    // the port-7777 capture's): addresses, source port and payload match.
    expect(toHex(icmp.body.subarray(4, 42))).toBe(toHex(req.subarray(18, 56)))
    expect(toHex(icmp.body.subarray(48))).toBe(toHex(req.subarray(62)))
    expect(get16(icmp.body, 42)).toBe(9)
    const original = icmp.body
    const mine = emitIcmpv6Error(ICMPV6_DEST_UNREACHABLE, UNREACH6_PORT, original, req.subarray(DST, DST + 16), req.subarray(SRC, SRC + 16))
    expect(toHex(mine)).toBe(toHex(msg))
  })

  it("time exceeded (3/0) and packet too big (2, MTU 1280, quote trimmed to the minimum MTU)", () => {
    const te = icmpIn("icmpv6-time-exceeded")
    expect([te.icmp.type, te.icmp.code, get16(te.msg, 2)]).toEqual([ICMPV6_TIME_EXCEEDED, 0, 0x2505])
    const ptb = icmpIn("icmpv6-packet-too-big")
    expect([ptb.icmp.type, ptb.icmp.word, get16(ptb.msg, 2)]).toEqual([ICMPV6_PACKET_TOO_BIG, 1280, 0xf5a2])
    // RFC 4443 §2.4 c: the error fits the minimum MTU: 40 + 8 + 1232 bytes quoted of 1448.
    expect(40 + ptb.msg.length).toBe(IPV6_MIN_MTU)
    expect(get16(ptb.icmp.body, 4)).toBe(1408)
    const quoted = new Uint8Array(1448)
    quoted.set(ptb.icmp.body)
    const mine = emitIcmpv6Error(ICMPV6_PACKET_TOO_BIG, 0, quoted, ptb.frame.subarray(SRC, SRC + 16), ptb.frame.subarray(DST, DST + 16), 1280)
    expect(toHex(mine)).toBe(toHex(ptb.msg))
  })

  it("types below 128 are errors (RFC 4443 §2.1)", () => {
    expect([1, 2, 3, 4, 127].every(isIcmpv6Error)).toBe(true)
    expect([128, 129, 133, 135].some(isIcmpv6Error)).toBe(false)
  })

  it("truncated messages are refused", () => {
    const { frame } = icmpIn("icmpv6-echo-request")
    expect(parseIcmpv6(new Uint8Array(7), frame, SRC, frame, DST).ok).toBe(false)
  })
})
