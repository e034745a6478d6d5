/**
 * The Node clock for code that does not run inside Effect (the UDP child tests, embedders that
 * build ports by hand): Effect's default `Clock` through the one clock port (host/effect-clock.ts),
 * monotonic milliseconds from `process.hrtime`. Effect programs get theirs from `hostClockLayer`.
 */
import { Clock as EffectClock, Effect } from "effect"
import { clockPort } from "../host/effect-clock.ts"
import type { Clock } from "../host/ports.ts"

export const nodeClock: Clock = clockPort(Effect.runSync(EffectClock.clockWith(Effect.succeed)))
