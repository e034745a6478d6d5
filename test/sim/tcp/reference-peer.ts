/**
 * A deliberately simple guest TCP, independent of the reducer under test, so the simulation is
 * not the reducer agreeing with itself: active open with MSS (and optionally window scale and
 * timestamps, never SACK), go-back-N sending with a fixed retransmission timeout, in-order-only
 * receiving (out-of-order segments are dropped and answered with a duplicate ACK), an ACK for
 * every segment, a fixed receive window, FIN after its data. It checks what it receives.
 */
import { ACK, assembleSegment, emitTcpHeader, FIN, parseTcp, RST, SYN, type TcpView } from "../../../src/protocol/tcp/wire.ts"
import type { Ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"

export interface ReferenceOptions {
  readonly src: Ipv4
  readonly dst: Ipv4
  readonly srcPort: number
  readonly dstPort: number
  readonly mss: number
  /** Our window shift when offering window scale, or undefined to not offer it. */
  readonly wscale: number | undefined
  readonly timestamps: boolean
  readonly window: number
  readonly rtoMs: number
  readonly source: Uint8Array
}

const add = (a: number, n: number): number => (a + n) >>> 0
const diff = (a: number, b: number): number => (a - b) | 0

export class ReferencePeer {
  readonly o: ReferenceOptions
  readonly iss = 0x7ffffff0 // close to a sign flip of the 32-bit space, to exercise wrap-around
  state: "SynSent" | "Established" | "Closed" = "SynSent"
  una: number
  nxt: number
  rcvNxt = 0
  sndWnd = 0
  sndShift = 0
  rcvShift = 0
  tsOk = false
  tsRecent = 0
  peerMss = 536
  finSent = false
  finAcked = false
  finReceived = false
  reset = false
  received: Array<Uint8Array> = []
  receivedBytes = 0
  timerAt = Infinity
  constructor(o: ReferenceOptions) {
    this.o = o
    this.una = this.iss
    this.nxt = this.iss
  }

  /** Sequence number of source byte 0. */
  private get dataSeq(): number {
    return add(this.iss, 1)
  }
  private get finSeq(): number {
    return add(this.dataSeq, this.o.source.length)
  }

  private seg(now: number, seq: number, flags: number, payload?: Uint8Array): Uint8Array {
    const syn = (flags & SYN) !== 0
    const window = syn ? Math.min(0xffff, this.o.window) : Math.min(0xffff, this.o.window >>> this.rcvShift)
    const h = emitTcpHeader({
      srcPort: this.o.srcPort,
      dstPort: this.o.dstPort,
      seq,
      ack: (flags & ACK) !== 0 ? this.rcvNxt : 0,
      flags,
      window,
      mss: syn ? this.o.mss : undefined,
      wscale: syn ? this.o.wscale : undefined,
      timestamp: syn ? this.o.timestamps : this.tsOk,
      tsVal: Math.floor(now) >>> 0,
      tsEcr: this.tsRecent,
    })
    return assembleSegment(h, payload, this.o.src, this.o.dst)
  }

  start(now: number): Array<Uint8Array> {
    this.nxt = add(this.iss, 1)
    this.timerAt = now + this.o.rtoMs
    return [this.seg(now, this.iss, SYN)]
  }

  /** Everything the window allows from `nxt` (go-back-N after a timeout rewinds `nxt`). */
  private send(now: number): Array<Uint8Array> {
    const out: Array<Uint8Array> = []
    const mss = this.peerMss - (this.tsOk ? 12 : 0)
    for (;;) {
      const off = diff(this.nxt, this.dataSeq)
      const left = this.o.source.length - off
      const room = diff(add(this.una, this.sndWnd), this.nxt)
      if (left > 0) {
        const n = Math.min(mss, left, room)
        if (n <= 0) break
        const fin = n === left
        out.push(this.seg(now, this.nxt, ACK | (fin ? FIN : 0), this.o.source.subarray(off, off + n)))
        this.nxt = add(this.nxt, n + (fin ? 1 : 0))
        if (fin) this.finSent = true
      } else if (left === 0 && !this.finAcked && diff(this.nxt, this.finSeq) <= 0) {
        out.push(this.seg(now, this.nxt, ACK | FIN))
        this.nxt = add(this.nxt, 1)
        this.finSent = true
      } else break
    }
    // Retransmission timer, or persist timer when the window holds everything back.
    if (this.timerAt === Infinity && !this.finAcked && (out.length > 0 || this.una === this.nxt)) this.timerAt = now + this.o.rtoMs
    return out
  }

  segment(now: number, bytes: Uint8Array): Array<Uint8Array> {
    const p = parseTcp(bytes, this.o.dst, this.o.src)
    if (!p.ok) throw new Error(`reference peer got a bad segment: ${p.reason}`)
    const t = p.tcp
    if (this.state === "Closed") {
      // TIME-WAIT, forever: re-acknowledge retransmissions whose ACK was lost.
      if (!this.reset && (t.flags & RST) === 0 && (bytes.length > t.headerLength || (t.flags & FIN) !== 0)) return [this.seg(now, this.nxt, ACK)]
      return []
    }
    const payload = bytes.subarray(t.headerLength)
    if ((t.flags & RST) !== 0) {
      this.reset = true
      this.state = "Closed"
      return []
    }
    if (this.state === "SynSent") {
      if ((t.flags & (SYN | ACK)) !== (SYN | ACK) || t.ack !== add(this.iss, 1)) return []
      this.rcvNxt = add(t.seq, 1)
      this.una = t.ack
      this.peerMss = t.mss > 0 ? t.mss : 536
      this.tsOk = this.o.timestamps && t.hasTimestamp
      if (this.tsOk) this.tsRecent = t.tsVal
      if (this.o.wscale !== undefined && t.wscale >= 0) {
        this.sndShift = t.wscale
        this.rcvShift = this.o.wscale
      }
      this.sndWnd = t.window
      this.state = "Established"
      this.timerAt = Infinity
      return [this.seg(now, this.nxt, ACK), ...this.send(now)]
    }
    const out: Array<Uint8Array> = []
    // ACK processing.
    if ((t.flags & ACK) !== 0 && diff(t.ack, this.una) > 0 && diff(t.ack, this.nxt) <= 0) {
      this.una = t.ack
      if (this.finSent && t.ack === add(this.finSeq, 1)) this.finAcked = true
      this.timerAt = this.una === this.nxt ? Infinity : now + this.o.rtoMs
    } else if ((t.flags & ACK) !== 0 && diff(t.ack, this.nxt) > 0 && diff(t.ack, add(this.finSeq, 1)) <= 0) {
      // Acknowledges what we sent before a go-back-N rewind.
      this.una = t.ack
      this.nxt = t.ack
      if (this.finSent && t.ack === add(this.finSeq, 1)) this.finAcked = true
    }
    if ((t.flags & ACK) !== 0) this.sndWnd = t.window * 2 ** this.sndShift
    // In-order data and FIN only.
    let ack = false
    if (payload.length > 0 || (t.flags & FIN) !== 0) {
      ack = true
      if (t.seq === this.rcvNxt) {
        if (payload.length > 0) {
          if (payload.length > this.o.window) throw new Error("peer sent beyond our window")
          this.received.push(payload.slice())
          this.receivedBytes += payload.length
          this.rcvNxt = add(this.rcvNxt, payload.length)
        }
        if ((t.flags & FIN) !== 0) {
          this.rcvNxt = add(this.rcvNxt, 1)
          this.finReceived = true
        }
        if (this.tsOk && t.hasTimestamp) this.tsRecent = t.tsVal
      }
    }
    if (ack) out.push(this.seg(now, this.nxt, ACK))
    out.push(...this.send(now))
    if (this.finAcked && this.finReceived) this.state = "Closed"
    return out
  }

  timer(now: number): Array<Uint8Array> {
    if (now < this.timerAt) return []
    this.timerAt = Infinity
    if (this.state === "SynSent") return this.start(now)
    if (this.state === "Closed" || this.finAcked) return []
    this.nxt = this.una // go back N
    const out = this.send(now)
    if (out.length === 0) {
      // Zero window (persist): probe with one byte, or the FIN, at una.
      const off = diff(this.una, this.dataSeq)
      out.push(off < this.o.source.length ? this.seg(now, this.una, ACK, this.o.source.subarray(off, off + 1)) : this.seg(now, this.una, ACK | FIN))
    }
    this.timerAt = now + this.o.rtoMs
    return out
  }
}

export type { TcpView }
