/**
 * The e1000 reducer: fires due timers first, then routes the event to the register, PCI,
 * receive and link code. Work that may need DMA reads (transmit, receive, queue flushes, and
 * timer callbacks that flush) runs as a generator that suspends on each read; while one is
 * suspended, later events wait in a backlog, because QEMU finishes the whole operation inside
 * the access (or clock step) that started it.
 *
 * Contract (see api.ts): `e1000Step` consumes and returns the same mutable state; effects come
 * out in causal order; never throws on hostile input.
 */
import { absurd } from "../../effects/absurd.ts"
import type { E1000Effect, E1000Event, E1000Options } from "./api.ts"
import { autonegDone, setLinkStatus } from "./link.ts"
import { mmioRead, mmioWrite } from "./mmio.ts"
import { COMMAND_MASTER, command, configRead, configWrite, PCI_COMMAND } from "./pci-config.ts"
import { flushQueued, frameFromNetwork, hasQueued } from "./queue.ts"
import { ICR } from "./regs.ts"
import {
  createState,
  type E1000State,
  nextTimer,
  type Op,
  resetAll,
  setInterruptCause,
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

const hasDueTimer = (s: E1000State, nowNs: number): boolean => {
  const t = nextTimer(s)
  return t >= 0 && s.timerAt[t]! <= nowNs
}

/**
 * Fires, in deadline order (ties: first armed first, as QEMU's timer list), every timer due at
 * or before `nowNs`, each with the clock at its own deadline, as qtest's clock_step does.
 */
function* fireDueTimers(s: E1000State, nowNs: number): Generator<void, void, Uint8Array> {
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
        yield* autonegDone(s)
        break
      case TIMER_FLUSH:
        yield* flushQueued(s)
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
      // not reached: sync reads are answered without suspending (see readNow)
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

/** Handles one event at `s.now`. Returns the operation it starts, if any. */
const handle = (s: E1000State, ev: E1000Event): Op | undefined => {
  switch (ev._tag) {
    case "MmioRead": {
      const value = mmioRead(s, ev.offset, ev.size)
      s.out.push({ _tag: "ReadValue", value })
      return undefined
    }
    case "MmioWrite":
      return mmioWrite(s, ev.offset, ev.size, ev.value)
    case "ConfigRead":
      s.out.push({ _tag: "ReadValue", value: configRead(s.pci, ev.offset, ev.size) })
      return undefined
    case "ConfigWrite": {
      configWrite(s.pci, ev.offset, ev.size, ev.value)
      updatePin(s) // COMMAND.INTX_DISABLE may have changed
      const coversCommand = ev.offset <= PCI_COMMAND && ev.offset + ev.size > PCI_COMMAND
      // e1000_write_config: enabling bus mastering flushes the queue
      if (coversCommand && (command(s.pci) & COMMAND_MASTER) !== 0 && hasQueued(s)) return flushQueued(s)
      return undefined
    }
    case "DmaReadDone":
      return undefined // stray completion: nothing waits for it
    case "FrameFromNetwork":
      return frameFromNetwork(s, ev.frame)
    case "TimerFired":
      return undefined // due timers already fired
    case "Link":
      return setLinkStatus(s, ev.up)
    case "Reset":
      resetAll(s)
      return undefined
    default:
      return absurd(ev)
  }
}

function* withTimers(s: E1000State, nowNs: number, ev: E1000Event): Generator<void, void, Uint8Array> {
  yield* fireDueTimers(s, nowNs)
  const op = handle(s, ev)
  if (op !== undefined) yield* op
}

/** Starts one event; returns true if it left an operation suspended. */
const start = (s: E1000State, nowNs: number, ev: E1000Event): boolean => {
  if (hasDueTimer(s, nowNs)) return drive(s, withTimers(s, nowNs, ev), EMPTY)
  s.now = nowNs
  const op = handle(s, ev)
  return op !== undefined && drive(s, op, EMPTY)
}

/** Appends the effects of `ev` at `nowNs` to `s.out`. The engine of both wrappers. */
export const stepInto = (s: E1000State, nowNs: number, ev: E1000Event): void => {
  if (s.op !== undefined) {
    if (ev._tag === "DmaReadDone" && ev.request === s.reqId) {
      if (drive(s, s.op, ev.data)) return
      // finished: now the events that arrived meanwhile, in order
      while (s.backlog.length > 0) {
        const next = s.backlog.shift()!
        if (start(s, next.now, next.ev)) return
      }
      return
    }
    if (ev._tag !== "DmaReadDone") s.backlog.push({ now: nowNs, ev })
    return
  }
  start(s, nowNs, ev)
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
