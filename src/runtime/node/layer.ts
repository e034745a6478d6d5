/**
 * The Node implementation of the host services: `node:net`, UDP sockets that report ICMP
 * errors and ping sockets from the native addon (`node:dgram` when the addon is unavailable),
 * real timers and seeds from the OS's CSPRNG, and Effect's logger writing to the `Log` sink
 * (host/effect-log.ts). Time is Effect's `Clock` (host/effect-clock.ts): whatever `Clock` is in
 * scope when the layer is built. Needs a `Log` (see `logLayer`).
 */
import { Effect, Layer } from "effect"
import type { LogLevel } from "../../effects/log.ts"
import type { Logger } from "../host/ports.ts"
import { hostClockLayer } from "../host/effect-clock.ts"
import { effectLogLayer } from "../host/effect-log.ts"
import { HostClock, HostIcmp, HostRandom, HostTcp, HostUdp, Log, Timers } from "../host/services.ts"
import { nodeIcmp } from "./icmp.ts"
import { stderrLogger } from "./logger.ts"
import { randomSeed } from "./seed.ts"
import { nodeTcp } from "./tcp.ts"
import { nodeTimers } from "./timers.ts"
import { nodeUdp } from "./udp.ts"

export const logLayer = (logger: Logger): Layer.Layer<Log> => Layer.succeed(Log, logger)

export const stderrLogLayer = (threshold: LogLevel): Layer.Layer<Log> => logLayer(stderrLogger(threshold))

const ports = Effect.all({ clock: HostClock, log: Log })

export const nodeHostLayer: Layer.Layer<HostClock | HostTcp | HostUdp | HostIcmp | Timers | HostRandom, never, Log> = Layer.mergeAll(
  Layer.effect(HostTcp, Effect.map(ports, ({ clock, log }) => nodeTcp(clock, log))),
  Layer.effect(HostUdp, Effect.map(ports, ({ clock, log }) => nodeUdp(clock, log))),
  Layer.effect(HostIcmp, Effect.map(ports, ({ clock, log }) => nodeIcmp(clock, log))),
  Layer.effect(Timers, Effect.map(HostClock, (clock) => nodeTimers(clock))),
  Layer.succeed(HostRandom, { seed: randomSeed }),
  // Effect's own log lines (sessions starting and ending, with the guest) go to the same sink.
  effectLogLayer,
).pipe(Layer.provideMerge(hostClockLayer))
