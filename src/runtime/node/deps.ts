/** The Node host capabilities as a plain dependency record (see `layer.ts` for the Effect form). */
import type { Logger } from "../host/ports.ts"
import type { HostDeps } from "../host/session.ts"
import { nodeClock } from "./clock.ts"
import { nodeIcmp } from "./icmp.ts"
import { nodeTcp } from "./tcp.ts"
import { nodeTimers } from "./timers.ts"
import { nodeUdp } from "./udp.ts"

export const nodeHostDeps = (logger: Logger): HostDeps => ({
  clock: nodeClock,
  logger,
  tcp: nodeTcp(nodeClock, logger),
  udp: nodeUdp(nodeClock, logger),
  icmp: nodeIcmp(nodeClock, logger),
  timers: nodeTimers(nodeClock),
})
