/** The mocked host as Effect services, for programs written against the service layer. */
import { Layer } from "effect"
import type { Logger } from "../host/ports.ts"
import { HostClock, HostIcmp, HostTcp, HostUdp, Log, Timers, type HostServices } from "../host/services.ts"
import type { MockHost } from "./mock-host.ts"

export const mockHostLayer = (host: MockHost, logger: Logger): Layer.Layer<HostServices> => {
  const deps = host.deps(logger)
  return Layer.mergeAll(
    Layer.succeed(HostClock, deps.clock),
    Layer.succeed(Log, logger),
    Layer.succeed(HostTcp, deps.tcp),
    Layer.succeed(HostUdp, deps.udp),
    Layer.succeed(HostIcmp, deps.icmp),
    Layer.succeed(Timers, deps.timers),
  )
}
