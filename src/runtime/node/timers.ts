/**
 * Real timers for one stack. A timer reports `TimerFired` once per arming, with the clock's
 * `now` at firing (never before `at`, often slightly after). Timers are unref'd: a guest link, not a
 * pending retransmission, is what keeps the process alive.
 */
import { timerKey } from "../../effects/ids.ts"
import type { Clock, Report, TimerPort } from "../host/ports.ts"

export const nodeTimers =
  (clock: Clock) =>
  (report: Report): TimerPort => {
    // Keyed by `timerKey`: two equal ids are one timer (ids are plain data, not identities).
    const armed = new Map<string, NodeJS.Timeout>()
    return {
      set(timer, at) {
        const key = timerKey(timer)
        const old = armed.get(key)
        if (old !== undefined) clearTimeout(old)
        const handle = setTimeout(() => {
          armed.delete(key)
          // libuv's timer clock may run up to a millisecond behind the monotonic clock: never
          // report a firing before its deadline, reducers compare the two.
          const now = clock.now()
          report({ _tag: "TimerFired", now: now < at ? at : now, timer })
        }, Math.max(0, at - clock.now()))
        handle.unref()
        armed.set(key, handle)
      },
      cancel(timer) {
        const key = timerKey(timer)
        const old = armed.get(key)
        if (old === undefined) return
        clearTimeout(old)
        armed.delete(key)
      },
      closeAll() {
        for (const h of armed.values()) clearTimeout(h)
        armed.clear()
      },
    }
  }
