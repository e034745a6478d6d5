import { describe, expect, it } from "vitest"
import { BOOTREQUEST, DHCPACK, DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, OPT, emitDhcp, optIpv4, optU8, parseDhcp } from "../../../src/protocol/dhcp/wire.ts"
import { REASS_MAX_DATAGRAMS } from "../../../src/protocol/ipv4/reassembly.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC } from "../../../src/protocol/wire/mac.ts"
import { StackDriver, ofTag } from "./driver.ts"
import { DNS, GUEST, GUEST_MAC, GW_MAC, HOST, bytes, decode, ether, ipv4Packet, udpSegment, udpFrame } from "./frames.ts"

const dhcpFrame = (type: number, extra: ReadonlyArray<readonly [number, Uint8Array]> = []) => {
  const msg = emitDhcp({ op: BOOTREQUEST, xid: 0x1234abcd, chaddr: GUEST_MAC, options: [[OPT.messageType, optU8(type)], ...extra] }).bytes
  return ether(BROADCAST_MAC, 0x0800, ipv4Packet(0, 0xffffffff, 17, udpSegment(0, 0xffffffff, 68, 67, msg)))
}

describe("stack: DHCP through the stack", () => {
  it("DISCOVER gets an OFFER of 10.0.2.15, REQUEST an ACK with router, DNS and netmask; the lease teaches ARP", () => {
    const d = new StackDriver()
    d.frame(dhcpFrame(DHCPDISCOVER))
    const offer = decode(d.framesOut()[0]!)
    expect(offer.ip!.src).toBe(HOST)
    const o = parseDhcp(offer.ip!.payload.subarray(8))
    if (!o.ok) throw new Error(o.reason)
    expect(o.msg.opts.messageType).toBe(DHCPOFFER)
    expect(o.msg.yiaddr).toBe(GUEST)
    d.frame(dhcpFrame(DHCPREQUEST, [[50, optIpv4(GUEST)], [54, optIpv4(HOST)]]))
    const ack = parseDhcp(decode(d.framesOut()[0]!).ip!.payload.subarray(8))
    if (!ack.ok) throw new Error(ack.reason)
    expect(ack.msg.opts.messageType).toBe(DHCPACK)
    expect(ack.msg.yiaddr).toBe(GUEST)
    expect(ack.msg.opts.routers).toEqual([HOST])
    expect(ack.msg.opts.dnsServers).toEqual([DNS])
    expect(ack.msg.opts.subnetMask).toBe(ipv4(255, 255, 255, 0))
    // ARP now knows the guest: a ping reply goes straight to its MAC.
    expect(d.state.ipv4.neighbors.cache.get(GUEST)).toEqual(GUEST_MAC)
  })
})

const fragments = (payload: Uint8Array, id: number, sizes: ReadonlyArray<number>) => {
  // Fragments of a UDP datagram GUEST -> HOST:7777 cut at the given payload sizes.
  const seg = udpSegment(GUEST, HOST, 40000, 7777, payload)
  const out: Array<Uint8Array> = []
  let off = 0
  for (const [i, n] of sizes.entries()) {
    const last = i === sizes.length - 1
    const len = last ? seg.length - off : n
    out.push(ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 17, seg.subarray(off, off + len), { id, mf: !last, fragOffset: off })))
    off += len
  }
  return out
}

describe("stack: IPv4 reassembly limits", () => {
  const data = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff)

  it("fragments in any order are reassembled and forwarded as one datagram", () => {
    const d = new StackDriver()
    const [a, b, c] = fragments(data, 77, [1480, 1480, 0])
    for (const f of [c!, a!, b!]) d.frame(f)
    const sends = ofTag(d.take(), "UdpSend")
    expect(sends).toHaveLength(1)
    expect([...sends[0]!.data]).toEqual([...data])
    expect(d.timers.size).toBe(1) // only the UDP sweep; the reassembly timer was cancelled
  })

  it("an overlapping fragment drops the whole datagram", () => {
    const d = new StackDriver()
    const [a, , c] = fragments(data, 78, [1480, 1480, 0])
    d.frame(a!)
    // A fragment at offset 1472 overlaps the first one's last 8 bytes.
    const seg = udpSegment(GUEST, HOST, 40000, 7777, data)
    d.frame(ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 17, seg.subarray(1472, 2960), { id: 78, mf: true, fragOffset: 1472 })))
    d.frame(c!)
    expect(ofTag(d.take(), "UdpSend")).toEqual([])
    expect(d.log.some((l) => l.includes("overlapping"))).toBe(true)
  })

  it("a datagram that would exceed 65535 bytes is dropped", () => {
    const d = new StackDriver()
    const chunk = new Uint8Array(1480)
    d.frame(ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 17, chunk, { id: 5, mf: false, fragOffset: 65528 })))
    expect(d.take().filter((e) => e._tag !== "Log")).toEqual([])
    expect(d.log.some((l) => l.includes("beyond 65535"))).toBe(true)
  })

  it("an incomplete datagram is dropped after 30 s, and its memory released", () => {
    const d = new StackDriver()
    const [a] = fragments(data, 79, [1480, 1480, 0])
    d.frame(a!)
    expect(d.state.reassembly.bytes).toBe(1480)
    d.advance(29_000)
    expect(d.state.reassembly.datagrams.size).toBe(1)
    d.advance(2_000)
    expect(d.state.reassembly.datagrams.size).toBe(0)
    expect(d.state.reassembly.bytes).toBe(0)
  })

  it(`at most ${REASS_MAX_DATAGRAMS} datagrams are held at once`, () => {
    const d = new StackDriver()
    for (let id = 0; id < REASS_MAX_DATAGRAMS + 10; id++) d.frame(fragments(data, 1000 + id, [1480, 1480, 0])[0]!)
    expect(d.state.reassembly.datagrams.size).toBe(REASS_MAX_DATAGRAMS)
  })

  it("a truncated fragment (IP length beyond the frame) is dropped before reassembly", () => {
    const d = new StackDriver()
    const [a] = fragments(data, 80, [1480, 1480, 0])
    d.frame(a!.subarray(0, 600))
    expect(d.state.reassembly.datagrams.size).toBe(0)
  })
})

describe("stack: shutdown", () => {
  it("closes every host socket and cancels timers", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, HOST, 40000, 7777, bytes("x")))
    d.frame(udpFrame(GUEST, HOST, 40001, 7777, bytes("x")))
    const opened = ofTag(d.take(), "UdpOpen").map((o) => o.sock)
    d.event({ _tag: "Shutdown" })
    expect(ofTag(d.take(), "SocketClose").map((c) => c.sock).sort()).toEqual(opened.sort())
    expect(d.timers.size).toBe(0)
  })
})
