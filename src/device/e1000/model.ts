/**
 * The e1000 reducer: routes events to the register, PCI, receive and link code, fires due
 * timers first, and runs operations that need DMA reads (transmit, receive) as generators that
 * suspend on each read. While one is suspended, later events wait in a backlog, because QEMU
 * finishes the whole operation inside the access that started it.
 *
 * Contract (see api.ts): `e1000Step` consumes and returns the same mutable state; effects come
 * out in causal order; never throws on hostile input.
 */
import { absurd } from "../../effects/absurd.ts"
import type { E1000Effect, E1000Event, E1000Options } from "./api.ts"
import { mmioRead, mmioWrite } from "./mmio.ts"
import { ICR } from "./regs.ts"
import { COMMAND_MASTER, command, configRead, configWrite, PCI_COMMAND } from "./pci-config.ts"
import { canReceive, receiveIov } from "./rx.ts"
import {
  autonegDone,
  createState,
  type E1000State,
  flushQueuedPackets,
  nextTimer,
  type Op,
  resetAll,
  setInterruptCause,
  setLinkStatus,
  TIMER_AUTONEG,
  TIMER_FLUSH,
  TIMER_MIT,
  updatePin,
} from "./state.ts"

export type { E1000State } from "./state.ts"

export const createE1000 = (opts: E1000Options): E1000State => createState(opts.mac, opts.romBar ?? true)

/** The earliest armed timer deadline in ns, if any. */
export const nextDeadlineNs = (s: E1000State): number | undefined => {
  const t = nextTimer(s)
  return t < 0 ? undefined : s.timerAt[t]!
}

/** Whether an operation is waiting for a DmaReadDone (pure mode only). */
export const awaitingDma = (s: E1000State): boolean => s.op !== undefined

/** Fires, in deadline order, every timer due at or before `nowNs`, each at its own deadline. */
const fireDueTimers = (s: E1000State, nowNs: number): void => {
  for (;;) {
    const t = nextTimer(s)
    if (t < 0 || s.timerAt[t]! > nowNs) break
    s.now = s.timerAt[t]!
    s.timerAt[t] = -1
    switch (t) {
      case TIMER_MIT:
        s.mitTimerOn = false
        setInterruptCause(s, s.regs[ICR]!)
        break
      case TIMER_AUTONEG:
        autonegDone(s)
        break
      case TIMER_FLUSH:
        flushQueuedPackets(s)
        break
    }
  }
  s.now = nowNs
}

const EMPTY = new Uint8Array(0)

/** Runs `op` until it finishes or (pure mode) suspends on a read; returns true if suspended. */
const drive = (s: E1000State, op: Op, input: Uint8Array): boolean => {
  const mem = s.memory
  let r = op.next(input)
  while (r.done !== true) {
    if (mem !== undefined) {
      r = op.next(mem.read(s.reqAddr, s.reqLen))
      continue
    }
    s.op = op
    s.reqId = (s.reqId + 1) | 0
    s.out.push({ _tag: "DmaRead", request: s.reqId, address: s.reqAddr, length: s.reqLen })
    return true
  }
  s.op = undefined
  return false
}

/** A frame from the backend, with QEMU's queueing: see RxAccepted/RxFlush in api.ts. */
function* frameFromNetwork(s: E1000State, frame: Uint8Array): Generator<void, void, Uint8Array> {
  if (s.parked) {
    if (!s.flushing) {
      // QEMU's queue already holds one and its backend is not reading: keep holding
      s.out.push({ _tag: "RxAccepted", accepted: false })
      return
    }
    // the re-offered queued frame goes straight to receive, as qemu_net_queue_flush does
    s.flushing = false
    if (s.linkDown) {
      // qemu_deliver_packet_iov drops it while the card's link is down
      s.parked = false
      s.out.push({ _tag: "RxAccepted", accepted: true })
      return
    }
    const n = yield* receiveIov(s, frame)
    if (n === 0) {
      s.out.push({ _tag: "RxAccepted", accepted: false })
      return
    }
    s.parked = false
    s.out.push({ _tag: "RxAccepted", accepted: true })
    return
  }
  if (s.linkDown) {
    // set_link on the backend: it drops what it sends while down
    s.out.push({ _tag: "RxAccepted", accepted: true })
    return
  }
  if (!canReceive(s)) {
    s.parked = true
    s.out.push({ _tag: "RxAccepted", accepted: false })
    return
  }
  yield* receiveIov(s, frame)
  s.out.push({ _tag: "RxAccepted", accepted: true })
}

/** Handles one event (no backlog logic). Returns true if it left an operation suspended. */
const handle = (s: E1000State, ev: E1000Event): boolean => {
  switch (ev._tag) {
    case "MmioRead": {
      const value = mmioRead(s, ev.offset, ev.size)
      s.out.push({ _tag: "ReadValue", value })
      return false
    }
    case "MmioWrite": {
      const op = mmioWrite(s, ev.offset, ev.size, ev.value)
      return op !== undefined && drive(s, op, EMPTY)
    }
    case "ConfigRead":
      s.out.push({ _tag: "ReadValue", value: configRead(s.pci, ev.offset, ev.size) })
      return false
    case "ConfigWrite": {
      configWrite(s.pci, ev.offset, ev.size, ev.value)
      updatePin(s) // COMMAND.INTX_DISABLE may have changed
      if (ev.offset <= PCI_COMMAND && ev.offset + ev.size > PCI_COMMAND && (command(s.pci) & COMMAND_MASTER) !== 0) {
        flushQueuedPackets(s)
      }
      return false
    }
    case "DmaReadDone":
      return false // stray completion: nothing waits for it
    case "FrameFromNetwork":
      return drive(s, frameFromNetwork(s, ev.frame), EMPTY)
    case "TimerFired":
      return false // due timers already fired
    case "Link":
      setLinkStatus(s, ev.up)
      return false
    case "Reset":
      resetAll(s)
      return false
    default:
      return absurd(ev)
  }
}

/** Appends the effects of `ev` at `nowNs` to `s.out`. The engine of both wrappers. */
export const stepInto = (s: E1000State, nowNs: number, ev: E1000Event): void => {
  if (s.op !== undefined) {
    if (ev._tag === "DmaReadDone" && ev.request === s.reqId) {
      if (drive(s, s.op, ev.data)) return
      // finished: now the events that arrived meanwhile, in order
      while (s.backlog.length > 0) {
        const next = s.backlog.shift()!
        fireDueTimers(s, next.now)
        if (handle(s, next.ev)) return
      }
      return
    }
    if (ev._tag !== "DmaReadDone") s.backlog.push({ now: nowNs, ev })
    return
  }
  fireDueTimers(s, nowNs)
  handle(s, ev)
}

export const e1000Step = (
  s: E1000State,
  nowNs: number,
  ev: E1000Event,
): readonly [E1000State, ReadonlyArray<E1000Effect>] => {
  stepInto(s, nowNs, ev)
  const out = s.out
  s.out = []
  return [s, out]
}
