/**
 * Test rig for the TCP layer: a guest that speaks raw segments, a virtual clock, and decoded
 * outputs. Fixtures put a connection into a given RFC 9293 state. A rig speaks IPv4 (10.0.2.15
 * to 10.0.2.2) or, made with family 6, IPv6 (fec0::5054:ff:fe12:3456 to fec0::2, host ::1).
 *
 * Every call into the layer goes through the referential-transparency harness
 * (test/support/referential.ts): the state is deep-frozen, the call is made twice and the two
 * results must be deeply equal, and no byte of the state may change. A rule test that passes
 * here has also shown that its every step was pure.
 */
import type { HostEndpoint } from "../../../src/effects/address.ts"
import type { StackEffect } from "../../../src/effects/effect.ts"
import { socketId, type SocketId, type TimerId, timerKey } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import {
  createTcpLayer,
  tcpConnections,
  tcpConnectToGuest,
  type OpenToGuest,
  tcpFromGuest,
  tcpHostEvent,
  tcpShutdown,
  tcpTimer,
  type TcpConfig,
  type TcpContext,
  type TcpHostEvent,
  type TcpLayerState,
  type TcpSegmentIn,
  type Tcb,
} from "../../../src/protocol/tcp/layer.ts"
import { ACK, assembleSegment, emitTcpHeader, parseTcp, SYN, type TcpView } from "../../../src/protocol/tcp/wire.ts"
import type { ErrorToGuest, LayerOutput } from "../../../src/protocol/stack/output.ts"
import type { IpFamily } from "../../../src/effects/address.ts"
import type { IpAddress } from "../../../src/protocol/wire/ip-address.ts"
import { ipv4, type Ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { type Ipv6, parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { checkedReduce } from "../../support/referential.ts"

export const GUEST: Ipv4 = ipv4(10, 0, 2, 15)
export const REMOTE: Ipv4 = ipv4(10, 0, 2, 2)
export const GPORT = 40000
export const RPORT = 8080
export const GUEST_ISS = 1000
export const HOST_EP: HostEndpoint = { family: 4, address: "127.0.0.1", port: RPORT }
export const GUEST6: Ipv6 = parseIpv6("fec0::5054:ff:fe12:3456")!
export const REMOTE6: Ipv6 = parseIpv6("fec0::2")!
export const HOST_EP6: HostEndpoint = { family: 6, address: "::1", port: RPORT }

export interface GuestSeg {
  readonly seq: number
  readonly ack?: number
  readonly flags: number
  readonly window?: number
  readonly payload?: Uint8Array
  readonly mss?: number
  readonly wscale?: number
  readonly sackPermitted?: boolean
  readonly ts?: readonly [number, number]
  readonly sack?: ReadonlyArray<number>
  readonly srcPort?: number
}

/** A segment the layer sent to the guest, decoded (checksum verified). */
export interface Sent {
  readonly tcp: TcpView
  readonly payload: Uint8Array
  /** The payload exactly as the layer handed it over (to check it is a view, not a copy). */
  readonly rawPayload: Uint8Array | undefined
}

const IP_HEADER = new Uint8Array([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 2, 15, 10, 0, 2, 2])
/** The guest's IPv6 header of a 20-byte segment (next header 6, hop limit 64). */
const IP6_HEADER = Uint8Array.of(0x60, 0, 0, 0, 0, 20, 6, 64, ...GUEST6, ...REMOTE6)

export class Rig {
  s: TcpLayerState
  now = 0
  mtu: number
  refuse = false
  outputs: Array<LayerOutput> = []
  /** The latest segment the guest sent (header and payload, as handed to the layer). */
  lastSegment: Uint8Array | undefined
  readonly guestIp: IpAddress
  readonly remoteIp: IpAddress
  readonly hostEp: HostEndpoint
  private readonly ipHeader: Uint8Array
  constructor(config: Partial<TcpConfig> = {}, mtu = 1500, seed = 7, family: IpFamily = 4) {
    this.s = createTcpLayer(seed, config)
    this.mtu = mtu
    this.guestIp = family === 4 ? GUEST : GUEST6
    this.remoteIp = family === 4 ? REMOTE : REMOTE6
    this.hostEp = family === 4 ? HOST_EP : HOST_EP6
    this.ipHeader = family === 4 ? IP_HEADER : IP6_HEADER
  }
  /** The id the next connection gets (the stack's allocator, played here: one counter). */
  nextSock = 1
  ctx(): TcpContext {
    return { now: instant(this.now), mtu: this.mtu, hostEndpointFor: () => (this.refuse ? undefined : this.hostEp), newSocket: socketId(this.nextSock) }
  }
  private take(r: readonly [TcpLayerState, ReadonlyArray<LayerOutput>]): Array<LayerOutput> {
    this.s = r[0]
    if (r[1].some((o) => o._tag === "TcpConnect" && o.sock === this.nextSock)) this.nextSock++
    this.outputs.push(...r[1])
    return [...r[1]]
  }
  /** The guest sends a segment; returns the outputs. */
  guest(g: GuestSeg): Array<LayerOutput> {
    const header = emitTcpHeader({
      srcPort: g.srcPort ?? GPORT,
      dstPort: RPORT,
      seq: g.seq >>> 0,
      ack: (g.ack ?? 0) >>> 0,
      flags: g.flags,
      window: g.window ?? 0xffff,
      mss: g.mss,
      wscale: g.wscale,
      sackPermitted: g.sackPermitted,
      timestamp: g.ts !== undefined,
      tsVal: g.ts?.[0],
      tsEcr: g.ts?.[1],
      sack: g.sack,
    })
    const segment = assembleSegment(header, g.payload, this.guestIp, this.remoteIp)
    this.lastSegment = segment
    const seg = { src: this.guestIp, dst: this.remoteIp, ttl: 64, ipHeader: this.ipHeader, segment }
    return this.take(checkedReduce((s, e: TcpSegmentIn) => tcpFromGuest(s, this.ctx(), e), this.s, seg))
  }
  /** A segment exactly as given (any addresses, any bytes); returns the outputs. */
  guestRaw(seg: TcpSegmentIn): Array<LayerOutput> {
    return this.take(checkedReduce((s, e: TcpSegmentIn) => tcpFromGuest(s, this.ctx(), e), this.s, seg))
  }
  /** Active open toward the guest (hostfwd); returns the socket id. */
  connectToGuest(o: OpenToGuest): { readonly sock: SocketId; readonly out: Array<LayerOutput> } {
    const [s, sock, out] = checkedReduce((st, e: OpenToGuest) => tcpConnectToGuest(st, this.ctx(), e), this.s, o)
    this.s = s
    this.outputs.push(...out)
    return { sock, out: [...out] }
  }
  host(ev: TcpHostEvent): Array<LayerOutput> {
    return this.take(checkedReduce((s, e: TcpHostEvent) => tcpHostEvent(s, this.ctx(), e), this.s, ev))
  }
  hostConnected(sock: SocketId): Array<LayerOutput> {
    return this.host({ _tag: "HostTcpConnected", now: instant(this.now), sock })
  }
  hostData(sock: SocketId, data: Uint8Array): Array<LayerOutput> {
    return this.host({ _tag: "HostTcpData", now: instant(this.now), sock, data })
  }
  hostWritten(sock: SocketId, bytes: number): Array<LayerOutput> {
    return this.host({ _tag: "HostTcpWritten", now: instant(this.now), sock, bytes })
  }
  hostEof(sock: SocketId): Array<LayerOutput> {
    return this.host({ _tag: "HostTcpEof", now: instant(this.now), sock })
  }
  hostError(sock: SocketId, code: string): Array<LayerOutput> {
    return this.host({ _tag: "HostSocketError", now: instant(this.now), sock, code })
  }
  /** Advances virtual time to `t` and fires the armed timer(s) that are due. */
  advance(ms: number): Array<LayerOutput> {
    this.now += ms
    const out: Array<LayerOutput> = []
    for (const [timer, at] of this.armed()) if (at <= this.now) out.push(...this.fire(timer))
    return out
  }
  fire(timer: TimerId): Array<LayerOutput> {
    this.disarm(timer)
    return this.take(checkedReduce((s, t: TimerId) => tcpTimer(s, this.ctx(), t), this.s, timer))
  }
  shutdown(): Array<LayerOutput> {
    return this.take(checkedReduce((s, _: undefined) => tcpShutdown(s, this.ctx()), this.s, undefined))
  }
  private fired = new Map<string, number>()
  private disarm(timer: TimerId): void {
    this.fired.set(timerKey(timer), this.outputs.length)
  }
  /** Timers armed and not yet fired or cancelled, with their latest deadline. */
  armed(): Map<TimerId, number> {
    const m = new Map<string, [TimerId, number]>()
    this.outputs.forEach((o, i) => {
      if (o._tag === "SetTimer" && i >= (this.fired.get(timerKey(o.timer)) ?? -1)) m.set(timerKey(o.timer), [o.timer, o.at])
      if (o._tag === "CancelTimer") m.delete(timerKey(o.timer))
    })
    return new Map([...m.values()])
  }
  conn(): Tcb {
    const all = [...tcpConnections(this.s)]
    if (all.length !== 1) throw new Error(`expected one connection, have ${all.length}`)
    return all[0]!
  }
  count(): number {
    return [...tcpConnections(this.s)].length
  }
}

export const segs = (out: ReadonlyArray<LayerOutput>): Array<Sent> =>
  out.flatMap((o) => {
    if (o._tag !== "PacketToGuest") return []
    const full = assembleSegment(o.header, o.payload, o.src, o.dst)
    const p = parseTcp(full, o.src, o.dst)
    if (!p.ok) throw new Error(p.reason)
    return [{ tcp: p.tcp, payload: full.subarray(p.tcp.headerLength), rawPayload: o.payload }]
  })

export const effects = (out: ReadonlyArray<LayerOutput>): Array<StackEffect> =>
  out.filter((o): o is StackEffect => o._tag !== "PacketToGuest" && o._tag !== "ErrorToGuest")

export const icmps = (out: ReadonlyArray<LayerOutput>): Array<ErrorToGuest> =>
  out.filter((o): o is ErrorToGuest => o._tag === "ErrorToGuest")

/** The bytes of a `TcpWrite`: its one chunk as is (so a test can see whether it is a view), or its chunks joined. */
export const written = (w: { readonly chunks: ReadonlyArray<Uint8Array> }): Uint8Array => {
  if (w.chunks.length === 1) return w.chunks[0]!
  const out = new Uint8Array(w.chunks.reduce((n, c) => n + c.length, 0))
  let o = 0
  for (const c of w.chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

export const tags = (out: ReadonlyArray<LayerOutput>): Array<string> => out.map((o) => o._tag)

export const only = <T>(xs: ReadonlyArray<T>): T => {
  if (xs.length !== 1) throw new Error(`expected exactly one, got ${xs.length}`)
  return xs[0]!
}

export const bytes = (n: number, seed = 1): Uint8Array => {
  const b = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0
    b[i] = x >>> 24
  }
  return b
}

export interface Opts {
  readonly mss?: number
  readonly wscale?: number
  readonly sack?: boolean
  readonly ts?: boolean
  readonly window?: number
}

export const FULL: Opts = { mss: 1460, wscale: 7, sack: true, ts: true }
export const BARE: Opts = {}

/** The guest's SYN; the layer asks the host to connect. Returns the socket id. */
export const synArrived = (rig: Rig, o: Opts = FULL): SocketId => {
  const out = rig.guest({
    seq: GUEST_ISS,
    flags: SYN,
    window: o.window ?? 64240,
    mss: o.mss,
    wscale: o.wscale,
    sackPermitted: o.sack,
    ts: o.ts === true ? [5000, 0] : undefined,
  })
  const c = effects(out).find((e) => e._tag === "TcpConnect")
  if (c === undefined || c._tag !== "TcpConnect") throw new Error("no TcpConnect")
  return c.sock
}

/** SYN-RECEIVED with our SYN-ACK sent. Returns the socket and the SYN-ACK. */
export const synReceived = (rig: Rig, o: Opts = FULL): { sock: SocketId; synAck: Sent } => {
  const sock = synArrived(rig, o)
  const synAck = only(segs(rig.hostConnected(sock)))
  return { sock, synAck }
}

export interface Est {
  readonly sock: SocketId
  /** Our ISS + 1: the sequence number of our first data byte. */
  readonly ours: number
  /** The guest's next sequence number. */
  readonly theirs: number
  readonly synAck: Sent
}

/** ESTABLISHED: the guest has acknowledged our SYN-ACK. */
export const established = (rig: Rig, o: Opts = FULL): Est => {
  const { sock, synAck } = synReceived(rig, o)
  const ours = (synAck.tcp.seq + 1) >>> 0
  const theirs = GUEST_ISS + 1
  rig.guest({ seq: theirs, ack: ours, flags: ACK, window: o.window ?? 64240, ts: o.ts === true ? [5001, synAck.tcp.tsVal] : undefined })
  return { sock, ours, theirs, synAck }
}

export const sockOf = (n: number): SocketId => socketId(n)
