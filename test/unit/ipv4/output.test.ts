import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import { emitEcho, ICMP_ECHO_REPLY } from "../../../src/protocol/icmp/wire.ts"
import { DEFAULT_TTL, buildIpv4Frames } from "../../../src/protocol/ipv4/output.ts"
import { parseIpv4Header, PROTO_ICMP } from "../../../src/protocol/ipv4/wire.ts"
import type { Ipv4PacketToGuest } from "../../../src/protocol/stack/output.ts"
import { get16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"

const GUEST = ipv4(10, 0, 2, 15)
const ROUTER = ipv4(10, 0, 2, 2)

const icmpOut = (header: Uint8Array, extra: Partial<Ipv4PacketToGuest> = {}): Ipv4PacketToGuest => ({
  _tag: "PacketToGuest", family: 4,
  src: ROUTER,
  dst: GUEST,
  protocol: PROTO_ICMP,
  header,
  checksumOffset: -1,
  pseudoHeader: false,
  ...extra,
})

/** The 3000-byte ping's echo data, taken from the captured request fragments. */
const pingData = (): Uint8Array => {
  const parts = ["frag-request-1", "frag-request-2", "frag-request-3"].map((n) => golden(n).subarray(34))
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
  let o = 0
  for (const p of parts) {
    all.set(p, o)
    o += p.length
  }
  return all.subarray(8) // after the ICMP header
}

describe("ipv4 output", () => {
  it("ipv4 output: the 3008-byte echo reply at MTU 1500 gives the three fragments Linux sent, byte for byte", () => {
    // decoded.txt: reply id 0x1308, no DF, TTL 64, fragments at 0, 1480 (MF) and 2960.
    const built = buildIpv4Frames(icmpOut(emitEcho(ICMP_ECHO_REPLY, 0x2eee, 1, pingData())), 0x1308, 1500)
    if (!built.ok) throw new Error(built.reason)
    const names = ["frag-reply-1", "frag-reply-2", "frag-reply-3"]
    expect(built.frames).toHaveLength(3)
    built.frames.forEach((f, i) => {
      const captured = golden(names[i]!)
      expect(f.length, names[i]).toBe(captured.length)
      expect(toHex(f.subarray(14)), names[i]).toBe(toHex(captured.subarray(14)))
    })
  })

  it("ipv4 output: the echo reply unfragmented reproduces Linux's reply (id 0x0d9f)", () => {
    const req = golden("icmp-echo-request")
    const built = buildIpv4Frames(icmpOut(emitEcho(ICMP_ECHO_REPLY, 11513, 1, req.subarray(42))), 0x0d9f, 1500)
    if (!built.ok) throw new Error(built.reason)
    expect(toHex(built.frames[0]!.subarray(14))).toBe(toHex(golden("icmp-echo-reply").subarray(14)))
  })

  it("ipv4 output: Ethernet header space is left zero for the ARP layer, short frames padded to 60", () => {
    const built = buildIpv4Frames(icmpOut(emitEcho(ICMP_ECHO_REPLY, 1, 1, new Uint8Array(0))), 7, 1500)
    if (!built.ok) throw new Error(built.reason)
    const f = built.frames[0]!
    expect(f.length).toBe(60)
    expect([...f.subarray(0, 14)].every((b) => b === 0)).toBe(true)
    const ip = parseIpv4Header(f, 14)
    expect(ip.ok && ip.ip.totalLength).toBe(28)
    expect(ip.ok && ip.ip.ttl).toBe(DEFAULT_TTL)
  })

  it("ipv4 output: the TTL given is used", () => {
    const built = buildIpv4Frames(icmpOut(emitEcho(ICMP_ECHO_REPLY, 1, 1, new Uint8Array(8)), { ttl: 3 }), 7, 1500)
    expect(built.ok && built.frames[0]![22]).toBe(3)
  })

  it("ipv4 output: a datagram of exactly the MTU is not fragmented; one byte more is", () => {
    const data = new Uint8Array(1500 - 28)
    const one = buildIpv4Frames(icmpOut(emitEcho(ICMP_ECHO_REPLY, 1, 1, data)), 1, 1500)
    expect(one.ok && one.frames.length).toBe(1)
    const two = buildIpv4Frames(icmpOut(emitEcho(ICMP_ECHO_REPLY, 1, 1, new Uint8Array(1500 - 27))), 1, 1500)
    expect(two.ok && two.frames.length).toBe(2)
  })

  it("ipv4 output: fragments carry 8-byte-aligned offsets, MF on all but the last, and fit the MTU", () => {
    for (const mtu of [68, 576, 1000, 1499]) {
      const built = buildIpv4Frames(icmpOut(emitEcho(ICMP_ECHO_REPLY, 1, 1, new Uint8Array(5000))), 9, mtu)
      if (!built.ok) throw new Error(built.reason)
      let expectOffset = 0
      built.frames.forEach((f, i) => {
        const p = parseIpv4Header(f, 14)
        if (!p.ok) throw new Error(p.reason)
        expect(p.ip.totalLength).toBeLessThanOrEqual(mtu)
        expect(p.ip.fragmentOffset).toBe(expectOffset)
        expect(p.ip.fragmentOffset % 8).toBe(0)
        expect(p.ip.moreFragments).toBe(i < built.frames.length - 1)
        expect(p.ip.id).toBe(9)
        expectOffset += p.ip.payloadLength
      })
      expect(expectOffset).toBe(5008)
    }
  })

  it("ipv4 output: DF with a datagram above the MTU is refused, not fragmented", () => {
    const r = buildIpv4Frames(icmpOut(emitEcho(ICMP_ECHO_REPLY, 1, 1, new Uint8Array(2000)), { dontFragment: true }), 1, 1500)
    expect(!r.ok && r.reason).toMatch(/DF/)
  })

  it("ipv4 output: a datagram above 65535 bytes is refused", () => {
    const r = buildIpv4Frames(icmpOut(new Uint8Array(8), { payload: new Uint8Array(65535 - 28 + 1) }), 1, 1500)
    expect(!r.ok && r.reason).toMatch(/65535/)
    const ok = buildIpv4Frames(icmpOut(new Uint8Array(8), { payload: new Uint8Array(65535 - 28) }), 1, 1500)
    expect(ok.ok).toBe(true)
  })

  it("ipv4 output: the payload is copied, and an ICMP checksum over header + payload is filled when asked", () => {
    const header = new Uint8Array(8)
    header[0] = ICMP_ECHO_REPLY
    const payload = new Uint8Array([1, 2, 3, 4, 5])
    const built = buildIpv4Frames(icmpOut(header, { payload, checksumOffset: 2 }), 1, 1500)
    if (!built.ok) throw new Error(built.reason)
    payload[0] = 99
    const f = built.frames[0]!
    expect(f[34 + 8]).toBe(1)
    const want = emitEcho(ICMP_ECHO_REPLY, 0, 0, new Uint8Array([1, 2, 3, 4, 5]))
    expect(get16(f, 34 + 2)).toBe(get16(want, 2))
  })
})
