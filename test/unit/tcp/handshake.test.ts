/** Opening handshakes in both directions (RFC 9293 §3.5, §3.10.7) and the host connect outcomes. */
import { describe, expect, it } from "vitest"
import { ACK, FIN, RST, SYN } from "../../../src/protocol/tcp/wire.ts"
import { tcpConnections } from "../../../src/protocol/tcp/layer.ts"
import {
  BARE,
  effects,
  established,
  FULL,
  GPORT,
  GUEST,
  GUEST_ISS,
  HOST_EP,
  icmps,
  only,
  REMOTE,
  Rig,
  RPORT,
  segs,
  synArrived,
  synReceived,
} from "./fixtures.ts"

describe("LISTEN (implicit) and the host connect", () => {
  it("Listen: SYN -> TcpConnect to hostEndpointFor, SYN-ACK withheld", () => {
    const rig = new Rig()
    const out = rig.guest({ seq: GUEST_ISS, flags: SYN, mss: 1460 })
    expect(segs(out)).toHaveLength(0)
    const c = only(effects(out).filter((e) => e._tag === "TcpConnect"))
    expect(c).toMatchObject({ _tag: "TcpConnect", to: HOST_EP })
    expect(rig.conn().state).toBe("SynReceived")
  })

  it("Listen: SYN refused by hostEndpointFor -> RST|ACK acknowledging the SYN", () => {
    const rig = new Rig()
    rig.refuse = true
    const s = only(segs(rig.guest({ seq: GUEST_ISS, flags: SYN })))
    expect(s.tcp.flags).toBe(RST | ACK)
    expect(s.tcp.ack).toBe(GUEST_ISS + 1)
    expect(s.tcp.seq).toBe(0)
    expect(rig.count()).toBe(0)
  })

  it("Closed: ACK for an unknown connection -> RST with seq = SEG.ACK", () => {
    const rig = new Rig()
    const s = only(segs(rig.guest({ seq: 5, ack: 777, flags: ACK })))
    expect(s.tcp.flags).toBe(RST)
    expect(s.tcp.seq).toBe(777)
  })

  it("Closed: RST for an unknown connection -> nothing", () => {
    const rig = new Rig()
    expect(rig.guest({ seq: 5, flags: RST })).toHaveLength(0)
  })

  it("SynReceived(connecting): the guest's retransmitted SYN is dropped", () => {
    const rig = new Rig()
    synArrived(rig)
    const out = rig.guest({ seq: GUEST_ISS, flags: SYN, mss: 1460 })
    expect(segs(out)).toHaveLength(0)
    expect(effects(out).filter((e) => e._tag === "TcpConnect")).toHaveLength(0)
    expect(rig.count()).toBe(1)
  })

  it("SynReceived(connecting): host connected -> SYN-ACK with MSS = mtu - 40, WS, SACK-permitted, TS echo", () => {
    const rig = new Rig({}, 9000)
    const { synAck } = synReceived(rig, FULL)
    expect(synAck.tcp.flags).toBe(SYN | ACK)
    expect(synAck.tcp.ack).toBe(GUEST_ISS + 1)
    expect(synAck.tcp.mss).toBe(8960)
    expect(synAck.tcp.wscale).toBeGreaterThan(0)
    expect(synAck.tcp.sackPermitted).toBe(true)
    expect(synAck.tcp.hasTimestamp).toBe(true)
    expect(synAck.tcp.tsEcr).toBe(5000)
  })

  it("SynReceived(connecting): a guest without options gets only MSS back", () => {
    const rig = new Rig()
    const { synAck } = synReceived(rig, BARE)
    expect(synAck.tcp.mss).toBe(1460)
    expect(synAck.tcp.wscale).toBe(-1)
    expect(synAck.tcp.sackPermitted).toBe(false)
    expect(synAck.tcp.hasTimestamp).toBe(false)
    expect(rig.conn().sndMss).toBe(536) // RFC 9293 §3.7.1 default MSS
  })

  it("SynReceived(connecting): the guest's MSS is clamped to our MTU", () => {
    const rig = new Rig({}, 1500)
    synReceived(rig, { mss: 9000 })
    expect(rig.conn().sndMss).toBe(1460)
  })

  it("SynReceived(connecting): ECONNREFUSED -> RST|ACK acknowledging the SYN, Closed", () => {
    const rig = new Rig()
    const sock = synArrived(rig)
    const out = rig.hostError(sock, "ECONNREFUSED")
    const s = only(segs(out))
    expect(s.tcp.flags).toBe(RST | ACK)
    expect(s.tcp.ack).toBe(GUEST_ISS + 1)
    expect(rig.count()).toBe(0)
    expect(effects(out).some((e) => e._tag === "Log")).toBe(true)
  })

  it("SynReceived(connecting): EHOSTUNREACH -> ICMP host unreachable quoting the SYN", () => {
    const rig = new Rig()
    const sock = synArrived(rig)
    const out = rig.hostError(sock, "EHOSTUNREACH")
    expect(segs(out)).toHaveLength(0)
    const e = only(icmps(out))
    expect(e).toMatchObject({ family: 4, reason: "host", src: REMOTE })
    expect(e.original.length).toBe(28)
    expect(e.original[0]).toBe(0x45)
    expect((e.original[20]! << 8) | e.original[21]!).toBe(GPORT)
    expect(rig.count()).toBe(0)
  })

  it("SynReceived(connecting): ENETUNREACH -> ICMP net unreachable", () => {
    const rig = new Rig()
    const sock = synArrived(rig)
    expect(only(icmps(rig.hostError(sock, "ENETUNREACH"))).reason).toBe("net")
  })

  it("SynReceived(connecting): a hanging host connect times out -> RST to the guest, TcpReset, log", () => {
    const rig = new Rig({ connectTimeoutMs: 75_000 })
    const sock = synArrived(rig)
    expect(rig.advance(74_000)).toHaveLength(0)
    const out = rig.advance(1_000)
    expect(only(segs(out)).tcp.flags).toBe(RST | ACK)
    expect(effects(out)).toContainEqual({ _tag: "TcpReset", sock })
    expect(effects(out).some((e) => e._tag === "Log" && e.message.includes("timed out"))).toBe(true)
    expect(rig.count()).toBe(0)
  })

  it("SynReceived(connecting): guest RST -> host connect abandoned", () => {
    const rig = new Rig()
    const sock = synArrived(rig)
    const out = rig.guest({ seq: GUEST_ISS + 1, flags: RST })
    expect(effects(out)).toContainEqual({ _tag: "TcpReset", sock })
    expect(rig.count()).toBe(0)
  })
})

describe("SYN-RECEIVED", () => {
  it("SynReceived: ACK of our SYN-ACK -> Established", () => {
    const rig = new Rig()
    established(rig)
    expect(rig.conn().state).toBe("Established")
  })

  it("SynReceived: the guest's SYN again (our SYN-ACK lost) -> SYN-ACK again", () => {
    const rig = new Rig()
    const { synAck } = synReceived(rig)
    const again = only(segs(rig.guest({ seq: GUEST_ISS, flags: SYN, mss: 1460, wscale: 7, sackPermitted: true, ts: [5100, 0] })))
    expect(again.tcp.flags).toBe(SYN | ACK)
    expect(again.tcp.seq).toBe(synAck.tcp.seq)
  })

  it("SynReceived: RST with SEG.SEQ = RCV.NXT -> Closed, TcpReset, log", () => {
    const rig = new Rig()
    const { sock } = synReceived(rig)
    const out = rig.guest({ seq: GUEST_ISS + 1, flags: RST })
    expect(effects(out)).toContainEqual({ _tag: "TcpReset", sock })
    expect(effects(out).some((e) => e._tag === "Log")).toBe(true)
    expect(rig.count()).toBe(0)
  })

  it("SynReceived: RST in window but not at RCV.NXT -> challenge ACK (RFC 5961 §3.2)", () => {
    const rig = new Rig()
    synReceived(rig)
    const s = only(segs(rig.guest({ seq: GUEST_ISS + 100, flags: RST })))
    expect(s.tcp.flags & (RST | ACK)).toBe(ACK)
    expect(rig.conn().state).toBe("SynReceived")
  })

  it("SynReceived: unacceptable ACK -> RST with seq = SEG.ACK", () => {
    const rig = new Rig()
    const { synAck } = synReceived(rig)
    const bad = (synAck.tcp.seq + 1000) >>> 0
    const s = only(segs(rig.guest({ seq: GUEST_ISS + 1, ack: bad, flags: ACK })))
    expect(s.tcp.flags).toBe(RST)
    expect(s.tcp.seq).toBe(bad)
  })

  it("SynReceived: SYN-ACK retransmitted with exponential backoff, then reset after the SYN limit", () => {
    const rig = new Rig({ initialRtoMs: 1000, maxSynRetransmits: 3 })
    const { sock } = synReceived(rig)
    const times: Array<number> = []
    for (let i = 0; i < 20 && rig.count() > 0; i++) {
      const deadline = Math.min(...rig.armed().values())
      const out = rig.advance(deadline - rig.now)
      for (const s of segs(out)) if (s.tcp.flags === (SYN | ACK)) times.push(rig.now)
      if (effects(out).some((e) => e._tag === "TcpReset")) {
        expect(effects(out)).toContainEqual({ _tag: "TcpReset", sock })
      }
    }
    expect(times).toEqual([1000, 3000, 7000])
    expect(rig.count()).toBe(0)
  })
})

describe("SYN-SENT (active open toward the guest)", () => {
  const open = (rig: Rig) => {
    const { sock, out } = rig.connectToGuest({ guestIp: GUEST, guestPort: GPORT, remoteIp: REMOTE, remotePort: RPORT })
    return { sock, syn: only(segs(out)) }
  }

  it("SynSent: our SYN offers MSS, WS, SACK-permitted and timestamps", () => {
    const rig = new Rig()
    const { syn } = open(rig)
    expect(syn.tcp.flags).toBe(SYN)
    expect(syn.tcp.mss).toBe(1460)
    expect(syn.tcp.wscale).toBeGreaterThanOrEqual(0)
    expect(syn.tcp.sackPermitted).toBe(true)
    expect(syn.tcp.hasTimestamp).toBe(true)
    expect(rig.conn().state).toBe("SynSent")
  })

  it("SynSent: SYN-ACK -> Established and ACK", () => {
    const rig = new Rig()
    const { syn } = open(rig)
    const out = rig.guest({ seq: 9000, ack: syn.tcp.seq + 1, flags: SYN | ACK, mss: 1400, wscale: 2, sackPermitted: true, ts: [1, syn.tcp.tsVal] })
    const a = only(segs(out))
    expect(a.tcp.flags).toBe(ACK)
    expect(a.tcp.ack).toBe(9001)
    const c = rig.conn()
    expect(c.state).toBe("Established")
    expect(c.sndMss).toBe(1400 - 12)
    expect(c.sackOk && c.tsOk && c.wsOk).toBe(true)
  })

  it("SynSent: RST acknowledging our SYN -> Closed, TcpReset to the host client", () => {
    const rig = new Rig()
    const { sock, syn } = open(rig)
    const out = rig.guest({ seq: 0, ack: syn.tcp.seq + 1, flags: RST | ACK })
    expect(effects(out)).toContainEqual({ _tag: "TcpReset", sock })
    expect(rig.count()).toBe(0)
  })

  it("SynSent: RST without ACK -> ignored", () => {
    const rig = new Rig()
    open(rig)
    expect(rig.guest({ seq: 0, flags: RST })).toHaveLength(0)
    expect(rig.conn().state).toBe("SynSent")
  })

  it("SynSent: ACK outside (ISS, SND.NXT] -> RST with seq = SEG.ACK", () => {
    const rig = new Rig()
    const { syn } = open(rig)
    const s = only(segs(rig.guest({ seq: 9000, ack: syn.tcp.seq + 50, flags: SYN | ACK })))
    expect(s.tcp.flags).toBe(RST)
    expect(s.tcp.seq).toBe((syn.tcp.seq + 50) >>> 0)
    expect(rig.conn().state).toBe("SynSent")
  })

  it("SynSent: a SYN without ACK (simultaneous open) -> SynReceived and SYN-ACK", () => {
    const rig = new Rig()
    const { syn } = open(rig)
    const s = only(segs(rig.guest({ seq: 9000, flags: SYN, mss: 1460 })))
    expect(s.tcp.flags).toBe(SYN | ACK)
    expect(s.tcp.seq).toBe(syn.tcp.seq)
    expect(rig.conn().state).toBe("SynReceived")
    rig.guest({ seq: 9001, ack: syn.tcp.seq + 1, flags: ACK })
    expect(rig.conn().state).toBe("Established")
  })

  it("SynSent: no answer -> SYN retransmitted, then reset after the SYN limit", () => {
    const rig = new Rig({ maxSynRetransmits: 2 })
    const { sock } = open(rig)
    let syns = 1
    let reset = false
    for (let i = 0; i < 10 && rig.count() > 0; i++) {
      const out = rig.advance(Math.min(...rig.armed().values()) - rig.now)
      syns += segs(out).filter((s) => s.tcp.flags === SYN).length
      reset ||= effects(out).some((e) => e._tag === "TcpReset" && e.sock === sock)
    }
    expect(syns).toBe(3)
    expect(reset).toBe(true)
  })
})

describe("the connection table", () => {
  it("two guest ports to the same destination are separate connections with separate sockets", () => {
    const rig = new Rig()
    rig.guest({ seq: 1, flags: SYN, srcPort: 1111 })
    rig.guest({ seq: 1, flags: SYN, srcPort: 2222 })
    const socks = [...tcpConnections(rig.s)].map((c) => c.sock)
    expect(new Set(socks).size).toBe(2)
    expect(socks.every((s) => s < 0x40000000)).toBe(true)
  })

  it("a SYN beyond maxConnections -> RST|ACK and a warning, no host connect", () => {
    const rig = new Rig({ maxConnections: 2 })
    rig.guest({ seq: 1, flags: SYN, srcPort: 1111 })
    rig.guest({ seq: 1, flags: SYN, srcPort: 2222 })
    const out = rig.guest({ seq: 1, flags: SYN, srcPort: 3333 })
    expect(only(segs(out)).tcp.flags).toBe(RST | ACK)
    expect(effects(out).some((e) => e._tag === "TcpConnect")).toBe(false)
    expect(effects(out).some((e) => e._tag === "Log" && e.level === "warn")).toBe(true)
    expect(rig.count()).toBe(2)
  })

  it("a FIN for an unknown connection -> RST|ACK acknowledging it", () => {
    const rig = new Rig()
    const s = only(segs(rig.guest({ seq: 10, flags: FIN })))
    expect(s.tcp.flags).toBe(RST | ACK)
    expect(s.tcp.ack).toBe(11)
  })
})
