/** Closing and resetting in both directions (RFC 9293 §3.6, §3.10.7.4; RFC 5961 §3, §4). */
import { describe, expect, it } from "vitest"
import { ACK, FIN, RST, SYN } from "../../../src/protocol/tcp/wire.ts"
import { BARE, bytes, effects, established, GUEST_ISS, only, Rig, segs } from "./fixtures.ts"

const logs = (out: ReadonlyArray<{ _tag: string }>): Array<string> =>
  out.flatMap((o) => (o._tag === "Log" ? [(o as unknown as { message: string }).message] : []))

describe("closing", () => {
  it("Established: guest FIN -> TcpShutdownWrite, ACK, CloseWait", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const out = rig.guest({ seq: e.theirs, ack: e.ours, flags: FIN | ACK })
    expect(effects(out)).toContainEqual({ _tag: "TcpShutdownWrite", sock: e.sock })
    expect(only(segs(out)).tcp.ack).toBe(e.theirs + 1)
    expect(rig.conn().state).toBe("CloseWait")
  })

  it("CloseWait: host EOF -> FIN, LastAck; its ACK -> Closed and SocketClose", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    rig.guest({ seq: e.theirs, ack: e.ours, flags: FIN | ACK })
    const fin = only(segs(rig.hostEof(e.sock)))
    expect(fin.tcp.flags & FIN).toBe(FIN)
    expect(rig.conn().state).toBe("LastAck")
    const out = rig.guest({ seq: e.theirs + 1, ack: e.ours + 1, flags: ACK })
    expect(effects(out)).toContainEqual({ _tag: "SocketClose", sock: e.sock })
    expect(rig.count()).toBe(0)
  })

  it("Established: host EOF after data -> FIN on the last data segment, FinWait1", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    rig.hostData(e.sock, bytes(100))
    const fin = only(segs(rig.hostEof(e.sock)))
    expect(fin.tcp.flags & FIN).toBe(FIN)
    expect(fin.tcp.seq).toBe(e.ours + 100)
    expect(rig.conn().state).toBe("FinWait1")
  })

  it("FinWait1: ACK of our FIN -> FinWait2; guest FIN -> TimeWait, host socket closed; timer -> gone", () => {
    const rig = new Rig({ timeWaitMs: 4000 })
    const e = established(rig, BARE)
    rig.hostEof(e.sock)
    rig.guest({ seq: e.theirs, ack: e.ours + 1, flags: ACK })
    expect(rig.conn().state).toBe("FinWait2")
    const out = rig.guest({ seq: e.theirs, ack: e.ours + 1, flags: FIN | ACK })
    expect(effects(out)).toContainEqual({ _tag: "TcpShutdownWrite", sock: e.sock })
    expect(effects(out)).toContainEqual({ _tag: "SocketClose", sock: e.sock })
    expect(rig.conn().state).toBe("TimeWait")
    rig.advance(3999)
    expect(rig.count()).toBe(1)
    rig.advance(1)
    expect(rig.count()).toBe(0)
  })

  it("Simultaneous close: FinWait1 + guest FIN -> Closing; ACK of our FIN -> TimeWait", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    rig.hostEof(e.sock)
    rig.guest({ seq: e.theirs, ack: e.ours, flags: FIN | ACK })
    expect(rig.conn().state).toBe("Closing")
    rig.guest({ seq: e.theirs + 1, ack: e.ours + 1, flags: ACK })
    expect(rig.conn().state).toBe("TimeWait")
  })

  it("FinWait1: a FIN acknowledging our FIN -> TimeWait directly", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    rig.hostEof(e.sock)
    rig.guest({ seq: e.theirs, ack: e.ours + 1, flags: FIN | ACK })
    expect(rig.conn().state).toBe("TimeWait")
  })

  it("TimeWait: a retransmitted FIN is acknowledged again and restarts the 2 MSL wait", () => {
    const rig = new Rig({ timeWaitMs: 4000 })
    const e = established(rig, BARE)
    rig.hostEof(e.sock)
    rig.guest({ seq: e.theirs, ack: e.ours + 1, flags: FIN | ACK })
    rig.advance(3000)
    const a = only(segs(rig.guest({ seq: e.theirs, ack: e.ours + 1, flags: FIN | ACK })))
    expect(a.tcp.ack).toBe(e.theirs + 1)
    rig.advance(3000)
    expect(rig.count()).toBe(1)
    rig.advance(1000)
    expect(rig.count()).toBe(0)
  })

  it("TimeWait: a new SYN above RCV.NXT reopens the connection", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    rig.hostEof(e.sock)
    rig.guest({ seq: e.theirs, ack: e.ours + 1, flags: FIN | ACK })
    const out = rig.guest({ seq: e.theirs + 100000, flags: SYN, mss: 1460 })
    const c = effects(out).find((x) => x._tag === "TcpConnect")
    expect(c).toBeDefined()
    expect(rig.conn().state).toBe("SynReceived")
  })

  it("FinWait2: no segment from the guest for finWait2TimeoutMs -> RST, TcpReset, logged", () => {
    const rig = new Rig({ finWait2TimeoutMs: 60_000 })
    const e = established(rig, BARE)
    rig.hostEof(e.sock)
    rig.guest({ seq: e.theirs, ack: e.ours + 1, flags: ACK })
    rig.advance(30_000)
    rig.guest({ seq: e.theirs, ack: e.ours + 1, flags: ACK, payload: bytes(10) }) // activity restarts the wait
    expect(segs(rig.advance(59_000)).filter((s) => s.tcp.flags & RST)).toHaveLength(0)
    const out = rig.advance(1_000)
    expect(only(segs(out)).tcp.flags & RST).toBe(RST)
    expect(effects(out)).toContainEqual({ _tag: "TcpReset", sock: e.sock })
    expect(logs(out).some((m) => m.includes("FIN_WAIT_2"))).toBe(true)
    expect(rig.count()).toBe(0)
  })

  it("Shutdown: every host socket is closed and every timer cancelled", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    rig.hostData(e.sock, bytes(10))
    const out = rig.shutdown()
    expect(effects(out)).toContainEqual({ _tag: "SocketClose", sock: e.sock })
    expect(effects(out).some((x) => x._tag === "CancelTimer")).toBe(true)
    expect(rig.count()).toBe(0)
  })
})

describe("resets", () => {
  it("Established: RST with SEG.SEQ = RCV.NXT -> TcpReset, Closed, logged", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const out = rig.guest({ seq: e.theirs, flags: RST })
    expect(effects(out)).toContainEqual({ _tag: "TcpReset", sock: e.sock })
    expect(logs(out).some((m) => m.includes("reset"))).toBe(true)
    expect(rig.count()).toBe(0)
  })

  it("Established: RST in the window but not at RCV.NXT -> challenge ACK, still Established (RFC 5961 §3.2)", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const a = only(segs(rig.guest({ seq: e.theirs + 10, flags: RST })))
    expect(a.tcp.flags).toBe(ACK)
    expect(a.tcp.ack).toBe(e.theirs)
    expect(rig.conn().state).toBe("Established")
  })

  it("Established: RST outside the window -> dropped silently", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    expect(rig.guest({ seq: e.theirs + 10_000_000, flags: RST })).toHaveLength(0)
    expect(rig.conn().state).toBe("Established")
  })

  it("Established: SYN -> challenge ACK, never a reset (RFC 5961 §4.2)", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const a = only(segs(rig.guest({ seq: e.theirs, flags: SYN })))
    expect(a.tcp.flags).toBe(ACK)
    expect(rig.conn().state).toBe("Established")
  })

  it("Established: ACK for data never sent -> ACK and drop", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const out = rig.guest({ seq: e.theirs, ack: e.ours + 5000, flags: ACK, payload: bytes(10) })
    expect(effects(out).filter((x) => x._tag === "TcpWrite")).toHaveLength(0)
    expect(only(segs(out)).tcp.ack).toBe(e.theirs)
  })

  it("Established: an ACK older than SND.UNA - MAX.SND.WND -> challenge ACK, data dropped (RFC 5961 §5.2)", () => {
    const rig = new Rig()
    const e = established(rig, { window: 1000 })
    const out = rig.guest({ seq: e.theirs, ack: e.ours - 5000, flags: ACK, payload: bytes(10) })
    expect(effects(out).filter((x) => x._tag === "TcpWrite")).toHaveLength(0)
    expect(only(segs(out)).tcp.ack).toBe(e.theirs)
  })

  it("Established: data below RCV.NXT and beyond the window is unacceptable -> ACK", () => {
    const rig = new Rig({ bufferBytes: 5000 })
    const e = established(rig, BARE)
    const out = rig.guest({ seq: e.theirs + 6000, ack: e.ours, flags: ACK, payload: bytes(10) })
    expect(only(segs(out)).tcp.ack).toBe(e.theirs)
    expect(effects(out).filter((x) => x._tag === "TcpWrite")).toHaveLength(0)
  })

  it("Established: host ECONNRESET -> RST to the guest, logged", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const out = rig.hostError(e.sock, "ECONNRESET")
    const r = only(segs(out))
    expect(r.tcp.flags & RST).toBe(RST)
    expect(r.tcp.seq).toBe(e.ours)
    expect(logs(out).some((m) => m.includes("ECONNRESET"))).toBe(true)
    expect(effects(out).filter((x) => x._tag === "TcpReset" || x._tag === "SocketClose")).toHaveLength(0) // the runtime destroyed it
    expect(rig.count()).toBe(0)
  })

  it("CloseWait: host socket closed after its EOF -> our FIN still goes out", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    rig.guest({ seq: e.theirs, ack: e.ours, flags: FIN | ACK })
    rig.hostData(e.sock, bytes(10))
    rig.hostEof(e.sock)
    rig.host({ _tag: "HostSocketClosed", now: 0 as never, sock: e.sock })
    expect(rig.conn().state).toBe("LastAck")
    rig.guest({ seq: e.theirs + 1, ack: e.ours + 11, flags: ACK })
    expect(rig.count()).toBe(0)
  })

  it("Established: host socket closed while the guest may still send -> RST, logged", () => {
    const rig = new Rig()
    const e = established(rig, BARE)
    const out = rig.host({ _tag: "HostSocketClosed", now: 0 as never, sock: e.sock })
    expect(only(segs(out)).tcp.flags & RST).toBe(RST)
    expect(rig.count()).toBe(0)
    void GUEST_ISS
  })
})
