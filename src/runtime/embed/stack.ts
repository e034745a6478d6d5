/**
 * The embedder's entry on any JavaScript runtime: one stack instance on host ports the embedder
 * supplies (`HostDeps`: clock, logger, TCP, UDP, ICMP, timers) and a seed, with frames in and
 * out through plain callbacks. `NodeStack` (node-stack.ts) is this on the Node runtime; in a
 * browser or another runtime, pass ports of your own or the mocked host's (`createMockHost`).
 *
 * Contract: the constructor refuses bad options with one `ConfigError` (config/network.ts);
 * `fromGuest` never throws and takes the frame over (do not write to it afterwards: views of it
 * may still be on their way to a host socket); frames for the guest go to every
 * `onFrameToGuest` callback in order and are only valid during the call (copy to keep); after
 * `close` (every host socket and timer closed) nothing more is delivered. Re-entrancy: a
 * callback may call `fromGuest`; the session queues it behind the current event.
 */
import type { StackConfig } from "../../protocol/stack/config.ts"
import { stackConfig, type StackOptions } from "../config/network.ts"
import { openSession, type HostDeps, type StackSession } from "../host/session.ts"

export class EmbeddedStack {
  readonly config: StackConfig
  private readonly session: StackSession
  private readonly callbacks = new Set<(frame: Uint8Array) => void>()

  /** `seed` is used unless `options.seed` is given (the runtime's random one, typically). */
  constructor(options: StackOptions, deps: HostDeps, seed: number) {
    this.config = stackConfig(options, seed)
    this.session = openSession(this.config, deps, (frame) => {
      for (const cb of this.callbacks) cb(frame)
    })
  }

  /** Hand the stack one Ethernet frame (no FCS) from the guest. */
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
