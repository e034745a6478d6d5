/**
 * The TCP layer: the table of connections between the guest and host sockets, and the entry
 * points the stack calls. Each entry point returns the new state and the outputs (segments and
 * ICMP errors for the IP layer, effects for the runtime), in order.
 *
 * Ownership rule (linear state): the `TcpLayerState` passed to an entry point is consumed. The
 * layer updates its table and connection records in place and returns the same object; the
 * caller must use the returned state and never an earlier one. This is the "Map wrapped
 * copy-on-write with an ownership rule" of the design notes with the copy elided: the stack
 * holds exactly one TCP state and threads it through, so nobody can observe the mutation, and
 * a segment costs no table or record copy. Tests that need an earlier state build it again
 * from the same seed and events (everything is deterministic).
 *
 * Guarantees: no exception on guest input (malformed segments are dropped with a debug log);
 * a SYN for a destination `hostEndpointFor` refuses is answered RST; segments for unknown
 * connections are answered RST (RFC 9293 §3.10.7.1); host events and timers for sockets the
 * layer no longer knows are ignored. A new connection's socket id is `ctx.newSocket` (the
 * stack's one allocator); a connection's timer is `{ layer: "tcp", key: <its socket id> }`.
 */
import type { HostEndpoint } from "../../effects/address.ts"
import type {
  HostSocketClosed,
  HostSocketError,
  HostTcpConnected,
  HostTcpData,
  HostTcpEof,
  HostTcpWritten,
} from "../../effects/event.ts"
import { absurd } from "../../effects/absurd.ts"
import { socketId, type SocketId, type TimerId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import type { LayerOutput } from "../stack/output.ts"
import type { Ipv4 } from "../wire/ipv4-address.ts"
import { defaultTcpConfig, type TcpConfig } from "./config.ts"
import { nextRandom } from "./prng.ts"
import { seqAdd, seqGt } from "./seq.ts"
import {
  armTimer,
  createActive,
  createPassive,
  onHostClosed,
  onHostConnected,
  onHostData,
  onHostEof,
  onHostError,
  onHostWritten,
  onSegment,
  onShutdown,
  onTimer,
} from "./connection.ts"
import type { Tcb, TcbEnv } from "./tcb.ts"
import { ACK, emitTcpHeader, FIN, parseTcp, RST, SYN, TCP_CHECKSUM_OFFSET, TCP_PROTOCOL, type TcpView } from "./wire.ts"

export type { TcpConfig } from "./config.ts"
export { defaultTcpConfig } from "./config.ts"
export type { Tcb, TcpState } from "./tcb.ts"

export interface TcpLayerState {
  readonly config: TcpConfig
  /** Connections keyed by `guestPort << 16 | remotePort`; a bucket holds the few sharing ports. */
  readonly table: Map<number, Array<Tcb>>
  readonly bySock: Map<SocketId, Tcb>
  /** PRNG state (prng.ts). */
  rng: number
}

export const createTcpLayer = (seed: number, config: Partial<TcpConfig> = {}): TcpLayerState => ({
  config: { ...defaultTcpConfig, ...config },
  table: new Map(),
  bySock: new Map(),
  rng: seed | 0,
})

export interface TcpContext {
  readonly now: Instant
  /** Guest link MTU: the MSS we advertise is mtu - 40. */
  readonly mtu: number
  /** Where a guest connection to dst:port goes on the host; undefined = refuse (answer RST). */
  readonly hostEndpointFor: (dst: Ipv4, port: number) => HostEndpoint | undefined
  /** The socket id a connection opened during this call gets (the stack's allocator). */
  readonly newSocket: SocketId
}

export interface TcpSegmentIn {
  readonly src: Ipv4
  readonly dst: Ipv4
  readonly ttl: number
  /** The guest's IP header bytes (for ICMP errors). */
  readonly ipHeader: Uint8Array
  /** TCP header + payload: a view into the guest's frame, valid only during the call. */
  readonly segment: Uint8Array
}

export type TcpHostEvent = HostTcpConnected | HostTcpData | HostTcpEof | HostTcpWritten | HostSocketClosed | HostSocketError

type Result = readonly [TcpLayerState, ReadonlyArray<LayerOutput>]

/** Every live connection (diagnostics and tests). */
export const tcpConnections = (s: TcpLayerState): IterableIterator<Tcb> => s.bySock.values()

const keyOf = (guestPort: number, remotePort: number): number => guestPort * 0x10000 + remotePort

const lookup = (s: TcpLayerState, guestIp: Ipv4, guestPort: number, remoteIp: Ipv4, remotePort: number): Tcb | undefined => {
  const bucket = s.table.get(keyOf(guestPort, remotePort))
  if (bucket === undefined) return undefined
  for (const c of bucket) if (c.guestIp === guestIp && c.remoteIp === remoteIp) return c
  return undefined
}

const insert = (s: TcpLayerState, c: Tcb): void => {
  const k = keyOf(c.guestPort, c.remotePort)
  const bucket = s.table.get(k)
  if (bucket === undefined) s.table.set(k, [c])
  else bucket.push(c)
  s.bySock.set(c.sock, c)
}

const remove = (s: TcpLayerState, c: Tcb, out: Array<LayerOutput>): void => {
  const k = keyOf(c.guestPort, c.remotePort)
  const bucket = s.table.get(k)
  if (bucket !== undefined) {
    const rest = bucket.filter((x) => x !== c)
    if (rest.length === 0) s.table.delete(k)
    else s.table.set(k, rest)
  }
  s.bySock.delete(c.sock)
  if (c.hostOpen) {
    c.hostOpen = false
    out.push({ _tag: "SocketClose", sock: c.sock })
  }
  if (c.armedAt !== Infinity) out.push({ _tag: "CancelTimer", timer: c.timerId })
}

/** After any call into a TCB: drop it if closed, else make sure its timer is armed. */
const settle = (s: TcpLayerState, c: Tcb, env: TcbEnv): void => {
  if (c.state === "Closed") remove(s, c, env.out)
  else armTimer(c, env)
}

const random = (s: TcpLayerState): number => {
  const [v, next] = nextRandom(s.rng)
  s.rng = next
  return v
}

const envOf = (s: TcpLayerState, ctx: { readonly now: Instant; readonly mtu: number }): TcbEnv => ({
  now: ctx.now,
  mtu: ctx.mtu,
  config: s.config,
  out: [],
})

/** RFC 9293 §3.10.7.1: the answer of a CLOSED port (also of a refused SYN). */
const resetFor = (seg: TcpSegmentIn, t: TcpView, payloadLength: number): LayerOutput => {
  const hasAck = (t.flags & ACK) !== 0
  const segLen = payloadLength + ((t.flags & SYN) !== 0 ? 1 : 0) + ((t.flags & FIN) !== 0 ? 1 : 0)
  const header = emitTcpHeader({
    srcPort: t.dstPort,
    dstPort: t.srcPort,
    seq: hasAck ? t.ack : 0,
    ack: hasAck ? 0 : seqAdd(t.seq, segLen),
    flags: hasAck ? RST : RST | ACK,
    window: 0,
  })
  return {
    _tag: "PacketToGuest",
    family: 4,
    src: seg.dst,
    dst: seg.src,
    protocol: TCP_PROTOCOL,
    header,
    checksumOffset: TCP_CHECKSUM_OFFSET,
    pseudoHeader: true,
  }
}

/** A TCP segment from the guest (IP header already validated by the IP layer). */
export const tcpFromGuest = (s: TcpLayerState, ctx: TcpContext, seg: TcpSegmentIn): Result => {
  const env = envOf(s, ctx)
  const p = parseTcp(seg.segment, seg.src, seg.dst)
  if (!p.ok) {
    env.out.push({ _tag: "Log", level: "debug", message: `tcp: dropped segment from guest: ${p.reason}` })
    return [s, env.out]
  }
  const t = p.tcp
  const payload = seg.segment.subarray(t.headerLength)
  let c = lookup(s, seg.src, t.srcPort, seg.dst, t.dstPort)
  // A new SYN above the old connection's sequence space may reopen from TIME-WAIT (RFC 9293 §3.10.7.4 / RFC 6191).
  if (c !== undefined && c.state === "TimeWait" && (t.flags & (SYN | ACK | RST)) === SYN && seqGt(t.seq, c.rcvNxt)) {
    c.state = "Closed"
    remove(s, c, env.out)
    c = undefined
  }
  if (c !== undefined) {
    onSegment(c, env, t, payload)
    settle(s, c, env)
    return [s, env.out]
  }
  if ((t.flags & RST) !== 0) return [s, env.out]
  if ((t.flags & (SYN | ACK | FIN)) !== SYN) {
    env.out.push(resetFor(seg, t, payload.length))
    return [s, env.out]
  }
  const to = ctx.hostEndpointFor(seg.dst, t.dstPort)
  if (to === undefined) {
    env.out.push({ _tag: "Log", level: "debug", message: `tcp: refused SYN to port ${t.dstPort}` })
    env.out.push(resetFor(seg, t, payload.length))
    return [s, env.out]
  }
  if (s.bySock.size >= s.config.maxConnections) {
    env.out.push({ _tag: "Log", level: "warn", message: `tcp: refused SYN to port ${t.dstPort}: ${s.bySock.size} connections (the limit)` })
    env.out.push(resetFor(seg, t, payload.length))
    return [s, env.out]
  }
  const sock = ctx.newSocket
  const synOriginal = new Uint8Array(seg.ipHeader.length + 8)
  synOriginal.set(seg.ipHeader, 0)
  synOriginal.set(seg.segment.subarray(0, 8), seg.ipHeader.length)
  const conn = createPassive(
    { sock, guestIp: seg.src, remoteIp: seg.dst, syn: t, synOriginal, iss: random(s), tsOffset: random(s) },
    env,
  )
  insert(s, conn)
  env.out.push({ _tag: "TcpConnect", sock, to })
  settle(s, conn, env)
  return [s, env.out]
}

/** An event of one of our host sockets. */
export const tcpHostEvent = (s: TcpLayerState, ctx: TcpContext, ev: TcpHostEvent): Result => {
  const c = s.bySock.get(ev.sock)
  if (c === undefined) return [s, []]
  const env = envOf(s, ctx)
  switch (ev._tag) {
    case "HostTcpConnected":
      onHostConnected(c, env)
      break
    case "HostTcpData":
      onHostData(c, env, ev.data)
      break
    case "HostTcpEof":
      onHostEof(c, env)
      break
    case "HostTcpWritten":
      onHostWritten(c, env, ev.bytes)
      break
    case "HostSocketClosed":
      onHostClosed(c, env)
      break
    case "HostSocketError":
      onHostError(c, env, ev.code)
      break
    default:
      absurd(ev)
  }
  settle(s, c, env)
  return [s, env.out]
}

/** A timer this layer armed (`{ layer: "tcp", key: sock }`); stale or unknown timers are no-ops. */
export const tcpTimer = (s: TcpLayerState, ctx: TcpContext, timer: TimerId): Result => {
  const c = timer.layer === "tcp" ? s.bySock.get(socketId(timer.key)) : undefined
  if (c === undefined) return [s, []]
  const env = envOf(s, ctx)
  onTimer(c, env)
  settle(s, c, env)
  return [s, env.out]
}

/** Stack shutdown (guest gone): close every host socket, cancel every timer, forget everything. */
export const tcpShutdown = (s: TcpLayerState, ctx: TcpContext): Result => {
  const env = envOf(s, ctx)
  for (const c of [...s.bySock.values()]) {
    onShutdown(c, env)
    remove(s, c, env.out)
  }
  return [s, env.out]
}

export interface OpenToGuest {
  /** The guest's address and port (the destination of our SYN). */
  readonly guestIp: Ipv4
  readonly guestPort: number
  /** The address and port we appear to come from. */
  readonly remoteIp: Ipv4
  readonly remotePort: number
}

/**
 * Active open toward the guest (hostfwd: a host client connected to a forwarded port; the host
 * socket already exists and gets the returned id). RFC 9293 §3.10.1: SYN-SENT.
 */
export const tcpConnectToGuest = (
  s: TcpLayerState,
  ctx: { readonly now: Instant; readonly mtu: number; readonly newSocket: SocketId },
  o: OpenToGuest,
): readonly [TcpLayerState, SocketId, ReadonlyArray<LayerOutput>] => {
  const env = envOf(s, ctx)
  const sock = ctx.newSocket
  const c = createActive({ sock, ...o, iss: random(s), tsOffset: random(s) }, env)
  insert(s, c)
  settle(s, c, env)
  return [s, sock, env.out]
}
