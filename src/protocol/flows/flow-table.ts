/**
 * The NAPT flow table: one host socket per guest-side endpoint, for UDP and ICMP echo alike
 * (issue 11's UDP forwarding adds flows the host side opened to the same table).
 *
 * A flow is found two ways: by its host socket (`bySock`, for host events) and by its guest
 * side (`byGuest`: kind, guest address, guest port or echo identifier, for guest datagrams).
 * Each kind has its own size bound (the caller checks `countOf`), every flow carries its own
 * idle limit, and one sweep timer (`{ layer: "flows", key: 0 }`) runs while any flow exists.
 *
 * Pure and persistent: both indexes are IntMaps (data/int-map.ts), so adding, removing or
 * changing a flow copies one path of each, never the table; no function writes to a table or
 * flow it was given. To keep the per-datagram path free of copies, `touch` records activity
 * only when the last record is at least TOUCH_GRANULARITY_MS old: expiry is measured in
 * seconds, so that loses nothing.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { LogFlow } from "../../effects/log.ts"
import { type SocketId, type TimerId, timerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"
import { type IntMap, emptyIntMap, intMapGet, intMapRemove, intMapSet, intMapValues } from "../data/int-map.ts"
import { type IpAddress, ipEquals } from "../wire/ip-address.ts"
import { logLine } from "./log-flow.ts"

export const TOUCH_GRANULARITY_MS = 1000
/** How often idle flows are looked for. */
export const FLOW_SWEEP_MS = 5_000
export const FLOW_SWEEP_TIMER: TimerId = timerId("flows", 0)

/** What a flow carries: a UDP socket, or an ICMP echo socket. */
export type FlowKind = "udp" | "icmp"

export interface Flow {
  readonly kind: FlowKind
  readonly sock: SocketId
  /** The guest side: its address (either family) and UDP port, or echo identifier. */
  readonly guest: IpAddress
  readonly guestPort: number
  readonly lastActive: Instant
  /** Idle time after which the sweep closes the flow. */
  readonly idleMs: number
}

export interface FlowTable<F extends Flow> {
  readonly bySock: IntMap<SocketId, F>
  /** `guestIndexKey(kind, guestPort)` -> the sockets of the flows with that port (a few guests). */
  readonly byGuest: IntMap<number, ReadonlyArray<SocketId>>
  readonly udpCount: number
  readonly icmpCount: number
  readonly sweepArmed: boolean
}

export const emptyFlows = <F extends Flow>(): FlowTable<F> => ({
  bySock: emptyIntMap(),
  byGuest: emptyIntMap(),
  udpCount: 0,
  icmpCount: 0,
  sweepArmed: false,
})

const guestIndexKey = (kind: FlowKind, port: number): number => (kind === "udp" ? 0 : 0x10000) + port

export const countOf = <F extends Flow>(t: FlowTable<F>, kind: FlowKind): number => (kind === "udp" ? t.udpCount : t.icmpCount)

export const flowCount = <F extends Flow>(t: FlowTable<F>): number => t.bySock.size

export const flowForSock = <F extends Flow>(t: FlowTable<F>, sock: SocketId): F | undefined => intMapGet(t.bySock, sock)

export const flowForGuest = <F extends Flow>(t: FlowTable<F>, kind: FlowKind, guest: IpAddress, port: number): F | undefined => {
  const socks = intMapGet(t.byGuest, guestIndexKey(kind, port))
  if (socks === undefined) return undefined
  for (const sock of socks) {
    const f = intMapGet(t.bySock, sock)
    if (f !== undefined && f.kind === kind && ipEquals(f.guest, guest)) return f
  }
  return undefined
}

const counted = <F extends Flow>(t: FlowTable<F>, kind: FlowKind, delta: number): Pick<FlowTable<F>, "udpCount" | "icmpCount"> =>
  kind === "udp" ? { udpCount: t.udpCount + delta, icmpCount: t.icmpCount } : { udpCount: t.udpCount, icmpCount: t.icmpCount + delta }

/**
 * Adds a flow, or replaces the flow with the same socket (its guest side must not change).
 * Returns the table and, for a new flow while no sweep is armed, the effect arming it.
 */
export const putFlow = <F extends Flow>(t: FlowTable<F>, f: F, now: Instant): readonly [FlowTable<F>, ReadonlyArray<StackEffect>] => {
  const old = intMapGet(t.bySock, f.sock)
  const bySock = intMapSet(t.bySock, f.sock, f)
  if (old !== undefined) return [{ ...t, bySock }, []]
  const k = guestIndexKey(f.kind, f.guestPort)
  const byGuest = intMapSet(t.byGuest, k, [...(intMapGet(t.byGuest, k) ?? []), f.sock])
  const arm: ReadonlyArray<StackEffect> = t.sweepArmed ? [] : [{ _tag: "SetTimer", timer: FLOW_SWEEP_TIMER, at: addMillis(now, FLOW_SWEEP_MS) }]
  return [{ ...t, bySock, byGuest, ...counted(t, f.kind, 1), sweepArmed: true }, arm]
}

export const removeFlow = <F extends Flow>(t: FlowTable<F>, sock: SocketId): FlowTable<F> => {
  const f = intMapGet(t.bySock, sock)
  if (f === undefined) return t
  const k = guestIndexKey(f.kind, f.guestPort)
  const rest = (intMapGet(t.byGuest, k) ?? []).filter((x) => x !== sock)
  const byGuest = rest.length === 0 ? intMapRemove(t.byGuest, k) : intMapSet(t.byGuest, k, rest)
  return { ...t, bySock: intMapRemove(t.bySock, sock), byGuest, ...counted(t, f.kind, -1) }
}

/** Marks the flow active at `now`, copying only when the last mark is stale. */
export const touch = <F extends Flow>(t: FlowTable<F>, f: F, now: Instant): FlowTable<F> =>
  now - f.lastActive < TOUCH_GRANULARITY_MS ? t : { ...t, bySock: intMapSet(t.bySock, f.sock, { ...f, lastActive: now }) }

/**
 * The sweep timer fired: closes the flows idle for longer than their limit (each logged at
 * debug level with `describe`, about the flow `flowOf` names) and re-arms while any flow is left.
 */
export const sweepFlows = <F extends Flow>(
  t: FlowTable<F>,
  now: Instant,
  describe: (f: F) => string,
  flowOf?: (f: F) => LogFlow,
): readonly [FlowTable<F>, ReadonlyArray<StackEffect>] => {
  let flows = t
  const out: Array<StackEffect> = []
  for (const f of intMapValues(t.bySock)) {
    if (now - f.lastActive < f.idleMs) continue
    flows = removeFlow(flows, f.sock)
    out.push({ _tag: "SocketClose", sock: f.sock }, logLine("debug", `${describe(f)} expired`, flowOf?.(f)))
  }
  const armed = flows.bySock.size > 0
  if (armed) out.push({ _tag: "SetTimer", timer: FLOW_SWEEP_TIMER, at: addMillis(now, FLOW_SWEEP_MS) })
  return [{ ...flows, sweepArmed: armed }, out]
}

/** Closes every flow's socket and cancels the sweep timer if it is armed. */
export const closeAllFlows = <F extends Flow>(t: FlowTable<F>): ReadonlyArray<StackEffect> => {
  const out: Array<StackEffect> = []
  for (const f of intMapValues(t.bySock)) out.push({ _tag: "SocketClose", sock: f.sock })
  if (t.sweepArmed) out.push({ _tag: "CancelTimer", timer: FLOW_SWEEP_TIMER })
  return out
}
