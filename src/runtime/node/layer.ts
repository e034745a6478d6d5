/**
 * The Node implementation of the host services: `node:net`, UDP sockets that report ICMP
 * errors and ping sockets from the native addon (`node:dgram` when the addon is unavailable),
 * real timers and seeds from the OS's CSPRNG, read-only files for TFTP (files.ts), and Effect's logger writing to the `Log` sink
 * (host/effect-log.ts). Needs a `Log` (see `logLayer`).
 */
import { Effect, Layer } from "effect"
import type { LogLevel } from "../../effects/log.ts"
import type { Logger } from "../host/ports.ts"
import { effectLogLayer } from "../host/effect-log.ts"
import { HostClock, HostFiles, HostIcmp, HostRandom, HostTcp, HostUdp, Log, Timers } from "../host/services.ts"
import { nodeFiles } from "./files.ts"
import { nodeClock } from "./clock.ts"
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

export const nodeHostLayerWith = (options: NodeHostOptions): Layer.Layer<HostClock | HostTcp | HostUdp | HostIcmp | Timers | HostRandom | HostFiles, never, Log> => Layer.mergeAll(
  Layer.succeed(HostClock, nodeClock),
  Layer.effect(HostTcp, Effect.map(Log, (log) => nodeTcp(nodeClock, log, options))),
  Layer.effect(HostUdp, Effect.map(Log, (log) => nodeUdp(nodeClock, log, options))),
  Layer.effect(HostIcmp, Effect.map(Log, (log) => nodeIcmp(nodeClock, log))),
  Layer.succeed(Timers, nodeTimers(nodeClock)),
  Layer.effect(HostFiles, Effect.map(Log, (log) => nodeFiles(nodeClock, log))),
  Layer.succeed(HostRandom, { seed: randomSeed }),
  // Effect's own log lines (sessions starting and ending, with the guest) go to the same sink.
  effectLogLayer,
)

export const nodeHostLayer = nodeHostLayerWith({})
