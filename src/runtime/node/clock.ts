/** The Node clock: `performance.now()` milliseconds, monotonic, as the stack's `Instant`. */
import { performance } from "node:perf_hooks"
import { instant } from "../../effects/instant.ts"
import type { Clock } from "../host/ports.ts"

export const nodeClock: Clock = { now: () => instant(performance.now()) }
