import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import { buildIpv4Frames } from "../../../src/protocol/ipv4/output.ts"
import { parseIpv4Header, PROTO_UDP } from "../../../src/protocol/ipv4/wire.ts"
import { UDP_CHECKSUM_OFFSET, UDP_HEADER_LEN, emitUdpHeader, parseUdp } from "../../../src/protocol/udp/wire.ts"
import { get16, put16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { finish, sum16, sum32 } from "../../../src/protocol/wire/checksum.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { rng } from "../wire/prng.ts"

const GUEST = ipv4(10, 0, 2, 15)
const ROUTER = ipv4(10, 0, 2, 2)
const HELLO = "hello tslirp\n"

const segOf = (name: string) => {
  const f = golden(name)
  const ip = parseIpv4Header(f, 14)
  if (!ip.ok) throw new Error(ip.reason)
  return { f, ip: ip.ip, seg: f.subarray(ip.ip.payloadOffset, ip.ip.payloadOffset + ip.ip.payloadLength) }
}

/** RFC 768 checksum over the pseudo header, computed independently of the code under test. */
const udpChecksum = (seg: Uint8Array, src: number, dst: number): number => {
  const pseudo = [src >>> 16, src & 0xffff, dst >>> 16, dst & 0xffff, PROTO_UDP, seg.length]
  let s = pseudo.reduce((a, b) => a + b, 0)
  for (let i = 0; i < seg.length; i += 2) s += (seg[i]! << 8) | (seg[i + 1] ?? 0)
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
  return ~s & 0xffff
}

// Expected values from test/golden/net/decoded.txt (tshark -V).
describe("udp wire (golden)", () => {
  it("udp: captured datagram 10.0.2.15:40000 -> 10.0.2.2:7777, length 21, checksum 0x8bd2, 13 bytes", () => {
    const { seg, ip } = segOf("udp-request")
    const p = parseUdp(seg, ip.src, ip.dst)
    if (!p.ok) throw new Error(p.reason)
    expect(p.udp.srcPort).toBe(40000)
    expect(p.udp.dstPort).toBe(7777)
    expect(get16(seg, 4)).toBe(21)
    expect(get16(seg, 6)).toBe(0x8bd2)
    expect(new TextDecoder().decode(p.udp.payload)).toBe(HELLO)
    expect(p.udp.payload.buffer).toBe(seg.buffer) // a view
  })

  it("udp: captured echo 7777 -> 40000 parses, checksum 0x8bd2", () => {
    const { seg, ip } = segOf("udp-reply")
    const p = parseUdp(seg, ip.src, ip.dst)
    if (!p.ok) throw new Error(p.reason)
    expect([p.udp.srcPort, p.udp.dstPort]).toEqual([7777, 40000])
    expect(get16(seg, 6)).toBe(0x8bd2)
    expect(new TextDecoder().decode(p.udp.payload)).toBe(HELLO)
  })

  it("udp: emitUdpHeader gives the captured header with the checksum left zero", () => {
    const { seg } = segOf("udp-request")
    const h = emitUdpHeader(40000, 7777, 13)
    expect(h.length).toBe(UDP_HEADER_LEN)
    const want = seg.slice(0, 8)
    put16(want, 6, 0)
    expect(toHex(h)).toBe(toHex(want))
  })

  it("udp: the IP layer's output of the echoed datagram reproduces the captured IPv4+UDP bytes", () => {
    // Same fields as Linux's reply: id 0x1174, DF, TTL 64; the frame is padded to 60 bytes.
    const { f } = segOf("udp-reply")
    const payload = new TextEncoder().encode(HELLO)
    const built = buildIpv4Frames(
      { _tag: "PacketToGuest", family: 4, src: ROUTER, dst: GUEST, protocol: PROTO_UDP, header: emitUdpHeader(7777, 40000, payload.length), payload, checksumOffset: UDP_CHECKSUM_OFFSET, pseudoHeader: true, dontFragment: true },
      0x1174,
      1500,
    )
    if (!built.ok) throw new Error(built.reason)
    const out = built.frames[0]!
    expect(out.length).toBe(60)
    expect(toHex(out.subarray(14, f.length))).toBe(toHex(f.subarray(14)))
    expect([...out.subarray(f.length)].every((b) => b === 0)).toBe(true)
  })

  it("udp: a checksum of 0 means none: accepted without verification (RFC 768)", () => {
    const { seg, ip } = segOf("udp-request")
    const s = seg.slice()
    put16(s, 6, 0)
    s[10]! ^= 0xff // corrupt the payload: nobody can tell
    expect(parseUdp(s, ip.src, ip.dst).ok).toBe(true)
  })

  it("udp: a wrong checksum is refused, including one computed without the pseudo header", () => {
    const { seg, ip } = segOf("udp-request")
    const s = seg.slice()
    s[10]! ^= 0x01
    const p = parseUdp(s, ip.src, ip.dst)
    expect(!p.ok && p.reason).toMatch(/checksum/)
    // The same bytes claimed by another source address fail too: the pseudo header counts.
    expect(parseUdp(seg, ipv4(10, 0, 2, 16), ip.dst).ok).toBe(false)
  })

  it("udp: a checksum of 0xffff stands for a computed 0 and verifies", () => {
    // Find a 2-byte payload word that makes the computed checksum 0, then store it as 0xffff.
    const payload = new Uint8Array(4)
    const h = emitUdpHeader(1234, 53, payload.length)
    const seg = new Uint8Array(12)
    seg.set(h)
    const c0 = udpChecksum(seg, GUEST, ROUTER)
    put16(seg, 8, c0) // adding ~sum makes the sum 0xffff: computed checksum 0
    expect(udpChecksum(seg, GUEST, ROUTER)).toBe(0)
    put16(seg, 6, 0xffff)
    expect(parseUdp(seg, GUEST, ROUTER).ok).toBe(true)
  })

  it("udp: the IP layer sends a computed checksum of 0 as 0xffff (RFC 768)", () => {
    const payload = new Uint8Array(4)
    const seg = new Uint8Array(12)
    seg.set(emitUdpHeader(1234, 53, payload.length))
    put16(payload, 0, udpChecksum(seg, ROUTER, GUEST))
    const built = buildIpv4Frames(
      { _tag: "PacketToGuest", family: 4, src: ROUTER, dst: GUEST, protocol: PROTO_UDP, header: emitUdpHeader(1234, 53, payload.length), payload, checksumOffset: UDP_CHECKSUM_OFFSET, pseudoHeader: true },
      1,
      1500,
    )
    if (!built.ok) throw new Error(built.reason)
    const f = built.frames[0]!
    expect(get16(f, 34 + 6)).toBe(0xffff)
    const p = parseUdp(f.subarray(34, 34 + 12), ROUTER, GUEST)
    expect(p.ok).toBe(true)
  })

  it("udp: length field above the bytes present (truncated datagram) is refused", () => {
    const { seg, ip } = segOf("udp-request")
    const p = parseUdp(seg.subarray(0, 20), ip.src, ip.dst)
    expect(!p.ok && p.reason).toMatch(/length 21 with 20 bytes/)
  })

  it("udp: length field below 8 is refused", () => {
    for (const len of [0, 1, 7]) {
      const { seg, ip } = segOf("udp-request")
      const s = seg.slice()
      put16(s, 4, len)
      put16(s, 6, 0)
      expect(parseUdp(s, ip.src, ip.dst).ok, `length ${len}`).toBe(false)
    }
  })

  it("udp: fewer than 8 bytes is refused", () => {
    for (let n = 0; n < 8; n++) expect(parseUdp(new Uint8Array(n), GUEST, ROUTER).ok).toBe(false)
  })

  it("udp: bytes past the length field are not payload, and not checksummed", () => {
    const { seg, ip } = segOf("udp-request")
    const s = new Uint8Array(seg.length + 7)
    s.set(seg)
    s.fill(0x5a, seg.length)
    const p = parseUdp(s, ip.src, ip.dst)
    if (!p.ok) throw new Error(p.reason)
    expect(new TextDecoder().decode(p.udp.payload)).toBe(HELLO)
  })

  it("udp: an empty datagram (length 8) parses to an empty payload", () => {
    const seg = new Uint8Array(8)
    seg.set(emitUdpHeader(5, 6, 0))
    put16(seg, 6, udpChecksum(seg, GUEST, ROUTER))
    const p = parseUdp(seg, GUEST, ROUTER)
    expect(p.ok && p.udp.payload.length).toBe(0)
  })

  it("udp: random datagrams checksummed independently verify (seeded), flipped bits are caught", () => {
    const r = rng(768)
    for (let n = 0; n < 500; n++) {
      const payload = r.bytes(r.int(0, 1400))
      const src = r.int(0, 0xffffffff)
      const dst = r.int(0, 0xffffffff)
      const seg = new Uint8Array(8 + payload.length)
      seg.set(emitUdpHeader(r.int(0, 0xffff), r.int(0, 0xffff), payload.length))
      seg.set(payload, 8)
      let c = udpChecksum(seg, src, dst)
      if (c === 0) c = 0xffff
      put16(seg, 6, c)
      const p = parseUdp(seg, src, dst)
      expect(p.ok, `seed 768 case ${n}`).toBe(true)
      const bit = r.int(0, seg.length * 8 - 1)
      if (bit >= 48 && bit < 64) continue // flipping the checksum to 0 would mean "none"
      seg[bit >> 3]! ^= 1 << (bit & 7)
      if (bit >= 32 && bit < 48) continue // the length field: other checks apply
      expect(parseUdp(seg, src, dst).ok, `seed 768 case ${n} bit ${bit}`).toBe(false)
    }
  })

  it("udp: the code's pseudo-header sum matches an independent one", () => {
    const { seg, ip } = segOf("udp-request")
    const s = finish(sum16(seg, 0, seg.length, sum32(sum32(PROTO_UDP + seg.length, ip.src), ip.dst)))
    expect(s).toBe(0)
  })

  it("udp: random garbage never throws (seeded)", () => {
    const r = rng(8)
    for (let n = 0; n < 5000; n++) {
      const b = r.bytes(r.int(0, 60))
      if (b.length >= 8 && n % 2 === 0) put16(b, 4, r.int(0, b.length))
      const p = parseUdp(b, r.int(0, 0xffffffff), r.int(0, 0xffffffff))
      if (p.ok) expect(p.udp.payload.length).toBe(get16(b, 4) - 8)
    }
  })
})
