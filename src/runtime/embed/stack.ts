/**
 * The embedder's entry on any JavaScript runtime: one stack instance on host ports the embedder
 * supplies (`HostDeps`: clock, logger, TCP, UDP, ICMP, timers) and a seed, with frames in and
 * out through plain callbacks. `NodeStack` (node-stack.ts) is this on the Node runtime; in a
 * browser or another runtime, pass ports of your own or the mocked host's (`createMockHost`).
 *
 * Contract:
 * - The constructor refuses bad options with one `ConfigError` (config/network.ts).
 * - `fromGuest` never throws and takes the frame over: the stack may keep views of it (a TCP
 *   payload on its way to a host socket), so never write to it afterwards; copy it first if you
 *   reuse your buffer.
 * - Frames for the guest go to every `onFrameToGuest` callback in order, and are only valid
 *   during the call (copy to keep). A callback may run inside `fromGuest` (an ARP or ping reply
 *   is answered at once) and may itself call `fromGuest`: the session queues that behind the
 *   current event, it never re-enters the stack.
 * - Backpressure: `guestBusy()` says the guest cannot take frames now (an emulator's receive
 *   ring is full); frames for it are then held here, in order, up to `HELD_LIMIT_BYTES` (beyond
 *   that they are dropped with one debug line per burst: the stack's TCP recovers as from any
 *   loss), and `guestReady()` delivers what was held, in order, before anything newer.
 * - After `close` (every host socket and timer closed) nothing more is delivered.
 * - Forwarding (`ForwardControl`, api/forward-control.ts): `hostFwd`/`guestFwd` rules in QEMU's
 *   syntax given at construction (a bad one is a `ConfigError`), and `addHostFwd`,
 *   `removeHostFwd`, `listHostFwd`, `addGuestFwd`, `removeGuestFwd`, `listGuestFwd`,
 *   `listConnections` while it runs (forward/forwarder.ts has their contract). Listeners need
 *   host ports with `listen`/`bind` (the Node ports and the mocked host have them).
 */
import type { StackConfig } from "../../protocol/stack/config.ts"
import { stackConfig, type StackOptions } from "../config/network.ts"
import { openSession, type HostDeps, type StackSession } from "../host/session.ts"
import { ConfigError } from "../config/network.ts"
import type { ConnectionInfo, ForwardControl, GuestFwdEntry, GuestFwdRule, HostFwdEntry, HostFwdRule } from "../api/forward-control.ts"
import { Forwarder } from "../forward/forwarder.ts"
import { parseGuestFwd, parseHostFwd } from "../forward/rules.ts"

/** Forwarding rules to start with, as `--hostfwd` / `--guestfwd` take them. */
export interface ForwardOptions {
  /** `tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT`, `udp:...`, `unix:PATH-[GUESTADDR]:GUESTPORT`. */
  readonly hostFwd?: ReadonlyArray<string>
  /** `tcp:[SERVER]:PORT-TARGET`, TARGET `HOST:PORT`, `unix:PATH` or `cmd:COMMAND`. */
  readonly guestFwd?: ReadonlyArray<string>
}

/** Frames held for a busy guest beyond this many bytes are dropped. */
export const HELD_LIMIT_BYTES = 4 * 1024 * 1024

export class EmbeddedStack implements ForwardControl {
  readonly config: StackConfig
  private readonly session: StackSession
  private readonly forwarder: Forwarder
  private readonly detach: () => void
  private readonly callbacks = new Set<(frame: Uint8Array) => void>()
  private busy = false
  private held: Array<Uint8Array> = []
  private heldHead = 0
  private heldBytes = 0
  private dropped = 0

  /** `seed` is used unless `options.seed` is given (the runtime's random one, typically). */
  constructor(options: StackOptions, deps: HostDeps, seed: number, forward: ForwardOptions = {}) {
    this.config = stackConfig(options, seed)
    const logger = deps.logger
    const problems: Array<string> = []
    const hostFwd = (forward.hostFwd ?? []).flatMap((r) => {
      const p = parseHostFwd(r)
      return typeof p === "string" ? (problems.push(`hostFwd: ${p}`), []) : [p]
    })
    const guestFwd = (forward.guestFwd ?? []).flatMap((r) => {
      const p = parseGuestFwd(r)
      return typeof p === "string" ? (problems.push(`guestFwd: ${p}`), []) : [p]
    })
    if (problems.length > 0) throw new ConfigError(`invalid forwarding: ${problems.join("; ")}`)
    this.forwarder = new Forwarder(this.config, () => deps.clock.now(), hostFwd, guestFwd)
    this.session = openSession(this.config, this.forwarder.wrapDeps(deps), (frame) => {
      if (!this.busy) return this.deliver(frame)
      if (this.heldBytes + frame.length > HELD_LIMIT_BYTES) {
        if (this.dropped++ === 0) logger.log("debug", "guest busy and frames held at the limit: dropping frames for it")
        return
      }
      // Kept by reference: the stack never writes to a frame it delivered.
      this.held.push(frame)
      this.heldBytes += frame.length
    })
    this.detach = this.forwarder.attach(this.session)
  }

  /** Forward a host port to the guest (resolves once the host socket is bound). */
  addHostFwd(rule: HostFwdRule): Promise<HostFwdEntry> {
    return this.forwarder.addHostFwd(rule)
  }

  removeHostFwd(id: number): Promise<void> {
    return this.forwarder.removeHostFwd(id)
  }

  listHostFwd(): ReadonlyArray<HostFwdEntry> {
    return this.forwarder.listHostFwd()
  }

  /** Forward the guest's connections to a virtual SERVER:PORT to a host target. */
  addGuestFwd(rule: GuestFwdRule): Promise<GuestFwdEntry> {
    return this.forwarder.addGuestFwd(rule)
  }

  removeGuestFwd(id: number): Promise<void> {
    return this.forwarder.removeGuestFwd(id)
  }

  listGuestFwd(): ReadonlyArray<GuestFwdEntry> {
    return this.forwarder.listGuestFwd()
  }

  /** The connections and flows the stack relays now. */
  listConnections(): ReadonlyArray<ConnectionInfo> {
    return this.forwarder.listConnections()
  }

  private deliver(frame: Uint8Array): void {
    for (const cb of this.callbacks) cb(frame)
  }

  /** Hand the stack one Ethernet frame (no FCS) from the guest; the stack takes it over. */
  fromGuest(frame: Uint8Array): void {
    this.session.fromGuest(frame)
  }

  /** Receive frames for the guest; returns a function that unsubscribes. */
  onFrameToGuest(cb: (frame: Uint8Array) => void): () => void {
    this.callbacks.add(cb)
    return () => void this.callbacks.delete(cb)
  }

  /** The guest cannot take frames now: hold them until `guestReady`. */
  guestBusy(): void {
    this.busy = true
  }

  /** The guest takes frames again: deliver the held ones in order, then carry on. */
  guestReady(): void {
    // A callback may say busy again while we deliver: keep the rest held, in order.
    this.busy = false
    this.dropped = 0
    while (!this.busy && this.heldHead < this.held.length) {
      const frame = this.held[this.heldHead]!
      this.held[this.heldHead++] = EMPTY
      this.heldBytes -= frame.length
      this.deliver(frame)
    }
    if (this.heldHead === this.held.length) {
      this.held = []
      this.heldHead = 0
    }
  }

  /** Shut the stack down: host sockets and timers closed, state dropped. Idempotent. */
  close(): void {
    this.detach()
    this.session.shutdown()
    this.callbacks.clear()
    this.held = []
    this.heldHead = 0
    this.heldBytes = 0
  }
}

const EMPTY = new Uint8Array(0)
