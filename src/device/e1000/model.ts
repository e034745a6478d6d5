/**
 * The e1000 reducer: fires due timers first, then routes the event to the register, PCI,
 * receive and link code. Work that may need DMA reads (transmit, receive, queue flushes, and
 * timer callbacks that flush) runs as a stack of frames (types.ts `Frame`: which QEMU function,
 * which stage, its locals); when one asks for a read the stack is kept in the successor state
 * and a DmaRead effect goes out. While it waits, later events go to an immutable backlog,
 * because QEMU finishes the whole operation inside the access (or clock step) that started it.
 *
 * Contract (see api.ts): `e1000Step(s, now, ev)` never writes to `s` or anything reachable
 * from it; it works on a draft (state.ts) and returns a new state and the effects of this call,
 * in causal order. Equal inputs give equal results. It never throws on hostile input.
 */
import { absurd } from "../../effects/absurd.ts"
import { autonegFrame, linkFrame, stepAutoneg, stepLink } from "./link.ts"
import { mmioRead, mmioWrite } from "./mmio.ts"
import { CALL, DONE, type Outcome, WAIT } from "./outcome.ts"
import { COMMAND_MASTER, command, configRead, configWrite, PCI_COMMAND } from "./pci-config.ts"
import { flushFrame, frameFromNetwork, hasQueued, stepFlush } from "./queue.ts"
import { rg } from "./regfile.ts"
import { ICR } from "./regs.ts"
import { stepRx } from "./rx.ts"
import {
  beginDraft,
  createState,
  type Draft,
  disarmTimer,
  finishDraft,
  irqW,
  nextTimer,
  pciW,
  resetAll,
  setInterruptCause,
  TIMER_AUTONEG,
  TIMER_FLUSH,
  TIMER_MIT,
  updatePin,
} from "./state.ts"
import { stepXmit } from "./tx.ts"
import type { E1000Effect, E1000Event, E1000Options, E1000State, Frame, Mutable, TimersFrame } from "./types.ts"

export const createE1000 = (opts: E1000Options): E1000State => createState(opts.mac, opts.romBar ?? true)

/** The earliest armed timer deadline in ns, if any. */
export const nextDeadlineNs = (s: E1000State): number | undefined => {
  const t = nextTimer(s.irq)
  return t < 0 ? undefined : s.irq.timerAt[t]!
}

/** Whether an operation is waiting for a DmaReadDone. */
export const awaitingDma = (s: E1000State): boolean => s.op !== undefined

const hasDueTimer = (d: Draft, nowNs: number): boolean => {
  const t = nextTimer(d.irq)
  return t >= 0 && d.irq.timerAt[t]! <= nowNs
}

/**
 * Fires, in deadline order (ties: first armed first, as QEMU's timer list), every timer due at
 * or before `nowNs`, each with the clock at its own deadline, as qtest's clock_step does; then
 * handles the event that found them due.
 */
const stepTimers = (d: Draft, f: Mutable<TimersFrame>): Outcome => {
  for (;;) {
    switch (f.stage) {
      case "next": {
        const t = nextTimer(d.irq)
        if (t < 0 || d.irq.timerAt[t]! > f.nowNs) {
          d.now = f.nowNs
          f.stage = "handle"
          continue
        }
        d.now = d.irq.timerAt[t]!
        disarmTimer(d, t)
        switch (t) {
          case TIMER_MIT:
            irqW(d).mitTimerOn = false
            setInterruptCause(d, rg(d, ICR))
            continue
          case TIMER_AUTONEG:
            d.stack.push(autonegFrame())
            return CALL
          case TIMER_FLUSH:
            d.stack.push(flushFrame())
            return CALL
        }
        continue
      }
      case "handle": {
        f.stage = "done"
        const op = handle(d, f.ev)
        if (op === undefined) return DONE
        d.stack.push(op)
        return CALL
      }
      case "done":
        return DONE
      default:
        return absurd(f.stage)
    }
  }
}

const stepFrame = (d: Draft, f: Mutable<Frame>, input: Uint8Array | undefined): Outcome => {
  switch (f.k) {
    case "Timers":
      return stepTimers(d, f)
    case "Xmit":
      return stepXmit(d, f, input)
    case "Rx":
      return stepRx(d, f, input)
    case "Flush":
      return stepFlush(d, f)
    case "Autoneg":
      return stepAutoneg(d, f)
    case "Link":
      return stepLink(d, f)
    default:
      return absurd(f)
  }
}

/**
 * Runs the draft's stack until it is empty or its innermost frame waits for a read; `input`
 * goes to the innermost frame first (the bytes it waited for). Returns true if suspended.
 */
const drive = (d: Draft, input: Uint8Array | undefined): boolean => {
  const stack = d.stack
  while (stack.length > 0) {
    const r = stepFrame(d, stack[stack.length - 1]!, input)
    input = undefined
    if (r === WAIT) {
      d.op = stack // this call's own array and frames, never touched again
      d.reqId = (d.reqId + 1) | 0
      d.waiting = true
      if (d.emitReads) d.out.push({ _tag: "DmaRead", request: d.reqId, address: d.reqAddress, length: d.reqLength })
      return true
    }
    if (r === DONE) stack.pop()
  }
  d.op = undefined
  return false
}

/**
 * A writable copy of a frame, one literal per kind: copies then share their kind's object
 * shape with fresh frames, which keeps V8's property accesses monomorphic (a generic spread
 * over all kinds was the slowest step of a resumed operation).
 */
const copyFrame = (f: Frame): Mutable<Frame> => {
  switch (f.k) {
    case "Timers":
      return { k: f.k, stage: f.stage, nowNs: f.nowNs, ev: f.ev }
    case "Xmit":
      return {
        k: f.k,
        stage: f.stage,
        tdhStart: f.tdhStart,
        cause: f.cause,
        base: f.base,
        lower: f.lower,
        upper: f.upper,
        ahead: f.ahead,
        aheadFrom: f.aheadFrom,
        aheadCount: f.aheadCount,
        dstage: f.dstage,
        split: f.split,
        addr: f.addr,
        bytes: f.bytes,
      }
    case "Rx":
      return {
        k: f.k,
        stage: f.stage,
        answer: f.answer,
        data: f.data,
        size: f.size,
        total: f.total,
        descOffset: f.descOffset,
        rdhStart: f.rdhStart,
        vlanSpecial: f.vlanSpecial,
        vlanStatus: f.vlanStatus,
        bufSize: f.bufSize,
        base: f.base,
      }
    case "Flush":
      return { k: f.k, stage: f.stage }
    case "Autoneg":
      return { k: f.k, stage: f.stage }
    case "Link":
      return { k: f.k, stage: f.stage, up: f.up, oldStatus: f.oldStatus }
    default:
      return absurd(f)
  }
}

/** Handles one event at `d.now`. Returns the operation it starts, if any. */
const handle = (d: Draft, ev: E1000Event): Mutable<Frame> | undefined => {
  switch (ev._tag) {
    case "MmioRead": {
      const value = mmioRead(d, ev.offset, ev.size)
      d.out.push({ _tag: "ReadValue", value })
      return undefined
    }
    case "MmioWrite":
      return mmioWrite(d, ev.offset, ev.size, ev.value)
    case "ConfigRead":
      d.out.push({ _tag: "ReadValue", value: configRead(d.dev.pci, ev.offset, ev.size) })
      return undefined
    case "ConfigWrite": {
      configWrite(pciW(d), d.dev.pciMask, ev.offset, ev.size, ev.value)
      updatePin(d) // COMMAND.INTX_DISABLE may have changed
      const coversCommand = ev.offset <= PCI_COMMAND && ev.offset + ev.size > PCI_COMMAND
      // e1000_write_config: enabling bus mastering flushes the queue
      if (coversCommand && (command(d.dev.pci) & COMMAND_MASTER) !== 0 && hasQueued(d)) return flushFrame()
      return undefined
    }
    case "DmaReadDone":
      return undefined // stray completion: nothing waits for it
    case "FrameFromNetwork":
      return frameFromNetwork(d, ev.frame)
    case "TimerFired":
      return undefined // due timers already fired
    case "Link":
      return linkFrame(ev.up)
    case "Reset":
      resetAll(d)
      return undefined
    default:
      return absurd(ev)
  }
}

/**
 * An operation's outermost frame onto the (empty) stack: a fresh one-slot array, where a push
 * onto the empty one would reserve 17 slots (V8's first growth) on every frame received.
 */
const startStack = (d: Draft, f: Mutable<Frame>): void => {
  if (d.stack.length === 0) d.stack = [f]
  else d.stack.push(f)
}

/** Starts one event; returns true if it left an operation suspended. */
const start = (d: Draft, nowNs: number, ev: E1000Event): boolean => {
  if (hasDueTimer(d, nowNs)) {
    startStack(d, { k: "Timers", stage: "next", nowNs, ev })
    return drive(d, undefined)
  }
  d.now = nowNs
  const op = handle(d, ev)
  if (op === undefined) return false
  startStack(d, op)
  return drive(d, undefined)
}

/** Resumes the draft's suspended operation with the bytes it waited for, then the backlog. */
const resume = (d: Draft, data: Uint8Array): void => {
  d.waiting = false
  if (drive(d, data)) return
  // finished: now the events that arrived meanwhile, in order
  const backlog = d.backlog
  for (let i = 0; i < backlog.length; i++) {
    const next = backlog[i]!
    if (start(d, next.now, next.ev)) {
      d.backlog = backlog.slice(i + 1)
      return
    }
  }
  d.backlog = EMPTY_BACKLOG
}

/** The work of one call, on a fresh draft of `s`. */
const stepDraft = (s: E1000State, nowNs: number, ev: E1000Event, emitReads: boolean): Draft => {
  const d = beginDraft(s, emitReads)
  const op = s.op
  if (op === undefined) {
    start(d, nowNs, ev)
  } else if (ev._tag === "DmaReadDone") {
    // a completion for another request is stray: the operation keeps waiting
    if (ev.request === s.reqId) {
      // the frames of the old state are not ours to change: work on copies
      for (let i = 0; i < op.length; i++) d.stack.push(copyFrame(op[i]!))
      resume(d, ev.data)
    }
  } else {
    // O(n) per arrival: a host answers each DmaRead before much else arrives
    d.backlog = [...d.backlog, { now: nowNs, ev }]
  }
  return d
}

export const e1000Step = (
  s: E1000State,
  nowNs: number,
  ev: E1000Event,
): readonly [E1000State, ReadonlyArray<E1000Effect>] => {
  const d = stepDraft(s, nowNs, ev, true)
  return [finishDraft(d), d.out]
}

/**
 * For a host that answers DMA reads at once (sync.ts): one call of the reducer that the host
 * finishes before returning. `callStart` does what `e1000Step` does but keeps the draft open; while
 * `callWaiting` is true, the host applies the call's DmaWrites so far to guest memory, reads
 * the draft's `reqLength` bytes at its `reqAddress`, and hands the bytes to `callAnswer`, which
 * goes on exactly where `e1000Step` with DmaReadDone would (same frames, same draft: no
 * intermediate state is built and no DmaRead effect, which is what makes the sync path fast);
 * `callFinish` gives the successor state and all the call's effects. Equivalent to chaining
 * e1000Step with DmaReadDone, less the DmaRead effects (tested); the model never touches guest
 * memory or holds a function: the host does the reading.
 */
export const callStart = (s: E1000State, nowNs: number, ev: E1000Event): Draft => stepDraft(s, nowNs, ev, false)

/** Whether the call waits for the read at `d.reqAddress`, `d.reqLength` (asked for in this call). */
export const callWaiting = (d: Draft): boolean => d.waiting

export const callAnswer = (d: Draft, data: Uint8Array): void => resume(d, data)

export const callFinish = (d: Draft): readonly [E1000State, ReadonlyArray<E1000Effect>] => [finishDraft(d), d.out]

/** `callFinish`'s state alone (the effects are the draft's `out`): no pair per call. */
export const callState = (d: Draft): E1000State => finishDraft(d)

const EMPTY_BACKLOG: E1000State["backlog"] = Object.freeze([])
