/**
 * The embedder's entry on Node: one stack instance on the Node runtime (real host sockets and
 * timers, a seed from the OS, logs to stderr unless a logger is given), frames in and out
 * through plain callbacks (`EmbeddedStack`, stack.ts, has the contract). For other runtimes use
 * `EmbeddedStack` with ports of your own, or `openSession`, or `createStack`/`reduce`.
 *
 * Contract: the constructor refuses bad options with one `ConfigError` listing every problem.
 * Forwarding rules (`hostFwd`, `guestFwd`) and the outbound addresses are options here; the
 * rules can be changed while running (`EmbeddedStack`'s `ForwardControl` methods).
 */
import type { LogLevel } from "../../effects/log.ts"
import type { StackOptions } from "../config/network.ts"
import type { Logger } from "../host/ports.ts"
import { nodeHostDeps } from "../node/deps.ts"
import { stderrLogger } from "../node/logger.ts"
import { randomSeed } from "../node/seed.ts"
import { EmbeddedStack, type ForwardOptions } from "./stack.ts"

export interface NodeStackOptions extends ForwardOptions {
  /** Where the stack's logs go (default: stderr at `logLevel`). */
  readonly logger?: Logger
  readonly logLevel?: LogLevel
  /** Source address of host sockets (`--outbound-addr`, `--outbound-addr6`). */
  readonly outboundAddr?: string
  readonly outboundAddr6?: string
}

export class NodeStack extends EmbeddedStack {
  constructor(config: StackOptions = {}, options: NodeStackOptions = {}) {
    const outbound = { ...(options.outboundAddr === undefined ? {} : { outbound4: options.outboundAddr }), ...(options.outboundAddr6 === undefined ? {} : { outbound6: options.outboundAddr6 }) }
    super(config, nodeHostDeps(options.logger ?? stderrLogger(options.logLevel ?? "warn"), outbound), randomSeed(), options)
  }
}
