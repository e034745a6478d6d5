/**
 * The Node implementation of the host services: `node:net`, UDP sockets that report ICMP
 * errors and ping sockets from the native addon (`node:dgram` when the addon is unavailable),
 * real timers and seeds from the OS's CSPRNG, read-only files for TFTP (files.ts), and Effect's
 * logger writing to the `Log` sink (host/effect-log.ts). Time is Effect's `Clock`
 * (host/effect-clock.ts): whatever `Clock` is in scope when the layer is built. Needs a `Log`
 * (see `logLayer`).
 */
import { Effect, Layer } from "effect"
import type { LogLevel } from "../../effects/log.ts"
import type { Logger } from "../host/ports.ts"
import { hostClockLayer } from "../host/effect-clock.ts"
import { effectLogLayer } from "../host/effect-log.ts"
import { HostClock, HostFiles, HostIcmp, HostRandom, HostTcp, HostUdp, Log, Timers } from "../host/services.ts"
import { nodeFiles } from "./files.ts"
import { nodeIcmp } from "./icmp.ts"
import { stderrLogger } from "./logger.ts"
import { randomSeed } from "./seed.ts"
import { nodeTcp } from "./tcp.ts"
import { nodeTimers } from "./timers.ts"
import { nodeUdp } from "./udp.ts"

export const logLayer = (logger: Logger): Layer.Layer<Log> => Layer.succeed(Log, logger)

export const stderrLogLayer = (threshold: LogLevel): Layer.Layer<Log> => logLayer(stderrLogger(threshold))

/** Source addresses of host sockets (`--outbound-addr`, `--outbound-addr6`); default: the kernel's choice. */
export interface NodeHostOptions {
  readonly outbound4?: string
  readonly outbound6?: string
}

const ports = Effect.all({ clock: HostClock, log: Log })

export const nodeHostLayerWith = (options: NodeHostOptions): Layer.Layer<HostClock | HostTcp | HostUdp | HostIcmp | Timers | HostRandom | HostFiles, never, Log> =>
  Layer.mergeAll(
    Layer.effect(HostTcp, Effect.map(ports, ({ clock, log }) => nodeTcp(clock, log, options))),
    Layer.effect(HostUdp, Effect.map(ports, ({ clock, log }) => nodeUdp(clock, log, options))),
    Layer.effect(HostIcmp, Effect.map(ports, ({ clock, log }) => nodeIcmp(clock, log, options))),
    Layer.effect(Timers, Effect.map(HostClock, (clock) => nodeTimers(clock))),
    Layer.effect(HostFiles, Effect.map(ports, ({ clock, log }) => nodeFiles(clock, log))),
    Layer.succeed(HostRandom, { seed: randomSeed }),
    // Effect's own log lines (sessions starting and ending, with the guest) go to the same sink.
    effectLogLayer,
  ).pipe(Layer.provideMerge(hostClockLayer))

export const nodeHostLayer = nodeHostLayerWith({})
