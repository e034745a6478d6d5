import { describe, expect, it } from "vitest"
import { get16, get32 } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC, ZERO_MAC } from "../../../src/protocol/wire/mac.ts"
import { StackDriver, ofTag } from "./driver.ts"
import { DNS, GUEST, GUEST_MAC, HOST, arp, bytes, decode, ether, udpFrame } from "./frames.ts"

const arpRequest = (tpa: number, spa = GUEST, sha = GUEST_MAC) => ether(BROADCAST_MAC, 0x0806, arp(1, sha, spa, ZERO_MAC, tpa), sha)

describe("stack: ARP", () => {
  it("answers ARP for the gateway with 52:55:0a:00:02:02, padded to 60 bytes", () => {
    const d = new StackDriver()
    d.frame(arpRequest(HOST))
    const [f, ...rest] = d.framesOut()
    expect(rest).toEqual([])
    expect(decode(f!).ethertype).toBe(0x0806)
    expect([...decode(f!).dstMac]).toEqual([...GUEST_MAC])
    expect(get16(f!, 14 + 6)).toBe(2) // op reply
    expect([...f!.subarray(22, 28)]).toEqual([0x52, 0x55, 10, 0, 2, 2])
    expect(get32(f!, 28)).toBe(HOST)
    expect([...f!.subarray(32, 38)]).toEqual([...GUEST_MAC])
    expect(get32(f!, 38)).toBe(GUEST)
    expect(f!.length).toBe(60)
  })

  it("answers ARP for the DNS address with its own virtual MAC", () => {
    const d = new StackDriver()
    d.frame(arpRequest(DNS))
    const [f] = d.framesOut()
    expect([...f!.subarray(22, 28)]).toEqual([0x52, 0x55, 10, 0, 2, 3])
  })

  it("stays silent for addresses nobody has", () => {
    const d = new StackDriver()
    d.frame(arpRequest(ipv4(10, 0, 2, 77)))
    d.frame(arpRequest(ipv4(192, 168, 1, 1)))
    expect(d.framesOut()).toEqual([])
  })

  it("learns the guest from its IP traffic, and a gratuitous ARP moves it to a new MAC", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, HOST, 5000, 7, bytes("x")))
    const sock = ofTag(d.take(), "UdpOpen")[0]!.sock
    const reply = () => d.event({ _tag: "HostUdpDatagram", sock, from: { family: 4, address: "127.0.0.1", port: 7 }, data: bytes("y") })
    reply()
    expect([...decode(d.framesOut()[0]!).dstMac]).toEqual([...GUEST_MAC])
    const newMac = new Uint8Array([2, 0, 0, 0, 0, 9])
    d.frame(ether(BROADCAST_MAC, 0x0806, arp(1, newMac, GUEST, ZERO_MAC, GUEST), newMac))
    expect(d.framesOut()).toEqual([]) // nothing to answer for a gratuitous ARP
    reply()
    expect([...decode(d.framesOut()[0]!).dstMac]).toEqual([...newMac])
  })

  it("truncated and unknown-hardware ARP is dropped with a debug line", () => {
    const d = new StackDriver()
    d.frame(arpRequest(HOST).subarray(0, 30))
    const bad = arpRequest(HOST)
    bad[15] = 6 // hardware type 6
    d.frame(bad)
    expect(d.framesOut()).toEqual([])
    expect(d.log.filter((l) => l.startsWith("debug: arp"))).toHaveLength(2)
  })
})
