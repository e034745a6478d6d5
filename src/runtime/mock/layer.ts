/**
 * The mocked host as Effect services: the one wiring of the mocked host (`MockHost.deps` is
 * this layer's services as a record). The clock is the host's, i.e. Effect's `Clock` it was
 * made on (a `TestClock` in tests).
 */
import { Layer } from "effect"
import { effectLogLayer } from "../host/effect-log.ts"
import type { Logger } from "../host/ports.ts"
import { HostClock, HostFiles, HostIcmp, HostRandom, HostTcp, HostUdp, Log, Timers, type HostServices } from "../host/services.ts"
import type { MockHost } from "./mock-host.ts"

export const mockHostLayer = (host: MockHost, logger: Logger): Layer.Layer<HostServices> => {
  const deps = host.ports
  // Seeds 1, 2, 3, ... per stack instance: reproducible, and still distinct per guest.
  let seeds = 0
  return Layer.mergeAll(
    Layer.succeed(HostClock, deps.clock),
    Layer.succeed(Log, logger),
    Layer.succeed(HostTcp, deps.tcp),
    Layer.succeed(HostUdp, deps.udp),
    Layer.succeed(HostIcmp, deps.icmp),
    Layer.succeed(Timers, deps.timers),
    Layer.succeed(HostFiles, deps.files),
    Layer.succeed(HostRandom, { seed: () => ++seeds }),
    // Effect's own log lines go to the same logger as the stack's.
    Layer.provide(effectLogLayer, Layer.succeed(Log, logger)),
  )
}
