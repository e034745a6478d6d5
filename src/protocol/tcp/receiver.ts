/**
 * Data and FIN from the guest (RFC 9293 §3.10.7.4 seventh and eighth steps): trimming to the
 * window, in-order delivery to the host, the out-of-order queue and the FIN transitions.
 *
 * Guest payload is kept as views of the guest's frames (the stack owns a frame from its event
 * on and nobody writes it afterwards): in the out-of-order queue and in the staged host writes,
 * never copied. The queue is an immutable array of immutable runs, replaced on change.
 */
import { abort, toTimeWait } from "./emit.ts"
import { flushStage, stageBytes } from "./host-write.ts"
import type { OooSegment } from "./sack.ts"
import { seqAdd, seqDiff, seqGt, seqLe, seqLt, seqMax } from "./seq.ts"
import { rcvWnd, type TcbDraft, type TcbEnv } from "./tcb.ts"

/** Seventh and eighth steps: the guest's data (trimmed to the window) and its FIN. */
export const receiveText = (c: TcbDraft, env: TcbEnv, seq: number, payload: Uint8Array, finIn: boolean): void => {
  if (!(c.state === "Established" || c.state === "FinWait1" || c.state === "FinWait2")) {
    // After the guest's FIN its text is ignored (RFC 9293 §3.10.7.4 seventh, CLOSE-WAIT etc.);
    // a retransmitted FIN in TIME-WAIT restarts the 2 MSL wait and is acknowledged.
    if (finIn && c.state === "TimeWait") c.stateAt = env.now + env.config.timeWaitMs
    if (finIn || payload.length > 0) c.ackNow = true
    return
  }
  let fin = finIn
  let start = seq
  let data = payload
  const behind = seqDiff(c.rcvNxt, start)
  if (behind > 0) {
    if (behind >= data.length) {
      // Old data; a FIN after it is still new if it sits at RCV.NXT.
      start = seqAdd(start, data.length)
      data = data.subarray(data.length)
      if (!(fin && start === c.rcvNxt)) {
        c.ackNow = true
        return
      }
    } else {
      data = data.subarray(behind)
      start = c.rcvNxt
    }
  }
  const room = seqDiff(seqAdd(c.rcvNxt, rcvWnd(c)), start)
  if (data.length > room) {
    data = data.subarray(0, Math.max(0, room))
    fin = false
  }
  if (data.length > 0) {
    if (!c.hostOpen) {
      abort(c, env, "guest data arrived after the host socket closed")
      return
    }
    if (start === c.rcvNxt) deliverInOrder(c, env, data)
    else {
      storeOutOfOrder(c, start, data)
      c.ackNow = true // RFC 5681 §4.2: an out-of-order segment is acknowledged at once (dup ACK + SACK).
      fin = false // Guests retransmit an out-of-order FIN; we keep no state for it.
    }
  }
  if (fin && seqAdd(start, data.length) === c.rcvNxt) {
    c.rcvNxt = seqAdd(c.rcvNxt, 1)
    c.ackNow = true
    if (c.hostOpen && !c.hostShutdownSent) {
      flushStage(c, env)
      c.hostShutdownSent = true
      env.out.push({ _tag: "TcpShutdownWrite", sock: c.sock })
    }
    switch (c.state) {
      case "Established":
        c.state = "CloseWait"
        break
      case "FinWait1":
        if (c.finQueued && seqGt(c.sndUna, c.finSeq)) toTimeWait(c, env)
        else c.state = "Closing"
        break
      case "FinWait2":
        toTimeWait(c, env)
        break
      default:
        break
    }
  }
}

/**
 * In-order data from the guest toward the host, as a view of the guest's frame.
 *
 * When no earlier `TcpWrite` is in flight the data goes out at once (no added latency);
 * otherwise it is staged (a list of views) and leaves as one `TcpWrite` when the host reports
 * the earlier writes done (or 64 KiB are staged, or the guest closes). Under load this turns one
 * host write per segment into one per ~64 KiB. Out-of-order runs the segment makes contiguous
 * join the same write.
 */
export const deliverInOrder = (c: TcbDraft, env: TcbEnv, data: Uint8Array): void => {
  c.rcvNxt = seqAdd(c.rcvNxt, data.length)
  c.hostQueued += data.length
  if (c.ooo.length === 0) {
    c.ackPendingBytes += data.length
    if (c.hostInFlight === 0 && c.staged === 0) {
      c.hostInFlight += data.length
      env.out.push({ _tag: "TcpWrite", sock: c.sock, chunks: [data] })
    } else stageBytes(c, env, data)
    return
  }
  // The segment may fill a hole: take every run that is now contiguous, in one write.
  stageBytes(c, env, data)
  const q = c.ooo
  let taken = 0
  while (taken < q.length) {
    const s = q[taken]!
    const behind = seqDiff(c.rcvNxt, s.seq)
    if (behind < 0) break
    taken++
    c.oooBytes -= s.data.length
    if (behind < s.data.length) {
      const rest = s.data.subarray(behind)
      stageBytes(c, env, rest)
      c.hostQueued += rest.length
      c.rcvNxt = seqAdd(c.rcvNxt, rest.length)
    }
  }
  if (taken > 0) c.ooo = q.slice(taken)
  c.ackNow = true // a filled hole is acknowledged at once (RFC 5681 §4.2)
  if (c.hostInFlight === 0) flushStage(c, env)
}

/** Keeps [start, start + data.length) minus what is already queued, as views of `data`; a new queue. */
export const storeOutOfOrder = (c: TcbDraft, start: number, data: Uint8Array): void => {
  c.oooLatest = start
  let s = start
  const e = seqAdd(start, data.length)
  const out: Array<OooSegment> = []
  let i = 0
  const q = c.ooo
  while (i < q.length && seqLe(seqAdd(q[i]!.seq, q[i]!.data.length), s)) out.push(q[i++]!)
  while (seqLt(s, e)) {
    const next = q[i]
    if (next === undefined || seqLe(e, next.seq)) {
      const piece = data.subarray(seqDiff(s, start), seqDiff(e, start))
      out.push({ seq: s, data: piece })
      c.oooBytes += piece.length
      s = e
      break
    }
    if (seqLt(s, next.seq)) {
      const piece = data.subarray(seqDiff(s, start), seqDiff(next.seq, start))
      out.push({ seq: s, data: piece })
      c.oooBytes += piece.length
    }
    out.push(next)
    i++
    s = seqMax(s, seqAdd(next.seq, next.data.length))
  }
  while (i < q.length) out.push(q[i++]!)
  c.ooo = out
}
