/**
 * Serving guests: each guest connection on any link gets its own session program
 * (host/guest-session.ts): its own stack instance (its own seed, from the runtime's
 * `HostRandom`), host sockets, timers and link, all resources of the session's scope, released
 * when the guest goes, its link fails, its stack fails, or the serving scope closes.
 *
 * `serveGuests` is the Effect program the CLI runs: listeners, the pcap file and the sessions
 * are scoped resources, released in reverse order when the scope closes (SIGINT/SIGTERM). It tunes V8's
 * collector for packet rates first (gc-tuning.ts): the process exists to serve guests.
 */
import { Data, Effect, type Fiber, FiberSet, type Scope } from "effect"
import type { StackConfig } from "../../protocol/stack/config.ts"
import { guestSession } from "../host/guest-session.ts"
import { hostDeps, HostRandom, type HostServices } from "../host/services.ts"
import { openPcapFile, type PcapWriter } from "../pcap/pcap-writer.ts"
import type { Forwarder } from "../forward/forwarder.ts"
import type { AcceptGuest, GuestHandlers, GuestListener, LinkSpec } from "./guest-link.ts"
import { GuestLinks } from "./guest-link.ts"

export class LinkError extends Data.TaggedError("LinkError")<{ readonly message: string }> {}

/** Runs a guest's session program, in the set of sessions the serving scope interrupts. */
type RunSession = (program: Effect.Effect<void, never, HostServices>) => Fiber.Fiber<void, never>

/**
 * The accept callback: a fresh session program per guest (guest-session.ts), frames mirrored to
 * `pcap` both ways. How the session ended is logged, with the guest as an annotation; an end is
 * never an error of the process.
 */
export const sessionPerGuest = (config: StackConfig, pcap: PcapWriter | undefined, run: RunSession, seed: () => number, forwarder?: Forwarder): AcceptGuest => {
  const tap = pcap === undefined ? undefined : (frame: Uint8Array) => pcap.write(frame)
  return (conn) => {
    let handlers: GuestHandlers | undefined
    const program = Effect.logInfo("guest connected").pipe(
      Effect.andThen(guestSession({ ...config, seed: seed() }, conn, { ready: (h) => (handlers = h), ...(tap === undefined ? {} : { tap }), ...(forwarder === undefined ? {} : { forwarder }) })),
      Effect.catchTags({
        GuestGone: () => Effect.logInfo("guest disconnected"),
        LinkFailed: (e) => Effect.logInfo(`guest link failed: ${e.reason}`),
        ReducerFailed: (e) => Effect.logError(`session ended: the stack failed on ${e.event}: ${e.reason}`),
      }),
      Effect.onInterrupt(() => Effect.logInfo("guest session shut down")),
      Effect.annotateLogs("guest", conn.peer),
    )
    run(program)
    // `guestSession` calls `ready` before it first waits, and `run` runs it that far at once.
    if (handlers === undefined) throw new Error("guest session did not start synchronously")
    return handlers
  }
}

/**
 * QEMU's `-netdev dgram` socket (like ours) has the kernel's default ~208 KB receive buffer and
 * no backpressure: a TCP window of many jumbo frames arrives as a burst it drops. Measured at
 * MTU 65000 (bench, 2 rounds): a 256 KiB bound moves 7.3 / 6.7 Gbit/s (guest->host /
 * host->guest), 1 MiB 3.2 / 3.9, 2 MB 5.8 / 3.3.
 */
export const DATAGRAM_LINK_TCP_BUFFER_BYTES = 256 * 1024

const datagramLinkConfig = (config: StackConfig): StackConfig =>
  config.tcpBufferBytes !== undefined ? config : { ...config, tcpBufferBytes: DATAGRAM_LINK_TCP_BUFFER_BYTES }

export interface ServeOptions {
  readonly config: StackConfig
  readonly links: ReadonlyArray<LinkSpec>
  readonly pcap?: string | undefined
  /** Forwarding rules every guest's session gets (hostfwd, guestfwd), changeable while serving. */
  readonly forwarder?: Forwarder | undefined
}

/** Opens every link (and the pcap file); returns the listeners. Everything closes with the scope. */
export const serveGuests = (
  options: ServeOptions,
): Effect.Effect<ReadonlyArray<GuestListener>, LinkError, HostServices | GuestLinks | Scope.Scope> =>
  Effect.gen(function* () {
    const deps = yield* hostDeps
    const { seed } = yield* HostRandom
    const links = yield* GuestLinks
    // Every session is a fiber of this set: closing the serving scope interrupts them all,
    // which ends each session (its scope closes: stack, sockets, timers, link).
    const run: RunSession = yield* FiberSet.makeRuntime<HostServices, void, never>()
    const path = options.pcap
    const pcap =
      path === undefined
        ? undefined
        : yield* Effect.acquireRelease(
            Effect.try({
              try: () => openPcapFile(path, deps.logger),
              catch: (e) => new LinkError({ message: `cannot open pcap file ${path}: ${e instanceof Error ? e.message : String(e)}` }),
            }),
            (w) => Effect.sync(() => w.close()),
          )
    const accept = sessionPerGuest(options.config, pcap, run, seed, options.forwarder)
    const acceptDatagrams = sessionPerGuest(datagramLinkConfig(options.config), pcap, run, seed, options.forwarder)
    const listeners: Array<GuestListener> = []
    for (const spec of options.links) {
      const acceptHere = spec._tag === "Udp" ? acceptDatagrams : accept
      const listener = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => links.open(spec, acceptHere, deps.logger),
          catch: (e) => new LinkError({ message: `cannot open ${describeSpec(spec)}: ${e instanceof Error ? e.message : String(e)}` }),
        }),
        (l) => Effect.promise(() => l.close()),
      )
      listeners.push(listener)
    }
    return listeners
  })

export const describeSpec = (spec: LinkSpec): string => {
  switch (spec._tag) {
    case "Unix":
      return `unix:${spec.path}`
    case "TcpListen":
      return `tcp:${spec.host}:${spec.port}`
    case "Udp":
      return `udp:${spec.local.host}:${spec.local.port}->${spec.remote.host}:${spec.remote.port}`
  }
}
