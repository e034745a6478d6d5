/** Data transfer and flow control in ESTABLISHED, both directions (RFC 9293 §3.8.6, RFC 1122 §4.2.3.2). */
import { describe, expect, it } from "vitest"
import { ACK, FIN, PSH } from "../../../src/protocol/tcp/wire.ts"
import { BARE, bytes, effects, established, FULL, GUEST_ISS, only, Rig, segs, synReceived, written } from "./fixtures.ts"

describe("ESTABLISHED: data from the guest", () => {
  it("Established: in-order data -> one TcpWrite holding a view of the guest's segment, not a copy", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const data = bytes(100)
    const out = rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK | PSH, payload: data })
    const w = only(effects(out).filter((x) => x._tag === "TcpWrite"))
    if (w._tag !== "TcpWrite") throw new Error()
    expect(w.chunks).toHaveLength(1)
    expect(written(w)).toEqual(data)
    // The stack owns the guest's frame from its event on and nobody writes it: a view is safe.
    expect(written(w).buffer).toBe(rig.lastSegment!.buffer)
    expect(written(w).byteOffset).toBe(rig.lastSegment!.byteOffset + 20)
  })

  it("SynReceived: data on the ACK that completes the handshake is delivered", () => {
    const rig = new Rig()
    const { synAck } = synReceived(rig, BARE)
    const out = rig.guest({ seq: GUEST_ISS + 1, ack: synAck.tcp.seq + 1, flags: ACK, payload: bytes(10) })
    expect(rig.conn().state).toBe("Established")
    expect(effects(out).filter((x) => x._tag === "TcpWrite")).toHaveLength(1)
  })

  it("Established: a FIN beyond a hole is not acted on until the hole is filled", () => {
    const rig = new Rig()
    const e = established(rig, FULL)
    const out = rig.guest({ seq: e.theirs + 100, ack: e.ours, flags: ACK | FIN, payload: bytes(10) })
    expect(effects(out).some((x) => x._tag === "TcpShutdownWrite")).toBe(false)
    expect(rig.conn().state).toBe("Established")
    rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: bytes(100) })
    const fin = rig.guest({ seq: e.theirs + 100, ack: e.ours, flags: ACK | FIN, payload: bytes(10) })
    expect(effects(fin).some((x) => x._tag === "TcpShutdownWrite")).toBe(true)
    expect(rig.conn().state).toBe("CloseWait")
    expect(rig.conn().rcvNxt).toBe(e.theirs + 111)
  })

  it("Established: while a host write is in flight, further segments are batched into one TcpWrite", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const all = bytes(3000)
    const w1 = effects(rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: all.subarray(0, 1000) })).filter((x) => x._tag === "TcpWrite")
    expect(w1).toHaveLength(1)
    const w2 = effects(rig.guest({ seq: e.theirs + 1000, ack: e.ours, flags: ACK, payload: all.subarray(1000, 2000) }))
    const w3 = effects(rig.guest({ seq: e.theirs + 2000, ack: e.ours, flags: ACK, payload: all.subarray(2000) }))
    expect([...w2, ...w3].filter((x) => x._tag === "TcpWrite")).toHaveLength(0)
    const flushed = only(effects(rig.hostWritten(e.sock, 1000)).filter((x) => x._tag === "TcpWrite"))
    if (flushed._tag !== "TcpWrite") throw new Error()
    expect(written(flushed)).toEqual(all.subarray(1000))
    expect(rig.conn().hostQueued).toBe(2000)
  })

  it("Established: batched guest data is flushed before the half-close when the guest's FIN arrives", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: bytes(10) })
    const out = effects(rig.guest({ seq: e.theirs + 10, ack: e.ours, flags: ACK | FIN, payload: bytes(10, 2) }))
    expect(out.map((x) => x._tag).filter((t) => t === "TcpWrite" || t === "TcpShutdownWrite")).toEqual(["TcpWrite", "TcpShutdownWrite"])
  })

  it("Established: one small segment -> ACK delayed by 40 ms", () => {
    const rig = new Rig({ delayedAckMs: 40 })
    const e = established(rig, BARE)
    const out = rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: bytes(100) })
    expect(segs(out)).toHaveLength(0)
    expect(segs(rig.advance(39))).toHaveLength(0)
    const a = only(segs(rig.advance(1)))
    expect(a.tcp.ack).toBe(e.theirs + 100)
  })

  it("Established: ACK at least every second full-sized segment (RFC 5681 §4.2)", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    expect(segs(rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: bytes(1460) }))).toHaveLength(0)
    const a = only(segs(rig.guest({ seq: e.theirs + 1460, ack: e.ours, flags: ACK, payload: bytes(1460) })))
    expect(a.tcp.ack).toBe(e.theirs + 2920)
  })

  it("Established: the window is the bound minus bytes not yet reported written to the host", () => {
    const rig = new Rig({ bufferBytes: 20_000 })
    const e = established(rig, BARE) // no window scaling
    rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: bytes(1460) })
    const a = only(segs(rig.guest({ seq: e.theirs + 1460, ack: e.ours, flags: ACK, payload: bytes(1460) })))
    expect(a.tcp.window).toBe(20_000 - 2920)
  })

  it("Established: HostTcpWritten reopening the window by >= 2 MSS -> window update", () => {
    const rig = new Rig({ bufferBytes: 20_000 })
    const e = established(rig, BARE)
    let seq = e.theirs
    for (let i = 0; i < 10; i++) {
      rig.guest({ seq, ack: e.ours, flags: ACK, payload: bytes(1460) })
      seq += 1460
    }
    rig.advance(40)
    expect(segs(rig.hostWritten(e.sock, 1000))).toHaveLength(0)
    const u = only(segs(rig.hostWritten(e.sock, 13600)))
    expect(u.tcp.window).toBe(20_000)
    expect(u.tcp.ack).toBe(seq)
  })

  it("Established: receiver SWS avoidance: the window's right edge moves by at least one MSS", () => {
    const rig = new Rig({ bufferBytes: 20_000 })
    const e = established(rig, BARE)
    const a1 = only(segs(rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK | PSH, payload: bytes(3000) })))
    expect(a1.tcp.window).toBe(17_000)
    rig.hostWritten(e.sock, 1000) // right edge could move by 1000 < MSS: held
    const a2 = only(segs(rig.guest({ seq: e.theirs + 3000, ack: e.ours, flags: ACK, payload: bytes(3000) })))
    expect(a2.tcp.window).toBe(14_000)
    rig.hostWritten(e.sock, 2000) // now 3000 >= MSS: the edge moves
    const a3 = only(segs(rig.guest({ seq: e.theirs + 6000, ack: e.ours, flags: ACK, payload: bytes(3000) })))
    expect(a3.tcp.window).toBe(20_000 - 9000 + 3000)
  })

  it("Established: data beyond the advertised window is trimmed; the rest is acknowledged", () => {
    const rig = new Rig({ bufferBytes: 3000 })
    const e = established(rig, BARE)
    const out = rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK | FIN, payload: bytes(4000) })
    const w = only(effects(out).filter((x) => x._tag === "TcpWrite"))
    if (w._tag !== "TcpWrite") throw new Error()
    expect(written(w).length).toBe(3000)
    expect(effects(out).some((x) => x._tag === "TcpShutdownWrite")).toBe(false) // the FIN was cut off
    expect(rig.conn().state).toBe("Established")
  })

  it("Established: zero window -> the guest's probe byte is refused with an ACK of window 0", () => {
    const rig = new Rig({ bufferBytes: 2920 })
    const e = established(rig, BARE)
    rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: bytes(1460) })
    rig.guest({ seq: e.theirs + 1460, ack: e.ours, flags: ACK, payload: bytes(1460) })
    const out = rig.guest({ seq: e.theirs + 2920, ack: e.ours, flags: ACK, payload: bytes(1) })
    expect(effects(out).filter((x) => x._tag === "TcpWrite")).toHaveLength(0)
    const a = only(segs(out))
    expect(a.tcp.window).toBe(0)
    expect(a.tcp.ack).toBe(e.theirs + 2920)
  })

  it("Established: an old duplicate segment -> immediate ACK, nothing written twice", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: bytes(100) })
    const out = rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: bytes(100) })
    expect(effects(out).filter((x) => x._tag === "TcpWrite")).toHaveLength(0)
    expect(only(segs(out)).tcp.ack).toBe(e.theirs + 100)
  })

  it("Established: out-of-order data -> immediate duplicate ACK with a SACK block", () => {
    const rig = new Rig()
    const e = established(rig, FULL)
    const out = rig.guest({ seq: e.theirs + 1000, ack: e.ours, flags: ACK, payload: bytes(500), ts: [6000, 0] })
    expect(effects(out).filter((x) => x._tag === "TcpWrite")).toHaveLength(0)
    const a = only(segs(out))
    expect(a.tcp.ack).toBe(e.theirs)
    expect(a.tcp.sack).toEqual([e.theirs + 1000, e.theirs + 1500])
  })

  it("Established: the segment filling a hole -> one TcpWrite of the joined bytes and an immediate ACK", () => {
    const rig = new Rig()
    const e = established(rig, FULL)
    const all = bytes(3000)
    rig.guest({ seq: e.theirs + 2000, ack: e.ours, flags: ACK, payload: all.subarray(2000), ts: [6000, 0] })
    rig.guest({ seq: e.theirs + 1000, ack: e.ours, flags: ACK, payload: all.subarray(1000, 2000), ts: [6000, 0] })
    const out = rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: all.subarray(0, 1000), ts: [6000, 0] })
    const w = only(effects(out).filter((x) => x._tag === "TcpWrite"))
    if (w._tag !== "TcpWrite") throw new Error()
    expect(written(w)).toEqual(all)
    const a = only(segs(out))
    expect(a.tcp.ack).toBe(e.theirs + 3000)
    expect(a.tcp.sack).toBeUndefined()
  })

  it("Established: full-sized data segments never carry SACK blocks past the MTU; a bare ACK carries them", () => {
    const rig = new Rig()
    const e = established(rig, FULL)
    const mss = rig.conn().sndMss
    rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, window: 0, ts: [6000, 0] })
    expect(segs(rig.hostData(e.sock, bytes(mss)))).toHaveLength(0) // zero window: waits
    // An out-of-order segment that also opens the window.
    const out = segs(rig.guest({ seq: e.theirs + 1000, ack: e.ours, flags: ACK, window: 1000, payload: bytes(100), ts: [6001, 0] }))
    for (const s of out) expect(20 + s.tcp.headerLength + s.payload.length).toBeLessThanOrEqual(1500)
    const data = only(out.filter((s) => s.payload.length > 0))
    expect(data.payload.length).toBe(mss)
    expect(data.tcp.sack).toBeUndefined()
    expect(only(out.filter((s) => s.payload.length === 0)).tcp.sack).toEqual([e.theirs + 1000, e.theirs + 1100])
  })

  it("Established: overlapping out-of-order segments are stored once", () => {
    const rig = new Rig()
    const e = established(rig, FULL)
    const all = bytes(3000)
    rig.guest({ seq: e.theirs + 1000, ack: e.ours, flags: ACK, payload: all.subarray(1000, 2000) })
    rig.guest({ seq: e.theirs + 500, ack: e.ours, flags: ACK, payload: all.subarray(500, 2500) })
    expect(rig.conn().oooBytes).toBe(2000)
    const out = rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: all.subarray(0, 600) })
    const w = only(effects(out).filter((x) => x._tag === "TcpWrite"))
    if (w._tag !== "TcpWrite") throw new Error()
    expect(written(w)).toEqual(all.subarray(0, 2500))
  })
})

describe("ESTABLISHED: data from the host", () => {
  it("Established: host data -> MSS-sized segments whose payloads are views of the host buffer", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const data = bytes(3000)
    const s = segs(rig.hostData(e.sock, data))
    expect(s.map((x) => x.payload.length)).toEqual([536, 536, 536, 536, 536, 320])
    expect(s[0]!.tcp.seq).toBe(e.ours)
    expect(s[0]!.rawPayload!.buffer).toBe(data.buffer)
    expect(s[5]!.tcp.flags & PSH).toBe(PSH)
  })

  it("Established: small host writes are coalesced into one segment's worth of buffer", () => {
    const rig = new Rig()
    const e = established(rig, { mss: 1460, window: 0 })
    for (let i = 0; i < 10; i++) rig.hostData(e.sock, bytes(100, i))
    rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, window: 65535 })
    const s = segs(rig.outputs.slice(-1))
    expect(only(s).payload.length).toBe(1000)
  })

  it("Established: sending stops at the guest's window (no sub-MSS sliver: sender SWS avoidance) and resumes when it opens", () => {
    const rig = new Rig()
    const e = established(rig, { mss: 1000, window: 2500 })
    const s = segs(rig.hostData(e.sock, bytes(5000)))
    expect(s.map((x) => x.payload.length)).toEqual([1000, 1000])
    const more = segs(rig.guest({ seq: e.theirs, ack: e.ours + 2000, flags: ACK, window: 3000 }))
    expect(more.map((x) => x.payload.length)).toEqual([1000, 1000, 1000])
  })

  it("Established: the send buffer reaching the bound -> TcpSetReading false; the guest's ACK -> true", () => {
    const rig = new Rig({ bufferBytes: 10_000 })
    const e = established(rig, { mss: 1000, window: 0 })
    expect(effects(rig.hostData(e.sock, bytes(6000)))).not.toContainEqual(expect.objectContaining({ _tag: "TcpSetReading" }))
    expect(effects(rig.hostData(e.sock, bytes(6000)))).toContainEqual({ _tag: "TcpSetReading", sock: e.sock, reading: false })
    rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, window: 65535 })
    const out = rig.guest({ seq: e.theirs, ack: e.ours + 8000, flags: ACK, window: 65535 })
    expect(effects(out)).toContainEqual({ _tag: "TcpSetReading", sock: e.sock, reading: true })
    expect(rig.conn().sendBuf.length).toBe(4000)
  })

  it("Established: the guest's zero window -> persist probes with backoff, no retransmission limit while it answers", () => {
    const rig = new Rig({ initialRtoMs: 1000, maxRetransmits: 3 })
    const e = established(rig, { mss: 1000, window: 0 })
    expect(segs(rig.hostData(e.sock, bytes(100)))).toHaveLength(0)
    const probes: Array<number> = []
    for (let i = 0; i < 6; i++) {
      const out = rig.advance(Math.min(...rig.armed().values()) - rig.now)
      for (const s of segs(out)) {
        probes.push(rig.now)
        expect(s.payload.length).toBe(1)
        expect(s.tcp.seq).toBe(e.ours)
      }
      rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, window: 0 })
    }
    expect(probes).toEqual([1000, 3000, 7000, 15000, 31000, 63000])
    expect(rig.conn().state).toBe("Established")
    const out = segs(rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, window: 1000 }))
    expect(only(out).payload.length).toBe(100)
  })

  it("Established: window scaling applies to the guest's window after the handshake", () => {
    const rig = new Rig()
    const e = established(rig, { mss: 1000, wscale: 4, window: 150 })
    // The ACK that completed the handshake carried 150 << 4 = 2400.
    expect(rig.conn().sndWnd).toBe(2400)
    const s = segs(rig.hostData(e.sock, bytes(5000)))
    expect(s.map((x) => x.payload.length)).toEqual([1000, 1000])
  })
})
