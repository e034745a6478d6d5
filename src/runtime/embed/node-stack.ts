/**
 * The embedder's entry: one stack instance on the Node runtime (real host sockets and timers),
 * with frames in and out through plain callbacks. For a runtime of your own, use
 * `openSession` with your own ports, or `createStack`/`reduce` directly.
 *
 * Contract: the constructor refuses an invalid config (an Error listing every problem);
 * `fromGuest` never throws; frames for the guest go to every `onFrameToGuest` callback in order
 * and are only valid during the call; after `close` (which closes every host socket and timer)
 * nothing more is delivered.
 */
import type { LogLevel } from "../../effects/log.ts"
import { defaultConfig, type StackConfig, validateConfig } from "../../protocol/stack/config.ts"
import { stderrLogger } from "../host/logger.ts"
import type { Logger } from "../host/ports.ts"
import { openSession, type StackSession } from "../host/session.ts"
import { randomSeed } from "../link/serve.ts"
import { nodeHostDeps } from "../node/deps.ts"

export interface NodeStackOptions {
  /** Where the stack's logs go (default: stderr at `logLevel`). */
  readonly logger?: Logger
  readonly logLevel?: LogLevel
}

export class NodeStack {
  readonly config: StackConfig
  private readonly session: StackSession
  private readonly callbacks = new Set<(frame: Uint8Array) => void>()

  constructor(config: Partial<StackConfig> = {}, options: NodeStackOptions = {}) {
    this.config = { ...defaultConfig, seed: randomSeed(), ...config }
    const problems = validateConfig(this.config)
    if (problems.length > 0) throw new Error(`invalid stack config: ${problems.join("; ")}`)
    const logger = options.logger ?? stderrLogger(options.logLevel ?? "warn")
    this.session = openSession(this.config, nodeHostDeps(logger), (frame) => {
      for (const cb of this.callbacks) cb(frame)
    })
  }

  /**
   * Hand the stack one Ethernet frame (no FCS) from the guest. The frame is handed over: the
   * stack may keep views of it, so never write to it afterwards (pass a copy if you reuse the
   * buffer). The e1000 adapter passes the card's fresh copies.
   */
  fromGuest(frame: Uint8Array): void {
    this.session.fromGuest(frame)
  }

  /** Receive frames for the guest; returns a function that unsubscribes. */
  onFrameToGuest(cb: (frame: Uint8Array) => void): () => void {
    this.callbacks.add(cb)
    return () => void this.callbacks.delete(cb)
  }

  /** Shut the stack down: host sockets and timers closed, state dropped. Idempotent. */
  close(): void {
    this.session.shutdown()
    this.callbacks.clear()
  }
}
