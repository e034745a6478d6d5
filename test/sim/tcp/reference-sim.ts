/**
 * The stack's TCP layer against the independent reference guest (reference-peer.ts) over the
 * same kind of lossy, duplicating, reordering wire as sim.ts, with a fake host socket that
 * honours TcpSetReading and drains writes with a delay.
 */
import type { TimerId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import {
  createTcpLayer,
  tcpConnections,
  tcpFromGuest,
  tcpHostEvent,
  tcpTimer,
  type TcpHostEvent,
  type TcpLayerState,
  type TcpSegmentIn,
} from "../../../src/protocol/tcp/layer.ts"
import { nextRandom } from "../../../src/protocol/tcp/prng.ts"
import { assembleSegment } from "../../../src/protocol/tcp/wire.ts"
import type { LayerOutput } from "../../../src/protocol/stack/output.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { checkedReduce, verifyBytes } from "../../support/referential.ts"
import { ReferencePeer } from "./reference-peer.ts"
import { Queue, randomBytes } from "./sim.ts"
import { type SocketId, socketId } from "../../../src/effects/ids.ts"

export interface RefParams {
  readonly seed: number
  readonly mtu: number
  readonly downBytes: number
  readonly upBytes: number
  readonly loss: number
  readonly duplicate: number
  readonly jitterMs: number
  readonly wscale: number | undefined
  readonly timestamps: boolean
  readonly peerWindow: number
  readonly bufferBytes: number
  /**
   * Every event goes through the referential-transparency harness (test/support/referential.ts)
   * unless this is `false` (only test/bench/referential.ts, to measure its cost).
   */
  readonly checked?: boolean
}

export interface RefResult {
  readonly finished: boolean
  readonly hostReceived: Array<Uint8Array>
  readonly hostSource: Uint8Array
  readonly peer: ReferencePeer
  readonly hostResets: number
  readonly logs: Array<string>
  readonly peakSendBuf: number
  readonly peakRecv: number
  readonly virtualMs: number
}

const GUEST = ipv4(10, 0, 2, 15)
const REMOTE = ipv4(10, 0, 2, 2)

export const runReferenceSim = (p: RefParams): RefResult => {
  let rng = p.seed * 104729 + 3
  const rand = (): number => {
    const [v, next] = nextRandom(rng)
    rng = next
    return v / 0x100000000
  }
  const q = new Queue()
  let id = 0
  let now = 0
  const at = (t: number, run: () => void): void => q.push({ at: t, id: id++, run })
  const logs: Array<string> = []
  const checkedRun = p.checked !== false
  /** One reducer call, through the harness unless `p.checked` is false. */
  const call = <E, R>(reduce: (st: TcpLayerState, e: E) => R, st: TcpLayerState, e: E): R => (checkedRun ? checkedReduce(reduce, st, e) : reduce(st, e))
  let s: TcpLayerState = createTcpLayer(p.seed, { bufferBytes: p.bufferBytes })
  const ctx = () => ({ now: instant(now), mtu: p.mtu, hostEndpointFor: () => ({ family: 4 as const, address: "127.0.0.1", port: 80 }), newSocket: socketId(1) })
  const hostSource = randomBytes(p.downBytes, p.seed + 17)
  const hostReceived: Array<Uint8Array> = []
  let sock: SocketId | undefined
  let sent = 0
  let reading = true
  let readScheduled = false
  let eof = false
  let closed = false
  let hostResets = 0
  let peakSendBuf = 0
  let peakRecv = 0
  const timers = new Map<TimerId, number>()
  const peer = new ReferencePeer({
    src: GUEST,
    dst: REMOTE,
    srcPort: 40000,
    dstPort: 80,
    mss: p.mtu - 40,
    wscale: p.wscale,
    timestamps: p.timestamps,
    window: p.peerWindow,
    rtoMs: 30,
    source: randomBytes(p.upBytes, p.seed + 29),
  })

  const toPeer = (seg: Uint8Array): void => {
    const copies = rand() < p.loss ? 0 : rand() < p.duplicate ? 2 : 1
    for (let i = 0; i < copies; i++) at(now + 0.05 + rand() * p.jitterMs, () => fromPeer(peer.segment(now, seg)))
  }
  const fromPeer = (segs: ReadonlyArray<Uint8Array>): void => {
    for (const seg of segs) {
      const copies = rand() < p.loss ? 0 : rand() < p.duplicate ? 2 : 1
      for (let i = 0; i < copies; i++) {
        at(now + 0.05 + rand() * p.jitterMs, () => {
          const [st, out] = call((x, e: TcpSegmentIn) => tcpFromGuest(x, ctx(), e), s, { src: GUEST, dst: REMOTE, ttl: 64, ipHeader: new Uint8Array(20), segment: seg })
          s = st
          handle(out)
        })
      }
    }
    armPeer()
  }
  let peerArmed = Infinity
  const armPeer = (): void => {
    if (peer.timerAt < peerArmed) {
      peerArmed = peer.timerAt
      at(peer.timerAt, () => {
        peerArmed = Infinity
        fromPeer(peer.timer(now))
      })
    }
  }
  const hostEvent = (ev: TcpHostEvent): void => {
    const [st, out] = call((x, e: TcpHostEvent) => tcpHostEvent(x, ctx(), e), s, ev)
    s = st
    handle(out)
  }
  const scheduleRead = (): void => {
    if (readScheduled || !reading || sock === undefined || eof || closed) return
    readScheduled = true
    at(now + 0.02 + rand() * 0.05, () => {
      readScheduled = false
      if (!reading || sock === undefined || closed || eof) return
      if (sent < hostSource.length) {
        const n = Math.min(hostSource.length - sent, 1 + Math.floor(rand() * 65536))
        const data = hostSource.slice(sent, sent + n)
        sent += n
        hostEvent({ _tag: "HostTcpData", now: instant(now), sock, data })
        scheduleRead()
      } else {
        eof = true
        hostEvent({ _tag: "HostTcpEof", now: instant(now), sock })
      }
    })
  }
  const handle = (out: ReadonlyArray<LayerOutput>): void => {
    for (const o of out) {
      switch (o._tag) {
        case "PacketToGuest":
          toPeer(assembleSegment(o.header, o.payload, o.src, o.dst))
          break
        case "TcpConnect":
          sock = o.sock
          at(now + 0.1, () => {
            hostEvent({ _tag: "HostTcpConnected", now: instant(now), sock: o.sock })
            scheduleRead()
          })
          break
        case "TcpWrite": {
          hostReceived.push(...o.chunks)
          const n = o.chunks.reduce((k, c) => k + c.length, 0)
          at(now + rand() * (rand() < 0.01 ? 200 : 0.5), () => {
            if (!closed) hostEvent({ _tag: "HostTcpWritten", now: instant(now), sock: o.sock, bytes: n })
          })
          break
        }
        case "TcpSetReading":
          reading = o.reading
          if (reading) scheduleRead()
          break
        case "TcpReset":
          hostResets++
          closed = true
          break
        case "SocketClose":
          closed = true
          break
        case "SetTimer": {
          timers.set(o.timer, o.at)
          const armed = o.at
          at(Math.max(now, o.at), () => {
            if (timers.get(o.timer) !== armed) return
            timers.delete(o.timer)
            const [st, out2] = call((x, t: TimerId) => tcpTimer(x, ctx(), t), s, o.timer)
            s = st
            handle(out2)
          })
          break
        }
        case "CancelTimer":
          timers.delete(o.timer)
          break
        case "Log":
          logs.push(`${now.toFixed(3)} ${o.level}: ${o.message}`)
          break
        case "TcpShutdownWrite":
          break
        default:
          throw new Error(`unexpected output ${o._tag}`)
      }
    }
    for (const c of tcpConnections(s)) {
      peakSendBuf = Math.max(peakSendBuf, c.sendBuf.length)
      peakRecv = Math.max(peakRecv, c.hostQueued + c.oooBytes)
    }
  }

  fromPeer(peer.start(0))
  while (q.size > 0) {
    const e = q.pop()!
    if (e.at > 3_600_000) break
    now = e.at
    e.run()
    if (peer.state === "Closed" && s.conns.size === 0) break
  }
  // The bytes of every state of the run, re-verified once more now that it is over.
  if (checkedRun) verifyBytes({ release: true })
  return {
    finished: peer.state === "Closed" && s.conns.size === 0,
    hostReceived,
    hostSource,
    peer,
    hostResets,
    logs,
    peakSendBuf,
    peakRecv,
    virtualMs: now,
  }
}
