/**
 * A synchronous host for the e1000 model, for emulators whose guest memory can be read and
 * written directly. It is the host side, so it keeps mutable variables: the current state,
 * the last read value. Each access is one event; every DmaRead the model asks for is answered
 * at once, DmaWrites go to memory as they come (before the next read is answered, so the
 * operation sees its own writes), and the other effects become callbacks once the operation
 * is complete (callbacks may re-enter: onRxReady -> receive). Timers are deadlines the
 * emulator polls with `nextDeadlineNs` / `advanceTo`; every access first fires the timers due
 * at `nowNs()`.
 *
 * Contract: the model holds no memory object and no function; only this host reads and writes
 * guest memory. By default a read is answered inside the same call of the reducer
 * (model.ts `callStart`/`callAnswer`: no intermediate state is built); given `step` (any
 * reducer with e1000Step's signature, e.g. one wrapped by a test's purity check) each read is
 * answered by calling `step` again with DmaReadDone. Both give the same results (tested).
 */
import { absurd } from "../../effects/absurd.ts"
import { callAnswer, callStart, callState, callWaiting, createE1000, nextDeadlineNs } from "./model.ts"
import type { E1000Effect, E1000Event, E1000Step, SyncE1000, SyncE1000Options } from "./types.ts"

export const createSyncE1000 = (opts: SyncE1000Options, step?: E1000Step): SyncE1000 => {
  const memory = opts.memory
  let s = createE1000(opts)
  let irq = false
  let readValue = 0
  let accepted = false

  const dispatch = (e: E1000Effect): void => {
    switch (e._tag) {
      case "DmaWrite": // applied as it came (run)
      case "DmaRead": // answered as it came (run)
      case "SetTimer":
      case "CancelTimer":
        return // deadlines are read from the state
      case "ReadValue":
        readValue = e.value
        return
      case "RxAccepted":
        accepted = e.accepted
        return
      case "Transmit":
        opts.onTransmit(e.frame)
        return
      case "Interrupt":
        irq = e.level
        opts.onIrq(e.level)
        return
      case "RxFlush":
        opts.onRxReady?.()
        return
      default:
        absurd(e)
    }
  }

  /** Applies the DmaWrites of `out` (in order) and returns its last effect if it is a read. */
  const applyWrites = (out: ReadonlyArray<E1000Effect>): E1000Effect | undefined => {
    for (let i = 0; i < out.length; i++) {
      const e = out[i]!
      if (e._tag === "DmaWrite") memory.write(e.address, e.data)
    }
    const last = out[out.length - 1]
    return last?._tag === "DmaRead" ? last : undefined
  }

  /** With a given `step`: each read answered by calling it again with DmaReadDone. */
  const runStepwise = (stepFn: E1000Step, ev: E1000Event, now: number): ReadonlyArray<E1000Effect> => {
    let r = stepFn(s, now, ev)
    s = r[0]
    let out = r[1]
    let read = applyWrites(out)
    if (read === undefined) return out
    const all = out.slice()
    while (read !== undefined && read._tag === "DmaRead") {
      r = stepFn(s, now, { _tag: "DmaReadDone", request: read.request, data: memory.read(read.address, read.length) })
      s = r[0]
      out = r[1]
      read = applyWrites(out)
      for (let i = 0; i < out.length; i++) all.push(out[i]!)
    }
    return all
  }

  /** By default: one call of the reducer, each read answered within that same call (model.ts callStart). */
  const runInPlace = (ev: E1000Event, now: number): ReadonlyArray<E1000Effect> => {
    const call = callStart(s, now, ev)
    let applied = 0
    for (;;) {
      // the call's writes so far reach memory before the read is answered
      const out = call.out
      for (; applied < out.length; applied++) {
        const e = out[applied]!
        if (e._tag === "DmaWrite") memory.write(e.address, e.data)
      }
      if (!callWaiting(call)) break
      callAnswer(call, memory.read(call.reqAddress, call.reqLength))
    }
    s = callState(call)
    return call.out
  }

  const run = (ev: E1000Event, now: number = opts.nowNs()): void => {
    // callbacks only once the whole operation is done (they may re-enter: onRxReady -> receive)
    const effects = step === undefined ? runInPlace(ev, now) : runStepwise(step, ev, now)
    for (let i = 0; i < effects.length; i++) dispatch(effects[i]!)
  }

  return {
    mmioRead: (offset, size) => {
      run({ _tag: "MmioRead", offset, size })
      return readValue
    },
    mmioWrite: (offset, size, value) => run({ _tag: "MmioWrite", offset, size, value }),
    configRead: (offset, size) => {
      run({ _tag: "ConfigRead", offset, size })
      return readValue
    },
    configWrite: (offset, size, value) => run({ _tag: "ConfigWrite", offset, size, value }),
    receive: (frame) => {
      run({ _tag: "FrameFromNetwork", frame })
      return accepted
    },
    setLink: (up) => run({ _tag: "Link", up }),
    reset: () => run({ _tag: "Reset" }),
    advanceTo: (nowNs) => run({ _tag: "TimerFired", timer: "mit" }, nowNs),
    nextDeadlineNs: () => nextDeadlineNs(s),
    get irq() {
      return irq
    },
  }
}
