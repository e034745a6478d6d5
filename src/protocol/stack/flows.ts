/**
 * A table of NAPT flows (UDP sockets, ICMP echo sockets) keyed by the guest side, with the
 * reverse index from host socket to flow, a size bound and idle expiry.
 *
 * Maps are replaced, not mutated, when a flow is added, removed or changed. To keep the
 * per-datagram path free of copies, `touch` records activity only when the last record is at
 * least TOUCH_GRANULARITY_MS old: expiry is measured in seconds, so that loses nothing.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { SocketId, TimerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"

export const TOUCH_GRANULARITY_MS = 1000

export interface Flow {
  readonly sock: SocketId
  readonly lastActive: Instant
}

export interface FlowTable<F extends Flow> {
  readonly byKey: ReadonlyMap<string, F>
  readonly bySock: ReadonlyMap<SocketId, string>
}

export const emptyFlows = <F extends Flow>(): FlowTable<F> => ({ byKey: new Map(), bySock: new Map() })

export const flowForSock = <F extends Flow>(t: FlowTable<F>, sock: SocketId): F | undefined => {
  const key = t.bySock.get(sock)
  return key === undefined ? undefined : t.byKey.get(key)
}

/** Adds or replaces the flow at `key`. */
export const putFlow = <F extends Flow>(t: FlowTable<F>, key: string, f: F): FlowTable<F> => {
  const byKey = new Map(t.byKey)
  byKey.set(key, f)
  const old = t.byKey.get(key)
  if (old !== undefined && old.sock === f.sock) return { byKey, bySock: t.bySock }
  const bySock = new Map(t.bySock)
  if (old !== undefined) bySock.delete(old.sock)
  bySock.set(f.sock, key)
  return { byKey, bySock }
}

export const removeFlow = <F extends Flow>(t: FlowTable<F>, sock: SocketId): FlowTable<F> => {
  const key = t.bySock.get(sock)
  if (key === undefined) return t
  const byKey = new Map(t.byKey)
  byKey.delete(key)
  const bySock = new Map(t.bySock)
  bySock.delete(sock)
  return { byKey, bySock }
}

/** Marks the flow active at `now`, copying only when the last mark is stale. */
export const touch = <F extends Flow>(t: FlowTable<F>, key: string, f: F, now: Instant): FlowTable<F> =>
  now - f.lastActive < TOUCH_GRANULARITY_MS ? t : putFlow(t, key, { ...f, lastActive: now })

/** The flows idle for longer than their limit at `now`. */
export const expiredFlows = <F extends Flow>(t: FlowTable<F>, now: Instant, idleLimitMs: (f: F) => number): ReadonlyArray<F> => {
  const out: Array<F> = []
  for (const f of t.byKey.values()) if (now - f.lastActive >= idleLimitMs(f)) out.push(f)
  return out
}

/**
 * The periodic sweep of a flow table: closes the expired flows (with `describe` logged at
 * debug level when given) and re-arms `timer` while any flow is left. Returns the new table,
 * whether the timer is armed, and the effects.
 */
export const sweepFlows = <F extends Flow>(
  t: FlowTable<F>,
  now: Instant,
  idleLimitMs: (f: F) => number,
  timer: TimerId,
  periodMs: number,
  describe?: (f: F) => string,
): readonly [FlowTable<F>, boolean, ReadonlyArray<StackEffect>] => {
  let flows = t
  const out: Array<StackEffect> = []
  for (const f of expiredFlows(flows, now, idleLimitMs)) {
    flows = removeFlow(flows, f.sock)
    out.push({ _tag: "SocketClose", sock: f.sock })
    if (describe !== undefined) out.push({ _tag: "Log", level: "debug", message: `${describe(f)} expired` })
  }
  const armed = flows.byKey.size > 0
  if (armed) out.push({ _tag: "SetTimer", timer, at: addMillis(now, periodMs) })
  return [flows, armed, out]
}

/** Closes every flow's socket and cancels the sweep timer if it is armed. */
export const closeAllFlows = <F extends Flow>(t: FlowTable<F>, timer: TimerId, armed: boolean): ReadonlyArray<StackEffect> => {
  const out: Array<StackEffect> = [...t.byKey.values()].map((f): StackEffect => ({ _tag: "SocketClose", sock: f.sock }))
  if (armed) out.push({ _tag: "CancelTimer", timer })
  return out
}
