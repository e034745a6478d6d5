import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import { ARP_LEN, ARP_REPLY, ARP_REQUEST, emitArpFrame, parseArp } from "../../../src/protocol/ethernet/arp-wire.ts"
import { ETH_MIN_FRAME } from "../../../src/protocol/ethernet/wire.ts"
import { fromHex, put16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC, ZERO_MAC, formatMac } from "../../../src/protocol/wire/mac.ts"
import { rng } from "../wire/prng.ts"

const GUEST_MAC = fromHex("525400123456")
const ROUTER_MAC = fromHex("52550a000202")
const GUEST_IP = ipv4(10, 0, 2, 15)
const ROUTER_IP = ipv4(10, 0, 2, 2)

const arpOf = (name: string) => {
  const p = parseArp(golden(name), 14)
  if (!p.ok) throw new Error(`${name}: ${p.reason}`)
  return p.packet
}

describe("ARP wire (golden)", () => {
  it("arp: captured request who-has 10.0.2.2 tell 10.0.2.15", () => {
    // decoded.txt: Opcode request (1), sender 52:54:00:12:34:56 10.0.2.15, target 00:..:00 10.0.2.2
    const a = arpOf("arp-request")
    expect(a.op).toBe(ARP_REQUEST)
    expect(formatMac(a.sha)).toBe("52:54:00:12:34:56")
    expect(a.spa).toBe(GUEST_IP)
    expect(formatMac(a.tha)).toBe("00:00:00:00:00:00")
    expect(a.tpa).toBe(ROUTER_IP)
  })

  it("arp: captured reply 10.0.2.2 is-at 52:55:0a:00:02:02", () => {
    const a = arpOf("arp-reply")
    expect(a.op).toBe(ARP_REPLY)
    expect(formatMac(a.sha)).toBe("52:55:0a:00:02:02")
    expect(a.spa).toBe(ROUTER_IP)
    expect(formatMac(a.tha)).toBe("52:54:00:12:34:56")
    expect(a.tpa).toBe(GUEST_IP)
  })

  it("arp: captured gratuitous ARP has sender = target = 10.0.2.15 and tha broadcast", () => {
    const a = arpOf("arp-gratuitous")
    expect(a.op).toBe(ARP_REQUEST)
    expect(a.spa).toBe(GUEST_IP)
    expect(a.tpa).toBe(GUEST_IP)
    expect(formatMac(a.sha)).toBe("52:54:00:12:34:56")
    expect(formatMac(a.tha)).toBe("ff:ff:ff:ff:ff:ff")
  })

  it("arp: sha/tha are views into the frame (no copy)", () => {
    const f = golden("arp-request")
    const p = parseArp(f, 14)
    if (!p.ok) throw new Error(p.reason)
    expect(p.packet.sha.buffer).toBe(f.buffer)
    f[22] = 0x99
    expect(p.packet.sha[0]).toBe(0x99)
  })

  it("arp: emitArpFrame reproduces the captured reply byte for byte (plus padding to 60)", () => {
    const captured = golden("arp-reply")
    const f = emitArpFrame(GUEST_MAC, ARP_REPLY, ROUTER_MAC, ROUTER_IP, GUEST_MAC, GUEST_IP)
    expect(f.length).toBe(ETH_MIN_FRAME)
    expect(toHex(f.subarray(0, captured.length))).toBe(toHex(captured))
    expect([...f.subarray(captured.length)].every((b) => b === 0)).toBe(true)
  })

  it("arp: emitArpFrame reproduces the captured request and gratuitous ARP", () => {
    const req = emitArpFrame(BROADCAST_MAC, ARP_REQUEST, GUEST_MAC, GUEST_IP, ZERO_MAC, ROUTER_IP)
    expect(toHex(req.subarray(0, 42))).toBe(toHex(golden("arp-request")))
    const g = emitArpFrame(BROADCAST_MAC, ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, GUEST_IP)
    expect(toHex(g.subarray(0, 42))).toBe(toHex(golden("arp-gratuitous")))
  })

  it("arp: parse(emit(x)) round-trips random fields (seeded)", () => {
    const r = rng(826)
    for (let n = 0; n < 500; n++) {
      const sha = r.bytes(6)
      const tha = r.bytes(6)
      const spa = r.int(0, 0xffffffff)
      const tpa = r.int(0, 0xffffffff)
      const op = r.int(0, 0xffff)
      const p = parseArp(emitArpFrame(r.bytes(6), op, sha, spa, tha, tpa), 14)
      if (!p.ok) throw new Error(p.reason)
      expect(p.packet.op).toBe(op)
      expect(toHex(p.packet.sha)).toBe(toHex(sha))
      expect(toHex(p.packet.tha)).toBe(toHex(tha))
      expect(p.packet.spa).toBe(spa)
      expect(p.packet.tpa).toBe(tpa)
    }
  })

  it("arp: a captured frame padded to 60 bytes parses the same", () => {
    const f = new Uint8Array(60)
    f.set(golden("arp-request"))
    const p = parseArp(f, 14)
    expect(p.ok && p.packet.tpa).toBe(ROUTER_IP)
  })

  it("arp: truncated packets are refused (27 bytes after the header)", () => {
    const f = golden("arp-request").subarray(0, 14 + ARP_LEN - 1)
    const p = parseArp(f, 14)
    expect(p.ok).toBe(false)
  })

  it("arp: wrong hardware type, protocol type or address lengths are refused", () => {
    const mutations: ReadonlyArray<readonly [string, (f: Uint8Array) => void]> = [
      ["htype 6", (f) => put16(f, 14, 6)],
      ["ptype IPv6", (f) => put16(f, 16, 0x86dd)],
      ["hlen 8", (f) => { f[18] = 8 }],
      ["plen 16", (f) => { f[19] = 16 }],
    ]
    for (const [what, mutate] of mutations) {
      const f = golden("arp-request")
      mutate(f)
      expect(parseArp(f, 14).ok, what).toBe(false)
    }
  })

  it("arp: random garbage never throws (seeded)", () => {
    const r = rng(5227)
    for (let n = 0; n < 3000; n++) {
      const f = r.bytes(r.int(0, 64))
      if (f.length >= 20 && n % 2 === 0) f.set([0, 1, 8, 0, 6, 4], 14)
      const p = parseArp(f, 14)
      if (p.ok) expect(f.length).toBeGreaterThanOrEqual(14 + ARP_LEN)
      else expect(typeof p.reason).toBe("string")
    }
  })
})
