/**
 * The TCP layer: the table of connections between the guest and host sockets, and the entry
 * points the stack calls. Each entry point returns a new state and the outputs (segments and
 * ICMP errors for the IP layer, effects for the runtime), in order, in an array made for the call.
 *
 * Pure: an entry point never writes to the state it is given nor to anything reachable from it;
 * the same state and event give equal results, and every earlier state stays valid (keep it,
 * reduce it again, branch from it, `structuredClone` it: states are plain data). The table is
 * two persistent maps (data/int-map.ts): connection records by socket id, which a segment
 * changes by one path copy, and the tuple index (ports, then addresses, to socket id), which
 * changes only when a connection opens or closes. A segment's update of its record is one
 * shallow copy (tcb.ts `draftOf`); the PRNG state and the next socket id are returned in the
 * new state.
 *
 * Guarantees: no exception on guest input (malformed segments are dropped with a debug log);
 * a SYN for a destination `hostEndpointFor` refuses is answered RST; segments for unknown
 * connections are answered RST (RFC 9293 §3.10.7.1); host events and timers for sockets the
 * layer no longer knows are ignored. A new connection's socket id is `ctx.newSocket` (the
 * stack's one allocator); a connection's timer is `{ layer: "tcp", key: <its socket id> }`.
 *
 * Both families through the same code: a connection's addresses are IPv4 numbers or IPv6
 * 16-byte arrays (wire/ip-address.ts), and their type decides the pseudo header of the
 * checksum, the MSS (MTU - 40 or MTU - 60) and the IP layer its segments go to. An IPv6
 * address from the guest's frame is copied before a connection keeps it.
 */
import type { Sum16 } from "../wire/checksum.ts"
import type { ConnectTarget } from "../../effects/address.ts"
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
import { type IpAddress, ipEquals } from "../wire/ip-address.ts"
import { emptyIntMap, intMapGet, intMapRemove, intMapSet, intMapValues, type IntMap } from "../data/int-map.ts"
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
import { draftOf, type Tcb, type TcbDraft, type TcbEnv } from "./tcb.ts"
import { tcpPacket } from "./emit.ts"
import { ACK, emitTcpHeader, FIN, parseTcp, RST, SYN, type TcpView } from "./wire.ts"

export type { TcpConfig } from "./config.ts"
export { defaultTcpConfig } from "./config.ts"
export type { Tcb, TcbDraft, TcpState } from "./tcb.ts"

/** One connection in the tuple index: the addresses its ports are shared with. */
export interface TupleEntry {
  readonly guestIp: IpAddress
  readonly remoteIp: IpAddress
  readonly sock: SocketId
}

export interface TcpLayerState {
  readonly config: TcpConfig
  /** Connection records by socket id. */
  readonly conns: IntMap<SocketId, Tcb>
  /** The tuple index, keyed by `guestPort << 16 | remotePort`: the few connections sharing those ports. */
  readonly tuples: IntMap<number, ReadonlyArray<TupleEntry>>
  /** PRNG state (prng.ts). */
  readonly rng: number
}

export const createTcpLayer = (seed: number, config: Partial<TcpConfig> = {}): TcpLayerState => ({
  config: { ...defaultTcpConfig, ...config },
  conns: emptyIntMap(),
  tuples: emptyIntMap(),
  rng: seed | 0,
})

export interface TcpContext {
  readonly now: Instant
  /** Guest link MTU: the MSS we advertise is mtu - 40 over IPv4, mtu - 60 over IPv6. */
  readonly mtu: number
  /** Where a guest connection to dst:port goes on the host, either family (or a guestfwd target); undefined = refuse (answer RST). */
  readonly hostEndpointFor: (dst: IpAddress, port: number) => ConnectTarget | undefined
  /** The socket id a connection opened during this call gets (the stack's allocator). */
  readonly newSocket: SocketId
  /** A faster `sum16` for the guest's segments' checksums, when the runtime offers one (same results). */
  readonly sum16?: Sum16 | undefined
}

export interface TcpSegmentIn {
  /** The guest's addresses, of one family; IPv6 ones may be views of the guest's frame. */
  readonly src: IpAddress
  readonly dst: IpAddress
  readonly ttl: number
  /** The guest's IP header bytes, IPv6 extension headers included (quoted by ICMP errors). */
  readonly ipHeader: Uint8Array
  /**
   * TCP header + payload: a view into the guest's frame, which the stack owns from its event on
   * and nobody writes afterwards; the layer keeps views of the payload (no copy).
   */
  readonly segment: Uint8Array
}

export type TcpHostEvent = HostTcpConnected | HostTcpData | HostTcpEof | HostTcpWritten | HostSocketClosed | HostSocketError

type Result = readonly [TcpLayerState, ReadonlyArray<LayerOutput>]

/** Every live connection (diagnostics and tests). */
export const tcpConnections = (s: TcpLayerState): IterableIterator<Tcb> => intMapValues(s.conns)

const keyOf = (guestPort: number, remotePort: number): number => guestPort * 0x10000 + remotePort

/**
 * The layer's fields as they change during one call: a fresh object per call, so assigning
 * its fields writes nothing that existed before the call; it becomes the returned state.
 */
interface Work {
  readonly config: TcpConfig
  conns: IntMap<SocketId, Tcb>
  tuples: IntMap<number, ReadonlyArray<TupleEntry>>
  rng: number
}

const begin = (s: TcpLayerState): Work => ({ config: s.config, conns: s.conns, tuples: s.tuples, rng: s.rng })

/** The connection of a 4-tuple (also read by the stack's counters, stack/counters.ts). */
export const lookup = (s: TcpLayerState, guestIp: IpAddress, guestPort: number, remoteIp: IpAddress, remotePort: number): Tcb | undefined => {
  const bucket = intMapGet(s.tuples, keyOf(guestPort, remotePort))
  if (bucket === undefined) return undefined
  for (const e of bucket) if (ipEquals(e.guestIp, guestIp) && ipEquals(e.remoteIp, remoteIp)) return intMapGet(s.conns, e.sock)
  return undefined
}

/** An address to keep: IPv4 numbers as they are, IPv6 copied out of the guest's frame (a view would pin the whole frame). */
const own = (a: IpAddress): IpAddress => (typeof a === "number" ? a : a.slice(0, 16))

/** The connection with these four, if any (hostfwd checks a tuple is free before opening). */
export const tcpConnectionFor = (s: TcpLayerState, guestIp: IpAddress, guestPort: number, remoteIp: IpAddress, remotePort: number): Tcb | undefined =>
  lookup(s, guestIp, guestPort, remoteIp, remotePort)

const insert = (w: Work, c: Tcb): void => {
  const k = keyOf(c.guestPort, c.remotePort)
  const entry: TupleEntry = { guestIp: c.guestIp, remoteIp: c.remoteIp, sock: c.sock }
  const bucket = intMapGet(w.tuples, k)
  w.tuples = intMapSet(w.tuples, k, bucket === undefined ? [entry] : [...bucket, entry])
  w.conns = intMapSet(w.conns, c.sock, c)
}

/** Forgets the connection `c` (a draft of this call); closes its socket and timer if still open. */
const remove = (w: Work, c: TcbDraft, out: Array<LayerOutput>): void => {
  const k = keyOf(c.guestPort, c.remotePort)
  const bucket = intMapGet(w.tuples, k)
  if (bucket !== undefined) {
    const rest = bucket.filter((x) => x.sock !== c.sock)
    w.tuples = rest.length === 0 ? intMapRemove(w.tuples, k) : intMapSet(w.tuples, k, rest)
  }
  w.conns = intMapRemove(w.conns, c.sock)
  if (c.hostOpen) {
    c.hostOpen = false
    out.push({ _tag: "SocketClose", sock: c.sock })
  }
  if (c.armedAt !== Infinity) out.push({ _tag: "CancelTimer", timer: c.timerId })
}

/** After any call into a TCB draft: drop it if closed, else arm its timer and store it as the new record. */
const settle = (w: Work, c: TcbDraft, env: TcbEnv): void => {
  if (c.state === "Closed") remove(w, c, env.out)
  else {
    armTimer(c, env)
    w.conns = intMapSet(w.conns, c.sock, c)
  }
}

const random = (w: Work): number => {
  const [v, next] = nextRandom(w.rng)
  w.rng = next
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
  return tcpPacket(seg.dst, seg.src, header, undefined)
}

/** A TCP segment from the guest (IP header already validated by the IP layer). */
export const tcpFromGuest = (s: TcpLayerState, ctx: TcpContext, seg: TcpSegmentIn): Result => {
  const env = envOf(s, ctx)
  const p = parseTcp(seg.segment, seg.src, seg.dst, true, ctx.sum16)
  if (!p.ok) {
    env.out.push({ _tag: "Log", level: "debug", message: `tcp: dropped segment from guest: ${p.reason}` })
    return [s, env.out]
  }
  const t = p.tcp
  const payload = seg.segment.subarray(t.headerLength)
  const w = begin(s)
  const found = lookup(s, seg.src, t.srcPort, seg.dst, t.dstPort)
  if (found !== undefined) {
    const c = draftOf(found)
    // A new SYN above the old connection's sequence space may reopen from TIME-WAIT (RFC 9293 §3.10.7.4 / RFC 6191).
    if (c.state === "TimeWait" && (t.flags & (SYN | ACK | RST)) === SYN && seqGt(t.seq, c.rcvNxt)) {
      c.state = "Closed"
      remove(w, c, env.out)
    } else {
      onSegment(c, env, t, payload)
      settle(w, c, env)
      return [w, env.out]
    }
  }
  if ((t.flags & RST) !== 0) return [w, env.out]
  if ((t.flags & (SYN | ACK | FIN)) !== SYN) {
    env.out.push(resetFor(seg, t, payload.length))
    return [w, env.out]
  }
  const to = ctx.hostEndpointFor(seg.dst, t.dstPort)
  if (to === undefined) {
    env.out.push({ _tag: "Log", level: "debug", message: `tcp: refused SYN to port ${t.dstPort}` })
    env.out.push(resetFor(seg, t, payload.length))
    return [w, env.out]
  }
  if (w.conns.size >= s.config.maxConnections) {
    env.out.push({ _tag: "Log", level: "warn", message: `tcp: refused SYN to port ${t.dstPort}: ${w.conns.size} connections (the limit)` })
    env.out.push(resetFor(seg, t, payload.length))
    return [w, env.out]
  }
  const sock = ctx.newSocket
  const synOriginal = new Uint8Array(seg.ipHeader.length + 8)
  synOriginal.set(seg.ipHeader, 0)
  synOriginal.set(seg.segment.subarray(0, 8), seg.ipHeader.length)
  const conn = createPassive(
    { sock, guestIp: own(seg.src), remoteIp: own(seg.dst), syn: t, synOriginal, iss: random(w), tsOffset: random(w) },
    env,
  )
  insert(w, conn)
  env.out.push({ _tag: "TcpConnect", sock, to })
  settle(w, conn, env)
  return [w, env.out]
}

/** An event of one of our host sockets. */
export const tcpHostEvent = (s: TcpLayerState, ctx: TcpContext, ev: TcpHostEvent): Result => {
  const found = intMapGet(s.conns, ev.sock)
  if (found === undefined) return [s, []]
  const c = draftOf(found)
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
  const w = begin(s)
  settle(w, c, env)
  return [w, env.out]
}

/** A timer this layer armed (`{ layer: "tcp", key: sock }`); stale or unknown timers are no-ops. */
export const tcpTimer = (s: TcpLayerState, ctx: TcpContext, timer: TimerId): Result => {
  const found = timer.layer === "tcp" ? intMapGet(s.conns, socketId(timer.key)) : undefined
  if (found === undefined) return [s, []]
  const c = draftOf(found)
  const env = envOf(s, ctx)
  onTimer(c, env)
  const w = begin(s)
  settle(w, c, env)
  return [w, env.out]
}

/** Stack shutdown (guest gone): close every host socket, cancel every timer, forget everything. */
export const tcpShutdown = (s: TcpLayerState, ctx: TcpContext): Result => {
  const env = envOf(s, ctx)
  const w = begin(s)
  for (const found of intMapValues(s.conns)) {
    const c = draftOf(found)
    onShutdown(c, env)
    remove(w, c, env.out)
  }
  return [w, env.out]
}

export interface OpenToGuest {
  /** The guest's address and port (the destination of our SYN); either family, both addresses of one. */
  readonly guestIp: IpAddress
  readonly guestPort: number
  /** The address and port we appear to come from. */
  readonly remoteIp: IpAddress
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
  const w = begin(s)
  const sock = ctx.newSocket
  const c = createActive({ sock, ...o, iss: random(w), tsOffset: random(w) }, env)
  insert(w, c)
  settle(w, c, env)
  return [w, sock, env.out]
}
