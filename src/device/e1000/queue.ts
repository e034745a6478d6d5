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
 */
import { canReceive, receiveIov } from "./rx.ts"
import type { E1000State } from "./state.ts"

const sameFrame = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A frame from the backend (qemu_net_queue_send). */
export function* frameFromNetwork(s: E1000State, frame: Uint8Array): Generator<void, void, Uint8Array> {
  const echo = s.echo
  if (echo !== undefined) {
    s.echo = undefined
    if (sameFrame(frame, echo)) {
      // delivered from the queue at the flush point already
      s.out.push({ _tag: "RxAccepted", accepted: true })
      return
    }
  }
  if (s.queued !== undefined) {
    // QEMU's queue holds one and its backend is not reading: the host keeps holding
    s.out.push({ _tag: "RxAccepted", accepted: false })
    return
  }
  if (s.linkDown) {
    // set_link acts on the backend too: it drops what it reads while down
    s.out.push({ _tag: "RxAccepted", accepted: true })
    return
  }
  if (!canReceive(s)) {
    s.queued = frame
    s.out.push({ _tag: "RxAccepted", accepted: false })
    return
  }
  yield* receiveIov(s, frame)
  s.out.push({ _tag: "RxAccepted", accepted: true })
}

/** qemu_flush_queued_packets: deliver the queued frame now; RxFlush once the queue is empty. */
export function* flushQueued(s: E1000State): Generator<void, void, Uint8Array> {
  const frame = s.queued
  if (frame === undefined) return
  // qemu_deliver_packet_iov drops it while the card's link is down; receive returning 0 (RCTL
  // flush timer pending) leaves it queued
  if (!s.linkDown && (yield* receiveIov(s, frame)) === 0) return
  s.queued = undefined
  s.echo = frame
  s.out.push({ _tag: "RxFlush" })
}

/** Whether a flush at this point has anything to do (saves creating an operation). */
export const hasQueued = (s: E1000State): boolean => s.queued !== undefined
