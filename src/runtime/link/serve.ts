/**
 * Serving guests: each guest connection on any link gets its own stack instance (its own
 * seed, from the runtime's `HostRandom`), its own host sockets and timers. When the guest goes
 * away the session is shut down (`Shutdown`, then every socket and timer closed) and dropped.
 *
 * `serveGuests` is the Effect program the CLI runs: listeners and the pcap file are scoped
 * resources, released in reverse order when the scope closes (SIGINT/SIGTERM). It tunes V8's
 * collector for packet rates first (gc-tuning.ts): the process exists to serve guests.
 */
import { Data, Effect, type Scope } from "effect"
import type { StackConfig } from "../../protocol/stack/config.ts"
import type { HostDeps, StackSession } from "../host/session.ts"
import { openSession } from "../host/session.ts"
import { hostDeps, HostRandom, type HostServices } from "../host/services.ts"
import { openPcapFile, type PcapWriter } from "../pcap/pcap-writer.ts"
import type { AcceptGuest, GuestListener, LinkSpec } from "./guest-link.ts"
import { GuestLinks } from "./guest-link.ts"

export class LinkError extends Data.TaggedError("LinkError")<{ readonly message: string }> {}

/** The accept callback: a fresh session per guest, frames mirrored to `pcap` both ways. */
export const sessionPerGuest = (
  config: StackConfig,
  deps: HostDeps,
  pcap: PcapWriter | undefined,
  sessions: Set<StackSession>,
  seed: () => number,
): AcceptGuest => {
  return (conn) => {
    deps.logger.log("info", `guest connected: ${conn.peer}`)
    const toGuest =
      pcap === undefined
        ? (frame: Uint8Array) => conn.send(frame)
        : (frame: Uint8Array) => {
            pcap.write(frame)
            conn.send(frame)
          }
    const session = openSession({ ...config, seed: seed() }, deps, toGuest, { flush: () => conn.flush() })
    sessions.add(session)
    return {
      onFrame:
        pcap === undefined
          ? (frame) => session.fromGuest(frame)
          : (frame) => {
              pcap.write(frame)
              session.fromGuest(frame)
            },
      batch: (fill) => session.batch(fill),
      onClose() {
        sessions.delete(session)
        session.shutdown()
        deps.logger.log("info", `guest disconnected: ${conn.peer}`)
      },
    }
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
}

/** Opens every link (and the pcap file); returns the listeners. Everything closes with the scope. */
export const serveGuests = (
  options: ServeOptions,
): Effect.Effect<ReadonlyArray<GuestListener>, LinkError, HostServices | GuestLinks | Scope.Scope> =>
  Effect.gen(function* () {
    const deps = yield* hostDeps
    const { seed } = yield* HostRandom
    const links = yield* GuestLinks
    const sessions = new Set<StackSession>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const s of sessions) s.shutdown()
        sessions.clear()
      }),
    )
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
    const accept = sessionPerGuest(options.config, deps, pcap, sessions, seed)
    const acceptDatagrams = sessionPerGuest(datagramLinkConfig(options.config), deps, pcap, sessions, seed)
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
