/**
 * One guest's session as a scoped Effect program: the stack instance, its host sockets and
 * timers (the ports of `openSession`) and the guest's link are resources of the program's
 * scope.
 *
 * Contract:
 * - `guestSession` runs until the session ends and then fails with why: the guest went away
 *   (`GuestGone`), its link failed (`LinkFailed`) or the reducer threw (`ReducerFailed`).
 *   Interrupting it is the fourth way (shutdown). However it ends, its scope closes: the stack
 *   gets `Shutdown` (sockets closed gracefully where it can), then every host socket and timer
 *   of the session is closed, then the guest's link. Nothing else is touched: a failing session
 *   ends alone.
 * - It runs synchronously up to the point where it waits, so by the time `runFork` returns,
 *   `ready` has been called with the handlers the link feeds (the link's accept callback must
 *   answer at once).
 * - The per-frame path is plain callbacks (session.ts): Effect's cost is paid per session and
 *   per session end, not per frame or batch.
 * Nothing here touches the world: the ports come from the `HostServices` layer.
 */
import { Data, Deferred, Effect } from "effect"
import type { StackConfig } from "../../protocol/stack/config.ts"
import type { GuestConnection, GuestHandlers } from "../link/guest-link.ts"
import { annotatedLogger } from "./effect-log.ts"
import { hostDeps, type HostServices } from "./services.ts"
import { openSession, type StackMachine } from "./session.ts"
import type { Forwarder } from "../forward/forwarder.ts"

export class GuestGone extends Data.TaggedError("GuestGone")<{ readonly peer: string }> {}
export class LinkFailed extends Data.TaggedError("LinkFailed")<{ readonly peer: string; readonly reason: string }> {}
export class ReducerFailed extends Data.TaggedError("ReducerFailed")<{
  readonly peer: string
  readonly event: string
  readonly reason: string
}> {}

/** Why a guest session ended (other than being interrupted). */
export type SessionEnd = GuestGone | LinkFailed | ReducerFailed

export interface GuestSessionOptions {
  /** Receives the handlers for the link, before the program waits. */
  readonly ready: (handlers: GuestHandlers) => void
  /** Sees every frame, both ways, before it goes on (the pcap file). */
  readonly tap?: (frame: Uint8Array) => void
  /** The stack to run (default: the real one); tests pass one that fails on cue. */
  readonly machine?: StackMachine<unknown>
  /** The process's forwarding rules: the session gets them all, and later changes, while it runs. */
  readonly forwarder?: Forwarder
}

/** The link's `onClose` with a reason: `undefined` when the guest simply went away. */
export type GuestClosed = (reason?: string) => void

export const guestSession = (
  config: StackConfig,
  conn: GuestConnection,
  options: GuestSessionOptions,
): Effect.Effect<never, SessionEnd, HostServices> =>
  Effect.scoped(
    Effect.gen(function* () {
      const host = yield* hostDeps
      // The session's own log lines carry the annotations of this program (the guest).
      const annotated = { ...host, logger: annotatedLogger(host.logger, yield* Effect.context<never>()) }
      const forwarder = options.forwarder
      const deps = forwarder === undefined ? annotated : forwarder.wrapDeps(annotated)
      const ended = yield* Deferred.make<never, SessionEnd>()
      const end = (reason: SessionEnd): void => void Deferred.doneUnsafe(ended, Effect.fail(reason))
      // Released last (finalizers run in reverse): the link outlives the session's own close,
      // so the frames `Shutdown` produces can still be flushed to the guest.
      yield* Effect.addFinalizer(() => Effect.sync(() => conn.close()))
      const tap = options.tap
      const toGuest =
        tap === undefined
          ? (frame: Uint8Array) => conn.send(frame)
          : (frame: Uint8Array) => {
              tap(frame)
              conn.send(frame)
            }
      const session = yield* Effect.acquireRelease(
        Effect.sync(() =>
          openSession(config, deps, toGuest, {
            flush: () => conn.flush(),
            ...(options.machine === undefined ? {} : { machine: options.machine }),
            onFailure: (event, err) =>
              end(new ReducerFailed({ peer: conn.peer, event: event._tag, reason: err instanceof Error ? err.message : String(err) })),
          }),
        ),
        (s) => Effect.sync(() => s.shutdown()),
      )
      // Forgotten by the forwarder before the stack shuts down (finalizers run in reverse).
      if (forwarder !== undefined) {
        const detach = forwarder.attach(session)
        yield* Effect.addFinalizer(() => Effect.sync(detach))
      }
      const onClose: GuestClosed = (reason) =>
        end(reason === undefined ? new GuestGone({ peer: conn.peer }) : new LinkFailed({ peer: conn.peer, reason }))
      options.ready({
        onFrame:
          tap === undefined
            ? (frame) => session.fromGuest(frame)
            : (frame) => {
                tap(frame)
                session.fromGuest(frame)
              },
        batch: (fill) => session.batch(fill),
        onClose,
      })
      return yield* Deferred.await(ended)
    }),
  )
