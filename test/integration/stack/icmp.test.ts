import { describe, expect, it } from "vitest"
import { get16 } from "../../../src/protocol/wire/bytes.ts"
import { checksum } from "../../../src/protocol/wire/checksum.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { StackDriver, ofTag } from "./driver.ts"
import { DNS, GUEST, HOST, bytes, decode, pingFrame } from "./frames.ts"

const REMOTE = ipv4(192, 0, 2, 9)

describe("stack: ICMP echo", () => {
  for (const [name, addr] of [["gateway", HOST], ["DNS address", DNS]] as const) {
    it(`echo to the ${name} is answered locally with the same id, sequence and data`, () => {
      const d = new StackDriver()
      d.frame(pingFrame(addr, 0x1234, 7, bytes("hello ping")))
      const fx = d.take()
      expect(ofTag(fx, "IcmpOpen")).toEqual([])
      const [f] = ofTag(fx, "DeliverFrame")
      const r = decode(f!.frame)
      expect(r.ip!.src).toBe(addr)
      expect(r.ip!.dst).toBe(GUEST)
      expect(r.ip!.headerOk).toBe(true)
      const m = r.ip!.payload
      expect(m[0]).toBe(0)
      expect(get16(m, 4)).toBe(0x1234)
      expect(get16(m, 6)).toBe(7)
      expect(new TextDecoder().decode(m.subarray(8))).toBe("hello ping")
      expect(checksum(m, 0, m.length)).toBe(0)
    })
  }

  it("echo to an external address opens one ping socket per guest id and sends with TTL - 1", () => {
    const d = new StackDriver()
    d.frame(pingFrame(REMOTE, 99, 1, bytes("abc"), { ttl: 64 }))
    d.frame(pingFrame(REMOTE, 99, 2, bytes("abc"), { ttl: 64 }))
    const fx = d.take()
    const opens = ofTag(fx, "IcmpOpen")
    expect(opens).toHaveLength(1)
    const sends = ofTag(fx, "IcmpEchoSend")
    expect(sends.map((s) => [s.sock, s.to, s.sequence, s.ttl])).toEqual([
      [opens[0]!.sock, "192.0.2.9", 1, 63],
      [opens[0]!.sock, "192.0.2.9", 2, 63],
    ])
    // The host's reply comes back with the guest's identifier.
    d.event({ _tag: "HostIcmpEchoReply", sock: opens[0]!.sock, from: "192.0.2.9", sequence: 2, payload: bytes("abc"), ttl: 50 })
    const r = decode(d.framesOut()[0]!)
    expect(r.ip!.src).toBe(REMOTE)
    expect(r.ip!.ttl).toBe(50)
    expect(get16(r.ip!.payload, 4)).toBe(99)
    expect(get16(r.ip!.payload, 6)).toBe(2)
  })

  it("TTL 1 to an external address gets time exceeded from the gateway, quoting the request", () => {
    const d = new StackDriver()
    const ping = pingFrame(REMOTE, 5, 1, bytes("t"), { ttl: 1 })
    d.frame(ping)
    const fx = d.take()
    expect(ofTag(fx, "IcmpEchoSend")).toEqual([])
    const r = decode(ofTag(fx, "DeliverFrame")[0]!.frame)
    expect(r.ip!.src).toBe(HOST)
    expect(r.ip!.payload[0]).toBe(11)
    expect([...r.ip!.payload.subarray(8, 8 + 28)]).toEqual([...ping.subarray(14, 14 + 28)])
  })

  it("a host that forbids ping sockets is logged once, then echoes are dropped", () => {
    const d = new StackDriver()
    d.frame(pingFrame(REMOTE, 5, 1, bytes("t")))
    const sock = ofTag(d.take(), "IcmpOpen")[0]!.sock
    d.event({ _tag: "HostSocketError", sock, code: "EACCES" })
    d.frame(pingFrame(REMOTE, 6, 1, bytes("t")))
    d.frame(pingFrame(REMOTE, 7, 1, bytes("t")))
    expect(ofTag(d.take(), "IcmpOpen")).toEqual([])
    expect(d.log.filter((l) => l.startsWith("warn: icmp"))).toHaveLength(1)
  })

  it("a host unreachable report becomes destination unreachable to the guest", () => {
    const d = new StackDriver()
    d.frame(pingFrame(REMOTE, 5, 1, bytes("t")))
    const sock = ofTag(d.take(), "IcmpOpen")[0]!.sock
    d.event({ _tag: "HostUnreachable", sock, to: { family: 4, address: "192.0.2.9", port: 0 }, reason: "host" })
    const r = decode(d.framesOut()[0]!)
    expect(r.ip!.dst).toBe(GUEST)
    expect([r.ip!.payload[0], r.ip!.payload[1]]).toEqual([3, 1])
    expect(checksum(r.ip!.payload, 0, r.ip!.payload.length)).toBe(0)
    // Quoted: an IPv4 header GUEST -> REMOTE, then the echo header with the guest's id.
    const q = r.ip!.payload.subarray(8)
    expect(q[9]).toBe(1)
    expect(get16(q, 20 + 4)).toBe(5)
  })

  it("echo flows are closed after a minute idle", () => {
    const d = new StackDriver()
    d.frame(pingFrame(REMOTE, 5, 1, bytes("t")))
    const sock = ofTag(d.take(), "IcmpOpen")[0]!.sock
    d.advance(30_000)
    expect(ofTag(d.take(), "SocketClose")).toEqual([])
    d.advance(40_000)
    expect(ofTag(d.take(), "SocketClose").map((c) => c.sock)).toEqual([sock])
    expect(d.timers.size).toBe(0)
  })

  it("bad ICMP checksums and echoes into the empty virtual network are dropped", () => {
    const d = new StackDriver()
    const f = pingFrame(HOST, 1, 1, bytes("x"))
    f[14 + 20 + 2]! ^= 0xff
    d.frame(f)
    d.frame(pingFrame(ipv4(10, 0, 2, 99), 1, 1, bytes("x")))
    expect(d.take().filter((e) => e._tag !== "Log")).toEqual([])
  })
})
