/**
 * A synchronous host for the e1000 model, for emulators whose guest memory can be read and
 * written directly. It is the host side, so it keeps mutable variables: the current state,
 * the last read value. Each access is one event; every DmaRead the reducer asks for is answered
 * at once by calling the reducer again with DmaReadDone, DmaWrites go to memory as they come
 * (before the next read is answered, so the operation sees its own writes), and the other
 * effects become callbacks once the operation is complete (callbacks may re-enter: onRxReady
 * -> receive). Timers are deadlines the emulator polls with `nextDeadlineNs` / `advanceTo`;
 * every access first fires the timers due at `nowNs()`.
 *
 * Contract: the model holds no memory object and no function; `step` (default `e1000Step`)
 * may be any reducer with its signature, e.g. one wrapped by a test's purity check.
 */
import { absurd } from "../../effects/absurd.ts"
import { createE1000, e1000Step, nextDeadlineNs } from "./model.ts"
import type { E1000Effect, E1000Event, E1000Step, SyncE1000, SyncE1000Options } from "./types.ts"

export const createSyncE1000 = (opts: SyncE1000Options, step: E1000Step = e1000Step): SyncE1000 => {
  const memory = opts.memory
  let s = createE1000(opts)
  let irq = false
  let readValue = 0
  let accepted = false

  const dispatch = (e: E1000Effect): void => {
    switch (e._tag) {
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
      case "DmaWrite": // applied as it came (run)
      case "DmaRead": // answered as it came (run)
      case "SetTimer":
      case "CancelTimer":
        return // deadlines are read from the state
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

  const run = (ev: E1000Event, now: number = opts.nowNs()): void => {
    let r = step(s, now, ev)
    s = r[0]
    let out = r[1]
    let read = applyWrites(out)
    if (read === undefined) {
      for (let i = 0; i < out.length; i++) dispatch(out[i]!)
      return
    }
    // an operation waits for guest memory: answer until it completes, then dispatch it all
    const all = out.slice()
    while (read !== undefined && read._tag === "DmaRead") {
      r = step(s, now, { _tag: "DmaReadDone", request: read.request, data: memory.read(read.address, read.length) })
      s = r[0]
      out = r[1]
      read = applyWrites(out)
      for (let i = 0; i < out.length; i++) all.push(out[i]!)
    }
    for (let i = 0; i < all.length; i++) dispatch(all[i]!)
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
