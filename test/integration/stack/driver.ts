/**
 * A pure test host for the stack reducer: virtual time, a timer queue that fires in deadline
 * order, and a record of every effect. Host sockets are "scripted" by the test: it reads the
 * effects the stack asked for (UdpSend, IcmpEchoSend, ...) and answers with events.
 *
 * Every event goes through the referential-transparency harness (test/support/checked.ts): the
 * state is deep-frozen, reduced twice, the results compared (every event, TCP's included).
 * Timers are keyed by `timerKey` (ids are plain
 * data: two equal ids are one timer).
 */
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { type TimerId, timerKey } from "../../../src/effects/ids.ts"
import { type Instant, instant } from "../../../src/effects/instant.ts"
import { type StackConfig, defaultConfig } from "../../../src/protocol/stack/config.ts"
import { type StackState, createStack, reduce as rawReduce } from "../../../src/protocol/stack/stack.ts"
import { checkedStackReduce } from "../../support/checked.ts"

type Without<E, K extends PropertyKey> = E extends unknown ? Omit<E, K> : never
export type EventInput = Without<StackEvent, "now">

const reduce = checkedStackReduce((s: StackState, e: StackEvent) => rawReduce(s, e))

export class StackDriver {
  state: StackState
  now: Instant = instant(1_000_000)
  /** Armed timers by `timerKey`: the id and its deadline. */
  readonly armed = new Map<string, readonly [TimerId, Instant]>()
  /** Every effect since the last `take()`. */
  private pending: Array<StackEffect> = []
  readonly log: Array<string> = []

  constructor(config: Partial<StackConfig> = {}) {
    this.state = createStack({ ...defaultConfig, ...config }, this.now)
  }

  /** Armed timers and their deadlines. */
  get timers(): ReadonlyMap<string, Instant> {
    return new Map([...this.armed].map(([k, [, at]]) => [k, at]))
  }

  event(e: EventInput): ReadonlyArray<StackEffect> {
    const [next, fx] = reduce(this.state, { ...e, now: this.now } as StackEvent)
    this.state = next
    for (const f of fx) {
      if (f._tag === "SetTimer") this.armed.set(timerKey(f.timer), [f.timer, f.at])
      else if (f._tag === "CancelTimer") this.armed.delete(timerKey(f.timer))
      else if (f._tag === "Log") this.log.push(`${f.level}: ${f.message}`)
    }
    this.pending.push(...fx)
    return fx
  }

  frame(frame: Uint8Array): ReadonlyArray<StackEffect> {
    return this.event({ _tag: "FrameFromGuest", frame })
  }

  /** Advances virtual time by `ms`, firing due timers in deadline order. */
  advance(ms: number): void {
    const end = this.now + ms
    for (;;) {
      let first: readonly [string, TimerId, Instant] | undefined
      for (const [k, [t, at]] of this.armed) if (at <= end && (first === undefined || at < first[2])) first = [k, t, at]
      if (first === undefined) break
      this.armed.delete(first[0])
      this.now = instant(Math.max(this.now, first[2]))
      this.event({ _tag: "TimerFired", timer: first[1] })
    }
    this.now = instant(end)
  }

  /** Returns and forgets the effects recorded so far. */
  take(): Array<StackEffect> {
    const out = this.pending
    this.pending = []
    return out
  }

  /** Frames delivered to the guest since the last take, forgetting all effects. */
  framesOut(): Array<Uint8Array> {
    return this.take().flatMap((e) => (e._tag === "DeliverFrame" ? [e.frame] : []))
  }
}

export const ofTag = <T extends StackEffect["_tag"]>(fx: ReadonlyArray<StackEffect>, tag: T): Array<Extract<StackEffect, { _tag: T }>> =>
  fx.filter((e): e is Extract<StackEffect, { _tag: T }> => e._tag === tag)
