/**
 * The layer's states are persistent values (DESIGN.md §3): a state taken in the middle of a
 * transfer can be cloned with `structuredClone` and both copies behave the same; two different
 * futures can be run from one state without either disturbing the other. (Every call in these
 * tests also goes through the referential-transparency harness, fixtures.ts.)
 */
import { describe, expect, it } from "vitest"
import type { TcpLayerState } from "../../../src/protocol/tcp/layer.ts"
import { ACK, FIN, RST } from "../../../src/protocol/tcp/wire.ts"
import type { LayerOutput } from "../../../src/protocol/stack/output.ts"
import { firstDifference } from "../../support/referential.ts"
import { bytes, effects, established, FULL, type Est, Rig, segs, written } from "./fixtures.ts"

/**
 * ESTABLISHED with something in every queue: host data in the send buffer (part of it acked),
 * guest data staged behind a host write in flight, and an out-of-order run waiting for a hole.
 */
const midTransfer = (): { rig: Rig; e: Est; guestData: Uint8Array } => {
  const rig = new Rig()
  const e = established(rig, FULL)
  rig.hostData(e.sock, bytes(20_000, 3)) // segments toward the guest, unacknowledged
  const first = segs(rig.outputs).filter((s) => s.payload.length > 0)
  rig.guest({ seq: e.theirs, ack: e.ours + first[0]!.payload.length, flags: ACK, ts: [6000, 0] })
  const guestData = bytes(6000, 4)
  rig.guest({ seq: e.theirs, ack: e.ours, flags: ACK, payload: guestData.subarray(0, 1000), ts: [6001, 0] }) // written at once
  rig.guest({ seq: e.theirs + 1000, ack: e.ours, flags: ACK, payload: guestData.subarray(1000, 2000), ts: [6002, 0] }) // staged
  rig.guest({ seq: e.theirs + 3000, ack: e.ours, flags: ACK, payload: guestData.subarray(3000, 4000), ts: [6003, 0] }) // out of order
  const c = rig.conn()
  expect(c.sendBuf.length).toBeGreaterThan(0)
  expect(c.staged).toBe(1000)
  expect(c.oooBytes).toBe(1000)
  expect(c.hostInFlight).toBe(1000)
  return { rig, e, guestData }
}

/** A rig that continues from `s` at time `now` (a fresh record of outputs and timers). */
const continueFrom = (s: TcpLayerState, now: number): Rig => {
  const r = new Rig()
  r.s = s
  r.now = now
  return r
}

/** The same continuation of the transfer: the hole filled, host writes done, more host data, timers, the guest's FIN. */
const rest = (rig: Rig, e: Est, guestData: Uint8Array): Array<LayerOutput> => {
  const out: Array<LayerOutput> = []
  out.push(...rig.guest({ seq: e.theirs + 2000, ack: e.ours, flags: ACK, payload: guestData.subarray(2000, 3000), ts: [6004, 0] }))
  out.push(...rig.hostWritten(e.sock, 1000))
  out.push(...rig.hostWritten(e.sock, 3000))
  out.push(...rig.hostData(e.sock, bytes(3000, 5)))
  out.push(...rig.advance(300)) // the tail loss probe / RTO for the unacknowledged data
  out.push(...rig.guest({ seq: e.theirs + 4000, ack: e.ours + 23_000, flags: ACK | FIN, payload: guestData.subarray(4000), ts: [6005, 0] }))
  return out
}

describe("persistent states: structuredClone and branching", () => {
  it("structuredClone of a state in the middle of a transfer: clone and original, fed the same events, give the same effects", () => {
    const { rig, e, guestData } = midTransfer()
    const original = rig.s
    const clone = structuredClone(original)
    expect(clone).not.toBe(original)
    expect(firstDifference(clone, original)).toBeUndefined()
    const a = rest(continueFrom(original, rig.now), e, guestData)
    const b = rest(continueFrom(clone, rig.now), e, guestData)
    expect(a.length).toBeGreaterThan(5)
    expect(firstDifference(a, b)).toBeUndefined()
    // The continuation did real work: the joined guest data went to the host, the guest's FIN arrived.
    const writes = effects(a).flatMap((x) => (x._tag === "TcpWrite" ? [written(x)] : []))
    expect(Buffer.concat(writes)).toEqual(Buffer.from(guestData.subarray(1000)))
    expect(effects(a).some((x) => x._tag === "TcpShutdownWrite")).toBe(true)
  })

  it("branching from one mid-connection state: a guest RST in one future, more data then FIN in the other; neither disturbs the other", () => {
    const { rig, e, guestData } = midTransfer()
    const s = rig.s
    const now = rig.now
    const untouched = structuredClone(s)

    // Future 1: the guest resets the connection (RFC 9293 §3.10.7.4: RST at RCV.NXT).
    const r1 = continueFrom(s, now)
    const reset = r1.guest({ seq: e.theirs + 2000, flags: RST })
    expect(effects(reset).map((x) => x._tag)).toEqual(expect.arrayContaining(["TcpReset", "CancelTimer"]))
    expect(effects(reset).some((x) => x._tag === "TcpWrite")).toBe(false)
    expect(r1.count()).toBe(0)

    // The state it branched from is as it was, deeply and byte for byte.
    expect(firstDifference(s, untouched)).toBeUndefined()

    // Future 2, from the same state: the rest of the guest's data and its FIN.
    const r2 = continueFrom(s, now)
    const out = rest(r2, e, guestData)
    const writes = effects(out).flatMap((x) => (x._tag === "TcpWrite" ? [written(x)] : []))
    expect(Buffer.concat(writes)).toEqual(Buffer.from(guestData.subarray(1000)))
    expect(effects(out).some((x) => x._tag === "TcpReset")).toBe(false)
    expect(effects(out).some((x) => x._tag === "TcpShutdownWrite")).toBe(true)
    expect(r2.conn().state).toBe("CloseWait")
    expect(r2.conn().rcvNxt).toBe((e.theirs + 6001) >>> 0)

    // And it is exactly what that future gives from a copy the first future never saw.
    const fromCopy = rest(continueFrom(untouched, now), e, guestData)
    expect(firstDifference(out, fromCopy)).toBeUndefined()
  })
})
