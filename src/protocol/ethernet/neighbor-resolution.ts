/**
 * Neighbour resolution as the IP layers see it, whatever the protocol behind it: ARP for IPv4
 * (neighbors.ts) today, NDP for IPv6 (issue 10) later. An IP layer hands a built frame to
 * `send` and forgets it; resolution queues it while the guest's link-layer address is unknown,
 * solicits it, delivers the queue when the answer (or any traffic that teaches it) arrives
 * through `learn`, and drops the queue with a log line when `timeout` finds it overdue.
 *
 * Contract for every implementation: pure functions over the implementation's state `S`
 * (never written, replaced on change); frames handed to `send` become the resolver's (the
 * caller built them fresh and never touches them again); queued frames are never written
 * after they were queued (a delivered copy carries the learned address); the queue is bounded
 * and every drop is logged; every timer it arms is `{ layer, key }` with its own `layer`.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { TimerId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import type { Mac } from "../wire/mac.ts"

export type NeighborResult<S> = readonly [S, ReadonlyArray<StackEffect>]

export interface NeighborResolution<S, C, A> {
  /**
   * Sends `frame` (Ethernet header space at 0, payload of the resolver's ethertype) to `dst`:
   * addressed and delivered now when its MAC is known (or given as `dstMac`), else queued and
   * solicited.
   */
  readonly send: (s: S, ctx: C, now: Instant, dst: A, frame: Uint8Array, dstMac: Mac | undefined) => NeighborResult<S>
  /** `addr` is at `mac` (seen in the guest's traffic): remember it, deliver what waits for it. */
  readonly learn: (s: S, ctx: C, addr: A, mac: Uint8Array) => NeighborResult<S>
  /** One of this resolver's timers fired: drop a queue whose deadline passed (stale timers are no-ops). */
  readonly timeout: (s: S, timer: TimerId, now: Instant) => NeighborResult<S>
  /** Cancels every timer the resolver armed (the stack shuts down). */
  readonly shutdown: (s: S) => ReadonlyArray<StackEffect>
}
