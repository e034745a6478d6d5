/**
 * QEMU's net queue in front of the card, as the model needs it to match QEMU frame for frame.
 *
 * When the card cannot receive (e1000_can_receive false), QEMU appends the frame its backend
 * just read to the card's queue and stops reading; at the next flush point
 * (qemu_flush_queued_packets: RDT write with free buffers, RCTL flush timer, autonegotiation
 * done, link up, bus mastering enabled) it delivers that frame straight to e1000_receive_iov,
 * synchronously, before anything else happens, and then resumes reading.
 *
 * The host's side of the contract (RxAccepted/RxFlush, see api.ts): after a refusal it holds
 * that frame and all later ones; after RxFlush it offers them again from the first. The model
 * keeps its own reference to the refused frame so it can deliver it at the exact flush point;
 * the host's later offer of that same frame is then answered as already consumed.
 *
 * Contract: a frame from the backend is answered at once or becomes a receive that answers
 * RxAccepted itself; the flush is a frame (types.ts FlushFrame) that may call a receive. Both
 * write only to the draft.
 */
import { CALL, DONE, type Outcome } from "./outcome.ts"
import { ACCEPTED, canReceive, REFUSED, rxFrame } from "./rx.ts"
import type { Draft } from "./state.ts"
import type { FlushFrame, Mutable, RxFrame } from "./types.ts"

const sameFrame = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * A frame from the backend (qemu_net_queue_send): answered at once, or the receive to run,
 * which answers RxAccepted itself when done.
 */
export const frameFromNetwork = (d: Draft, frame: Uint8Array): Mutable<RxFrame> | undefined => {
  const echo = d.echo
  if (echo !== undefined) {
    d.echo = undefined
    // delivered from the queue at the flush point already
    if (sameFrame(frame, echo)) return answer(d, true)
  }
  // QEMU's queue holds one and its backend is not reading: the host keeps holding
  if (d.queued !== undefined) return answer(d, false)
  // set_link acts on the backend too: it drops what it reads while down
  if (d.dev.linkDown) return answer(d, true)
  if (!canReceive(d)) {
    d.queued = frame
    return answer(d, false)
  }
  return rxFrame(frame, true)
}

const answer = (d: Draft, accepted: boolean): undefined => {
  d.out.push(accepted ? ACCEPTED : REFUSED)
  return undefined
}

/** qemu_flush_queued_packets: deliver the queued frame now; RxFlush once the queue is empty. */
export const flushFrame = (): Mutable<FlushFrame> => ({ k: "Flush", stage: "start" })

export const stepFlush = (d: Draft, f: Mutable<FlushFrame>): Outcome => {
  const frame = d.queued
  if (frame === undefined) return DONE
  if (f.stage === "start") {
    // qemu_deliver_packet_iov drops it while the card's link is down
    if (!d.dev.linkDown) {
      f.stage = "received"
      d.stack.push(rxFrame(frame))
      return CALL
    }
  } else if (d.ret === 0) {
    return DONE // receive returned 0 (RCTL flush timer pending): it stays queued
  }
  d.queued = undefined
  d.echo = frame
  d.out.push({ _tag: "RxFlush" })
  return DONE
}

/** Whether a flush at this point has anything to do (saves creating an operation). */
export const hasQueued = (d: Draft): boolean => d.queued !== undefined
