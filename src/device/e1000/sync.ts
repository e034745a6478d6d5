/**
 * A synchronous host for the e1000 model, for emulators whose guest memory can be read and
 * written directly: DMA reads are answered inline (no suspension), DMA writes go straight to
 * memory, and the other effects become callbacks. Timers are deadlines the emulator polls with
 * `nextDeadlineNs` / `advanceTo`; every access first fires the timers due at `nowNs()`.
 */
import type { E1000Effect, E1000Event, SyncE1000, SyncE1000Options } from "./api.ts"
import { createE1000, nextDeadlineNs, stepInto } from "./model.ts"
import { absurd } from "../../effects/absurd.ts"

export const createSyncE1000 = (opts: SyncE1000Options): SyncE1000 => {
  const s = createE1000(opts)
  s.memory = opts.memory
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
      case "DmaWrite":
        opts.memory.write(e.address, e.data) // not reached: sync mode writes inline
        return
      case "DmaRead": // not reached: sync mode reads inline
      case "SetTimer":
      case "CancelTimer":
        return // deadlines are read from the state
      default:
        absurd(e)
    }
  }

  const run = (ev: E1000Event, now: number = opts.nowNs()): void => {
    stepInto(s, now, ev)
    const out = s.out
    // Callbacks may re-enter (onRxReady -> receive): hand them a drained list.
    if (out.length === 0) return
    s.out = []
    for (let i = 0; i < out.length; i++) dispatch(out[i]!)
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
