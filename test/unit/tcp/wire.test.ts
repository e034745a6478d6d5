/** The TCP codec: golden bytes from Linux, parse(emit(x)) round trips, malformed input. */
import { describe, expect, it } from "vitest"
import { fromHex, put16 } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { socketId } from "../../../src/effects/ids.ts"
import {
  ACK,
  assembleSegment,
  emitTcpHeader,
  parseTcp,
  SYN,
  tcpChecksum,
  type TcpHeaderFields,
} from "../../../src/protocol/tcp/wire.ts"
import { createTcpLayer, tcpFromGuest, type TcpSegmentIn } from "../../../src/protocol/tcp/layer.ts"
import { checkedReduce } from "../../support/referential.ts"
import { createSimdSum16 } from "../../../src/protocol/wire/checksum-simd.ts"
import { instant } from "../../../src/effects/instant.ts"

const LO = ipv4(127, 0, 0, 1)

// Captured with tshark on Linux 6.x loopback: a SYN and its SYN-ACK (checksums are
// offloaded on lo, so they are not checked here).
const LINUX_SYN = fromHex("93dab3afc5ef56fb00000000a002ffd7fe3000000204ffd704020 80ab4d60ca50000000001030 30a".replace(/ /g, ""))
const LINUX_SYNACK = fromHex("b3af93da2c8a97b2c5ef56fca012ffcbfe3000000204ffd704020 80ad32f888fb4d60ca50103030a".replace(/ /g, ""))

describe("TCP wire", () => {
  it("parses a Linux SYN: MSS, SACK-permitted, timestamps, window scale", () => {
    const p = parseTcp(LINUX_SYN, LO, LO, false)
    if (!p.ok) throw new Error(p.reason)
    expect(p.tcp).toMatchObject({
      srcPort: 0x93da,
      dstPort: 0xb3af,
      seq: 0xc5ef56fb,
      flags: SYN,
      window: 0xffd7,
      headerLength: 40,
      mss: 65495,
      wscale: 10,
      sackPermitted: true,
      hasTimestamp: true,
      tsVal: 0xb4d60ca5,
      tsEcr: 0,
    })
  })

  it("emits the same option layout as Linux (MSS, SACK-permitted + TS, NOP + WS)", () => {
    const p = parseTcp(LINUX_SYNACK, LO, LO, false)
    if (!p.ok) throw new Error(p.reason)
    const t = p.tcp
    const h = emitTcpHeader({
      srcPort: t.srcPort,
      dstPort: t.dstPort,
      seq: t.seq,
      ack: t.ack,
      flags: t.flags,
      window: t.window,
      mss: t.mss,
      wscale: t.wscale,
      sackPermitted: t.sackPermitted,
      timestamp: t.hasTimestamp,
      tsVal: t.tsVal,
      tsEcr: t.tsEcr,
    })
    const golden = LINUX_SYNACK.slice()
    put16(golden, 16, 0) // our header leaves the checksum to the IP layer
    expect(h).toEqual(golden)
  })

  it("parse(emit(x)) round-trips SACK blocks with timestamps", () => {
    const f: TcpHeaderFields = {
      srcPort: 1,
      dstPort: 2,
      seq: 0xfffffff0,
      ack: 17,
      flags: ACK,
      window: 1234,
      timestamp: true,
      tsVal: 99,
      tsEcr: 98,
      sack: [100, 200, 300, 400, 0xfffffff0, 5],
    }
    const seg = assembleSegment(emitTcpHeader(f), new Uint8Array([1, 2, 3]), LO, LO)
    const p = parseTcp(seg, LO, LO)
    if (!p.ok) throw new Error(p.reason)
    expect(p.tcp).toMatchObject({ seq: 0xfffffff0, ack: 17, window: 1234, tsVal: 99, tsEcr: 98, sack: f.sack })
    expect(seg.subarray(p.tcp.headerLength)).toEqual(new Uint8Array([1, 2, 3]))
  })

  it("verifying with the SIMD sum (checksum-simd.ts) accepts and refuses the same segments", () => {
    const simd = createSimdSum16()
    expect(simd).toBeTypeOf("function")
    const payload = new Uint8Array(1460).map((_, i) => (i * 7) & 0xff)
    const seg = assembleSegment(emitTcpHeader({ srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: ACK, window: 5 }), payload, LO, LO)
    expect(tcpChecksum(seg, LO, LO, simd)).toBe(0)
    expect(parseTcp(seg, LO, LO, true, simd).ok).toBe(true)
    seg[700]! ^= 0x10
    expect(parseTcp(seg, LO, LO, true, simd)).toEqual({ ok: false, reason: "tcp: bad checksum" })
    expect(parseTcp(seg, LO, LO).ok).toBe(false)
  })

  it("a correct checksum verifies to zero and a flipped bit does not", () => {
    const seg = assembleSegment(emitTcpHeader({ srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: ACK, window: 5 }), new Uint8Array([9, 8, 7]), LO, LO)
    expect(tcpChecksum(seg, LO, LO)).toBe(0)
    seg[21]! ^= 1
    const p = parseTcp(seg, LO, LO)
    expect(p.ok).toBe(false)
  })

  it("rejects truncated headers and bad data offsets", () => {
    expect(parseTcp(new Uint8Array(19), LO, LO, false).ok).toBe(false)
    const h = emitTcpHeader({ srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: ACK, window: 5 })
    h[12] = 4 << 4
    expect(parseTcp(h, LO, LO, false).ok).toBe(false)
    h[12] = 15 << 4
    expect(parseTcp(h, LO, LO, false).ok).toBe(false)
  })

  it("a malformed option list ends option parsing without dropping the segment", () => {
    const h = new Uint8Array(24)
    h[12] = 6 << 4
    h[13] = SYN
    h[20] = 2 // MSS kind with length 1: malformed
    h[21] = 1
    const p = parseTcp(h, LO, LO, false)
    expect(p.ok && p.tcp.mss).toBe(-1)
  })

  it("the layer drops a segment with a bad checksum with a debug log and no reply", () => {
    const s = createTcpLayer(1)
    const seg = assembleSegment(emitTcpHeader({ srcPort: 1, dstPort: 2, seq: 3, ack: 0, flags: SYN, window: 5 }), undefined, LO, LO)
    seg[4]! ^= 0xff
    const ctx = { now: instant(0), mtu: 1500, hostEndpointFor: () => undefined, newSocket: socketId(1) }
    const [, out] = checkedReduce((st: typeof s, e: TcpSegmentIn) => tcpFromGuest(st, ctx, e), s, { src: LO, dst: LO, ttl: 64, ipHeader: new Uint8Array(20), segment: seg })
    expect(out).toEqual([{ _tag: "Log", level: "debug", message: "tcp: dropped segment from guest: tcp: bad checksum" }])
  })
})
