/**
 * A seeded, virtual-time simulation: the stack's TCP layer (A, passive, toward a fake host
 * socket) and a guest TCP peer (B: the same reducer, opened actively with `tcpConnectToGuest`,
 * its "host socket" playing the guest application) exchange two random streams over a wire
 * that loses, duplicates, delays and reorders segments. Both fake sockets honour
 * `TcpSetReading` and report `HostTcpWritten` after a drain delay, so flow control is live.
 *
 * The run records what each application received, every reset and log, and the peak memory
 * each connection held, for the test to check.
 */
import type { StackEffect } from "../../../src/effects/effect.ts"
import { type SocketId, type TimerId, socketId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import {
  createTcpLayer,
  tcpConnections,
  tcpConnectToGuest,
  tcpFromGuest,
  tcpHostEvent,
  tcpTimer,
  type TcpConfig,
  type TcpContext,
  type TcpHostEvent,
  type TcpLayerState,
  type TcpSegmentIn,
  type OpenToGuest,
} from "../../../src/protocol/tcp/layer.ts"
import { nextRandom } from "../../../src/protocol/tcp/prng.ts"
import { assembleSegment } from "../../../src/protocol/tcp/wire.ts"
import type { LayerOutput } from "../../../src/protocol/stack/output.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { checkedReduce } from "../../support/referential.ts"

export interface SimParams {
  readonly seed: number
  readonly mtu: number
  /** Bytes host -> guest and guest -> host. */
  readonly downBytes: number
  readonly upBytes: number
  readonly loss: number
  readonly duplicate: number
  /** One-way delay: base + uniform jitter (ms); jitter larger than segment spacing reorders. */
  readonly delayMs: number
  readonly jitterMs: number
  /** Drain delay of the fake sockets' writes (ms); occasionally stalls to close windows. */
  readonly drainMs: number
  readonly stallProbability: number
  readonly config?: Partial<TcpConfig>
  /** The connection's IP family (default 4): over IPv6 both sides key and checksum by 16-byte addresses. */
  readonly family?: 4 | 6
  readonly maxVirtualMs?: number
  /**
   * A guest RX ring toward B (the guest): it holds this many frames and the guest drains
   * `ringDrainPerMs` of them per ms; frames arriving at a full ring are dropped (tail drop),
   * as a full e1000 RX ring does.
   */
  readonly ringFrames?: number
  readonly ringDrainPerMs?: number
  /**
   * Reduce every event of both sides through the referential-transparency harness
   * (test/support/referential.ts): frozen state, reduced twice, results compared.
   */
  readonly checked?: boolean
}

export interface Side {
  readonly name: string
  state: TcpLayerState
  sock: SocketId | undefined
  /** Application source and sink. */
  readonly source: Uint8Array
  sent: number
  eofSent: boolean
  reading: boolean
  readScheduled: boolean
  readonly received: Array<Uint8Array>
  receivedBytes: number
  peerEof: boolean
  closed: boolean
  resets: number
  readonly timers: Map<TimerId, number>
  peakSendBuf: number
  peakRecv: number
}

export interface SimResult {
  readonly a: Side
  readonly b: Side
  readonly logs: Array<string>
  readonly virtualMs: number
  readonly segments: number
  readonly finished: boolean
  readonly ringDrops: number
}

const ADDRESSES = {
  4: { guest: ipv4(10, 0, 2, 15), remote: ipv4(10, 0, 2, 2) },
  6: { guest: parseIpv6("fec0::5054:ff:fe12:3456")!, remote: parseIpv6("fec0::2")! },
} as const

interface Ev {
  readonly at: number
  readonly id: number
  readonly run: () => void
}

/** A binary min-heap on (at, id): deterministic order for equal times. */
export class Queue {
  private h: Array<Ev> = []
  private less(a: Ev, b: Ev): boolean {
    return a.at < b.at || (a.at === b.at && a.id < b.id)
  }
  push(e: Ev): void {
    const h = this.h
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }
  pop(): Ev | undefined {
    const h = this.h
    if (h.length === 0) return undefined
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
  get size(): number {
    return this.h.length
  }
}

export const randomBytes = (n: number, seed: number): Uint8Array => {
  const b = new Uint8Array(n)
  let s = seed
  for (let i = 0; i < n; i += 4) {
    const [v, next] = nextRandom(s)
    s = next
    b[i] = v
    if (i + 1 < n) b[i + 1] = v >>> 8
    if (i + 2 < n) b[i + 2] = v >>> 16
    if (i + 3 < n) b[i + 3] = v >>> 24
  }
  return b
}

export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

export const runSim = (p: SimParams): SimResult => {
  let rng = p.seed * 7919 + 1
  const rand = (): number => {
    const [v, next] = nextRandom(rng)
    rng = next
    return v / 0x100000000
  }
  const q = new Queue()
  let now = 0
  let nextId = 0
  let segments = 0
  const logs: Array<string> = []
  const at = (t: number, run: () => void): void => q.push({ at: t, id: nextId++, run })

  const side = (name: string, seed: number, bytes: number): Side => ({
    name,
    state: createTcpLayer(seed, p.config),
    sock: undefined,
    source: randomBytes(bytes, seed * 31 + 5),
    sent: 0,
    eofSent: false,
    reading: true,
    readScheduled: false,
    received: [],
    receivedBytes: 0,
    peerEof: false,
    closed: false,
    resets: 0,
    timers: new Map(),
    peakSendBuf: 0,
    peakRecv: 0,
  })
  const a = side("stack", p.seed, p.downBytes)
  const b = side("guest", p.seed + 1000, p.upBytes)

  const ctx = (): TcpContext => ({
    now: instant(now),
    mtu: p.mtu,
    hostEndpointFor: () => ({ family: 4, address: "127.0.0.1", port: 80 }),
    newSocket: socketId(1),
  })

  /** One reducer call, through the harness when `p.checked`. */
  const call = <E, R>(reduce: (s: TcpLayerState, e: E) => R, s: TcpLayerState, e: E): R => (p.checked === true ? checkedReduce(reduce, s, e) : reduce(s, e))

  const observe = (s: Side): void => {
    for (const c of tcpConnections(s.state)) {
      s.peakSendBuf = Math.max(s.peakSendBuf, c.sendBuf.length)
      s.peakRecv = Math.max(s.peakRecv, c.hostQueued + c.oooBytes)
    }
  }

  const hostEvent = (s: Side, ev: TcpHostEvent): void => {
    const [st, out] = call((x, e: TcpHostEvent) => tcpHostEvent(x, ctx(), e), s.state, ev)
    s.state = st
    handle(s, out)
  }

  const scheduleRead = (s: Side): void => {
    if (s.readScheduled || !s.reading || s.sock === undefined || s.eofSent) return
    s.readScheduled = true
    at(now + 0.02 + rand() * 0.05, () => {
      s.readScheduled = false
      if (!s.reading || s.sock === undefined || s.closed || s.eofSent) return
      const sock = s.sock
      if (s.sent < s.source.length) {
        const n = Math.min(s.source.length - s.sent, 1 + Math.floor(rand() * (rand() < 0.2 ? 300 : 65536)))
        const data = s.source.slice(s.sent, s.sent + n)
        s.sent += n
        hostEvent(s, { _tag: "HostTcpData", now: instant(now), sock, data })
        scheduleRead(s)
      } else {
        s.eofSent = true
        hostEvent(s, { _tag: "HostTcpEof", now: instant(now), sock })
      }
    })
  }

  const effect = (s: Side, e: StackEffect): void => {
    switch (e._tag) {
      case "TcpConnect":
        s.sock = e.sock
        at(now + 0.1, () => {
          hostEvent(s, { _tag: "HostTcpConnected", now: instant(now), sock: e.sock })
          scheduleRead(s)
        })
        break
      case "TcpWrite": {
        let n = 0
        for (const c of e.chunks) {
          s.received.push(c)
          n += c.length
        }
        s.receivedBytes += n
        const delay = rand() < p.stallProbability ? 50 + rand() * 300 : p.drainMs * rand()
        at(now + delay, () => {
          if (!s.closed) hostEvent(s, { _tag: "HostTcpWritten", now: instant(now), sock: e.sock, bytes: n })
        })
        break
      }
      case "TcpShutdownWrite":
        s.peerEof = true
        break
      case "TcpSetReading":
        s.reading = e.reading
        if (e.reading) scheduleRead(s)
        break
      case "TcpReset":
        s.resets++
        s.closed = true
        break
      case "SocketClose":
        s.closed = true
        break
      case "SetTimer": {
        s.timers.set(e.timer, e.at)
        const armedAt = e.at
        at(Math.max(e.at, now), () => {
          if (s.timers.get(e.timer) !== armedAt) return
          s.timers.delete(e.timer)
          const [st, out] = call((x, t: TimerId) => tcpTimer(x, ctx(), t), s.state, e.timer)
          s.state = st
          handle(s, out)
        })
        break
      }
      case "CancelTimer":
        s.timers.delete(e.timer)
        break
      case "Log":
        logs.push(`${now.toFixed(3)} ${s.name} ${e.level}: ${e.message}`)
        break
      case "DeliverFrame":
      case "UdpOpen":
      case "UdpSend":
      case "IcmpOpen":
      case "IcmpEchoSend":
        throw new Error(`unexpected effect ${e._tag}`)
    }
  }

  let ringLevel = 0
  let ringAt = 0
  let ringDrops = 0
  const ringAccepts = (): boolean => {
    if (p.ringFrames === undefined) return true
    ringLevel = Math.max(0, ringLevel - (now - ringAt) * (p.ringDrainPerMs ?? 1))
    ringAt = now
    if (ringLevel + 1 > p.ringFrames) {
      ringDrops++
      return false
    }
    ringLevel += 1
    return true
  }

  const wire = (from: Side, o: LayerOutput): void => {
    if (o._tag !== "PacketToGuest") throw new Error(`unexpected output ${o._tag}`)
    segments++
    const seg = assembleSegment(o.header, o.payload, o.src, o.dst)
    // Every segment fits the link: IP header (20 or 40 bytes) + TCP segment <= MTU.
    if ((o.family === 4 ? 20 : 40) + seg.length > p.mtu) throw new Error(`IPv${o.family} datagram of ${(o.family === 4 ? 20 : 40) + seg.length} bytes > MTU ${p.mtu}`)
    if (o.family !== (p.family ?? 4)) throw new Error(`a segment of family ${o.family}`)
    const to = from === a ? b : a
    if (to === b && !ringAccepts()) return
    const copies = rand() < p.loss ? 0 : rand() < p.duplicate ? 2 : 1
    for (let i = 0; i < copies; i++) {
      at(now + p.delayMs + rand() * p.jitterMs, () => {
        const [st, out] = call((x, e: TcpSegmentIn) => tcpFromGuest(x, ctx(), e), to.state, { src: o.src, dst: o.dst, ttl: 64, ipHeader: new Uint8Array(o.family === 4 ? 20 : 40), segment: seg })
        to.state = st
        handle(to, out)
      })
    }
  }

  const handle = (s: Side, out: ReadonlyArray<LayerOutput>): void => {
    for (const o of out) {
      if (o._tag === "PacketToGuest") wire(s, o)
      else if (o._tag === "ErrorToGuest") throw new Error("unexpected ICMP error")
      else effect(s, o)
    }
    observe(s)
  }

  // The guest connects to the remote (B opens actively toward A's side).
  const [bs, bsock, bout] = call((x, o: OpenToGuest) => tcpConnectToGuest(x, { now: instant(0), mtu: p.mtu, newSocket: socketId(1) }, o), b.state, {
    guestIp: ADDRESSES[p.family ?? 4].remote,
    guestPort: 80,
    remoteIp: ADDRESSES[p.family ?? 4].guest,
    remotePort: 40000,
  })
  b.state = bs
  b.sock = bsock
  handle(b, bout)
  scheduleRead(b)

  const limit = p.maxVirtualMs ?? 3_600_000
  while (q.size > 0) {
    const e = q.pop()!
    if (e.at > limit) break
    now = e.at
    e.run()
    if (a.closed && b.closed && a.state.conns.size === 0 && b.state.conns.size === 0) break
  }
  const finished = a.state.conns.size === 0 && b.state.conns.size === 0
  return { a, b, logs, virtualMs: now, segments, finished, ringDrops }
}
