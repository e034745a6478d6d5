/** Retransmission toward the guest: RFC 6298 timer, RFC 5681/6582 fast retransmit, RFC 6675 SACK recovery. */
import { describe, expect, it } from "vitest"
import { ACK, RST } from "../../../src/protocol/tcp/wire.ts"
import { BARE, bytes, effects, established, FULL, only, Rig, segs } from "./fixtures.ts"

describe("retransmission", () => {
  it("Established: RTO expiry retransmits the first unacknowledged segment, and the RTO doubles (RFC 6298 §5.5)", () => {
    const rig = new Rig({ initialRtoMs: 1000, maxRtoMs: 60_000 })
    const e = established(rig, { mss: 1000 })
    rig.hostData(e.sock, bytes(3000))
    const times: Array<number> = []
    for (let i = 0; i < 4; i++) {
      const out = segs(rig.advance(Math.min(...rig.armed().values()) - rig.now))
      const s = only(out)
      expect(s.tcp.seq).toBe(e.ours)
      expect(s.payload.length).toBe(1000) // cwnd collapsed to one segment
      times.push(rig.now)
    }
    expect(times).toEqual([1000, 3000, 7000, 15000])
  })

  it("Established: after an RTO, ACKs grow cwnd again and the rest follows (slow start)", () => {
    const rig = new Rig({ initialRtoMs: 1000 })
    const e = established(rig, { mss: 1000 })
    rig.hostData(e.sock, bytes(5000))
    rig.advance(1000)
    const out = segs(rig.guest({ seq: e.theirs, ack: e.ours + 1000, flags: ACK, window: 65535 }))
    expect(out.map((s) => s.tcp.seq - e.ours)).toEqual([1000, 2000])
  })

  it("Established: retransmission limit -> RST to the guest, TcpReset, logged", () => {
    const rig = new Rig({ initialRtoMs: 1000, maxRetransmits: 3 })
    const e = established(rig, { mss: 1000 })
    rig.hostData(e.sock, bytes(100))
    let last: ReturnType<Rig["advance"]> = []
    for (let i = 0; i < 10 && rig.count() > 0; i++) last = rig.advance(Math.min(...rig.armed().values()) - rig.now)
    expect(rig.count()).toBe(0)
    expect(only(segs(last)).tcp.flags & RST).toBe(RST)
    expect(effects(last)).toContainEqual({ _tag: "TcpReset", sock: e.sock })
    expect(effects(last).some((x) => x._tag === "Log" && x.message.includes("retransmission limit"))).toBe(true)
  })

  it("Established: an ACK of new data restarts the timer and resets the retry count", () => {
    const rig = new Rig({ initialRtoMs: 1000, maxRetransmits: 2 })
    const e = established(rig, { mss: 1000 })
    rig.hostData(e.sock, bytes(3000))
    rig.advance(1000)
    rig.advance(2000)
    rig.guest({ seq: e.theirs, ack: e.ours + 1000, flags: ACK, window: 65535 })
    expect(rig.conn().retries).toBe(0)
    expect(rig.conn().state).toBe("Established")
  })

  it("Established: an ACK of new data after timeouts drops the RTO backoff (no sample needed)", () => {
    const rig = new Rig({ initialRtoMs: 1000, minRtoMs: 200 })
    const e = established(rig, BARE)
    rig.hostData(e.sock, bytes(1000))
    rig.advance(1000)
    rig.advance(2000)
    expect(rig.conn().rtt.rto).toBe(4000)
    rig.guest({ seq: e.theirs, ack: e.ours + 536, flags: ACK })
    expect(rig.conn().rtt.rto).toBe(1000) // back to the initial RTO: no sample yet (Karn)
  })

  it("Established: three duplicate ACKs -> fast retransmit of SND.UNA without waiting for the RTO (RFC 5681 §3.2)", () => {
    const rig = new Rig()
    const e = established(rig, { mss: 1000 })
    rig.hostData(e.sock, bytes(6000))
    const dup = { seq: e.theirs, ack: e.ours, flags: ACK, window: 64240 }
    expect(segs(rig.guest(dup))).toHaveLength(0)
    expect(segs(rig.guest(dup))).toHaveLength(0)
    const out = segs(rig.guest(dup))
    expect(out[0]!.tcp.seq).toBe(e.ours)
    expect(out[0]!.payload.length).toBe(1000)
    expect(rig.conn().inRecovery).toBe(true)
    expect(rig.now).toBe(0)
  })

  it("Recovery (NewReno): a partial ACK retransmits the next hole at once (RFC 6582)", () => {
    const rig = new Rig()
    const e = established(rig, { mss: 1000 })
    rig.hostData(e.sock, bytes(6000))
    const dup = { seq: e.theirs, ack: e.ours, flags: ACK, window: 64240 }
    rig.guest(dup)
    rig.guest(dup)
    rig.guest(dup)
    const out = segs(rig.guest({ ...dup, ack: e.ours + 1000 }))
    expect(out[0]!.tcp.seq).toBe(e.ours + 1000)
    // A full ACK ends recovery.
    rig.guest({ ...dup, ack: e.ours + 6000 })
    expect(rig.conn().inRecovery).toBe(false)
  })

  it("Recovery (SACK): only the holes the guest reports are retransmitted (RFC 6675)", () => {
    const rig = new Rig()
    const e = established(rig, FULL)
    const mss = rig.conn().sndMss
    rig.hostData(e.sock, bytes(8 * mss))
    // The guest lost segments 0 and 2; it holds 1 and 3..7.
    const at = (n: number) => (e.ours + n * mss) >>> 0
    const ack = (sack: Array<number>) => rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, window: 1000, ts: [6000, 0], sack })
    const out = [
      ...segs(ack([at(1), at(2)])),
      ...segs(ack([at(3), at(5), at(1), at(2)])), // 3 segments SACKed above SND.UNA: recovery
      ...segs(ack([at(3), at(8), at(1), at(2)])),
    ]
    const retx = out.map((s) => s.tcp.seq)
    expect(retx).toEqual([at(0), at(2)])
    expect(out.every((s) => s.payload.length === mss)).toBe(true)
  })

  it("RTT: timestamp echoes give RTT samples; the RTO settles at the 200 ms floor on a fast link", () => {
    const rig = new Rig({ initialRtoMs: 1000, minRtoMs: 200 })
    const e = established(rig, FULL)
    expect(rig.conn().rtt.rto).toBe(200) // the handshake ACK echoed our SYN-ACK's TSval
    rig.hostData(e.sock, bytes(100))
    const sent = only(segs(rig.outputs.slice(-3)))
    rig.now += 5
    rig.guest({ seq: e.theirs, ack: e.ours + 100, flags: ACK, window: 1000, ts: [6000, sent.tcp.tsVal] })
    expect(rig.conn().rtt.srtt).toBeGreaterThan(0)
    expect(rig.conn().rtt.rto).toBe(200)
  })

  it("RTT: after a timeout, an echo of a TSval from before it is not a sample (Karn's rule for timestamps)", () => {
    const rig = new Rig({ initialRtoMs: 1000, minRtoMs: 200 })
    const e = established(rig, FULL)
    rig.hostData(e.sock, bytes(100))
    const original = only(segs(rig.outputs.slice(-3)))
    while (rig.conn().retries === 0) rig.advance(Math.min(...rig.armed().values()) - rig.now) // tail probe, then the RTO
    const srtt = rig.conn().rtt.srtt
    rig.now += 10
    rig.guest({ seq: e.theirs, ack: e.ours + 100, flags: ACK, window: 1000, ts: [6000, original.tcp.tsVal] })
    expect(rig.conn().rtt.srtt).toBe(srtt)
    expect(rig.conn().sndUna).toBe(e.ours + 100)
  })

  it("Established (SACK): no ACK for max(2 * SRTT, 10 ms) -> tail loss probe of the last segment, then the RTO (RFC 8985)", () => {
    const rig = new Rig({ initialRtoMs: 1000, minRtoMs: 200 })
    const e = established(rig, FULL)
    const mss = rig.conn().sndMss
    rig.hostData(e.sock, bytes(4 * mss))
    expect(segs(rig.advance(9))).toHaveLength(0)
    const probe = only(segs(rig.advance(1)))
    expect(probe.tcp.seq).toBe((e.ours + 3 * mss) >>> 0)
    expect(probe.payload.length).toBe(mss)
    expect(rig.conn().retries).toBe(0)
    // The probe's SACK reveals the loss of the first three: recovery, no RTO.
    const out = segs(rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, window: 1000, ts: [6000, probe.tcp.tsVal], sack: [(e.ours + 3 * mss) >>> 0, (e.ours + 4 * mss) >>> 0] }))
    expect(rig.conn().inRecovery).toBe(true)
    expect(out[0]!.tcp.seq).toBe(e.ours)
  })

  it("Established (SACK): after the probe, silence still ends in the RTO", () => {
    const rig = new Rig({ initialRtoMs: 1000, minRtoMs: 200 })
    const e = established(rig, FULL)
    rig.hostData(e.sock, bytes(3000))
    rig.advance(10) // probe
    expect(rig.conn().tlpOut).toBe(true)
    rig.advance(199)
    expect(rig.conn().retries).toBe(0)
    const out = segs(rig.advance(1))
    expect(rig.conn().retries).toBe(1)
    expect(out[0]!.tcp.seq).toBe(e.ours)
  })

  it("Established: early retransmit: a two-segment flight with nothing more to send recovers on one duplicate ACK (RFC 5827)", () => {
    const rig = new Rig()
    const e = established(rig, { mss: 1000 })
    rig.hostData(e.sock, bytes(2000))
    const out = segs(rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, window: 64240 }))
    expect(out[0]!.tcp.seq).toBe(e.ours)
    expect(rig.conn().inRecovery).toBe(true)
  })

  it("Established: limited transmit: the first two duplicate ACKs each release one new segment (RFC 3042)", () => {
    const rig = new Rig({ initialCwndBytes: 4000 })
    const e = established(rig, { mss: 1000 })
    const n = segs(rig.hostData(e.sock, bytes(20_000))).length
    expect(n * 1000).toBe(rig.conn().cwnd - (rig.conn().cwnd % 1000))
    const dup = { seq: e.theirs, ack: e.ours, flags: ACK, window: 64240 }
    expect(segs(rig.guest(dup)).map((s) => s.tcp.seq - e.ours)).toEqual([n * 1000])
    expect(segs(rig.guest(dup)).map((s) => s.tcp.seq - e.ours)).toEqual([(n + 1) * 1000])
  })

  it("RTT without timestamps: Karn timing of one segment", () => {
    const rig = new Rig({ initialRtoMs: 1000, minRtoMs: 200 })
    const e = established(rig, BARE)
    rig.hostData(e.sock, bytes(100))
    rig.now += 300
    rig.guest({ seq: e.theirs, ack: e.ours + 100, flags: ACK })
    expect(rig.conn().rtt.srtt).toBe(300)
    expect(rig.conn().rtt.rto).toBe(900) // 300 + 4 * 150
  })

  it("One runtime timer per connection: many segments arm it once", () => {
    const rig = new Rig()
    const e = established(rig, { mss: 1000 })
    const before = rig.outputs.filter((o) => o._tag === "SetTimer").length
    rig.hostData(e.sock, bytes(50_000))
    const after = rig.outputs.filter((o) => o._tag === "SetTimer").length
    expect(after - before).toBeLessThanOrEqual(1)
    expect(segs(rig.outputs).length).toBeGreaterThan(40)
  })
})
