/**
 * The stack's clock port read from Effect's `Clock`: the same session code runs on the real
 * clock on Node and on `TestClock` in tests, and the choice is made by whoever provides
 * `Clock` (Effect's default, or `TestClock.layer()`), not by the session.
 *
 * Contract: `now()` is Effect's monotonic time in milliseconds (fractional), so instants never
 * go backwards when the wall clock is set. On Effect's default clock the epoch is arbitrary
 * (`process.hrtime` on Node, `performance.now()` elsewhere), which `Instant` allows; on a
 * `TestClock` it is the test clock's own time (0 at the start, moved only by `adjust` and
 * `setTime`). Reading it costs one synchronous call: the session reads it once per batch of
 * events, never per effect. Nothing here touches the world: the `Clock` given does.
 */
import { Clock as EffectClock, Effect, Layer } from "effect"
import { instant } from "../../effects/instant.ts"
import type { Clock } from "./ports.ts"
import { HostClock } from "./services.ts"

const NANOS_PER_MS = 1_000_000

export const clockPort = (clock: EffectClock.Clock): Clock => ({
  now: () => instant(Number(clock.monotonicTimeNanosUnsafe()) / NANOS_PER_MS),
})

/** `HostClock` from the `Clock` in scope when the layer is built (Effect's default, or a `TestClock`). */
export const hostClockLayer: Layer.Layer<HostClock> = Layer.effect(HostClock, EffectClock.clockWith((clock) => Effect.succeed(clockPort(clock))))
