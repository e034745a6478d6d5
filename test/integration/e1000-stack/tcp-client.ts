/**
 * A minimal TCP client for the test guest (RFC 9293, the parts a download needs): active open
 * with an MSS option, stop-and-wait sending with retransmission, in-order receive (a segment
 * that starts beyond RCV.NXT is dropped and RCV.NXT re-ACKed, so the peer retransmits), an ACK
 * for every segment, passive close after the peer's FIN. The receive window is always 65535:
 * the application consumes data as it arrives. Any RST fails the operation waiting on it.
 */
import type { ReceivedFrame } from "./e1000-driver.ts"
import type { GuestNet } from "./guest-net.ts"
import { fmtIp, type Ipv4View, parseTcp, PROTO_TCP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, tcpSegment } from "./packets.ts"

const WINDOW = 65535
const MSS = 1460
const RTO_MS = 1000
const MAX_TRIES = 6

/** a < b in sequence space (RFC 9293 §3.4). */
const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0
const seqLe = (a: number, b: number): boolean => ((a - b) | 0) <= 0

type State = "Closed" | "SynSent" | "Established" | "CloseWait" | "LastAck" | "Done"

export interface TcpStats {
  segmentsIn: number
  segmentsOut: number
  retransmits: number
  outOfOrder: number
  badChecksums: number
}

export class TcpClient {
  state: State = "Closed"
  readonly stats: TcpStats = { segmentsIn: 0, segmentsOut: 0, retransmits: 0, outOfOrder: 0, badChecksums: 0 }
  private readonly iss = 0x1a2b3c4d
  private sndUna = this.iss
  private sndNxt = this.iss
  private rcvNxt = 0
  private peerMss = 536
  private readonly received: Array<Uint8Array> = []
  private receivedBytes = 0
  private finReceived = false
  private error: Error | undefined
  private readonly wakers: Array<() => void> = []

  private readonly net: GuestNet
  private readonly gatewayMac: Uint8Array
  private readonly localPort: number
  private readonly remote: number
  private readonly remotePort: number

  constructor(net: GuestNet, gatewayMac: Uint8Array, localPort: number, remote: number, remotePort: number) {
    this.net = net
    this.gatewayMac = gatewayMac
    this.localPort = localPort
    this.remote = remote
    this.remotePort = remotePort
    net.ipHandler = (ip, f) => this.input(ip, f)
  }

  private get local(): number {
    return this.net.address
  }

  private emit(flags: number, seq: number, data: Uint8Array = new Uint8Array(0), mss?: number): void {
    const seg = tcpSegment(this.local, this.remote, {
      sport: this.localPort,
      dport: this.remotePort,
      seq,
      ack: (flags & TCP_ACK) !== 0 ? this.rcvNxt : 0,
      flags,
      window: WINDOW,
      ...(mss === undefined ? {} : { mss }),
      data,
    })
    this.stats.segmentsOut++
    this.net.sendIp(this.gatewayMac, this.local, this.remote, PROTO_TCP, seg)
  }

  private wake(): void {
    for (const w of this.wakers.splice(0)) w()
  }

  /** Waits until `done()` holds, re-sending with `resend` every RTO, failing after MAX_TRIES. */
  private async until(what: string, done: () => boolean, resend?: () => void, timeoutMs = RTO_MS * MAX_TRIES): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let nextResend = Date.now() + RTO_MS
    while (!done()) {
      if (this.error !== undefined) throw this.error
      const now = Date.now()
      if (now >= deadline) throw new Error(`TCP ${fmtIp(this.remote)}:${this.remotePort}: ${what} timed out in state ${this.state} (${JSON.stringify(this.stats)})`)
      if (resend !== undefined && now >= nextResend) {
        this.stats.retransmits++
        resend()
        nextResend = now + RTO_MS
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(100, deadline - now))
        this.wakers.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
    if (this.error !== undefined) throw this.error
  }

  async connect(): Promise<void> {
    this.state = "SynSent"
    const syn = (): void => this.emit(TCP_SYN, this.iss, undefined, MSS)
    this.sndNxt = this.iss + 1
    syn()
    await this.until("handshake (SYN-ACK)", () => this.state !== "SynSent", syn)
  }

  /** Sends `data` one segment at a time, each acknowledged before the next. */
  async write(data: Uint8Array): Promise<void> {
    for (let off = 0; off < data.length; ) {
      const chunk = data.subarray(off, off + Math.min(this.peerMss, data.length - off))
      const seq = this.sndNxt
      const send = (): void => this.emit(TCP_ACK | TCP_PSH, seq, chunk)
      this.sndNxt = (seq + chunk.length) >>> 0
      send()
      const end = this.sndNxt
      await this.until("ACK of our data", () => seqLe(end, this.sndUna), send)
      off += chunk.length
    }
  }

  /** Everything until the peer's FIN. */
  async readToEnd(timeoutMs = 30_000): Promise<Uint8Array> {
    await this.until("peer's FIN", () => this.finReceived, undefined, timeoutMs)
    const out = new Uint8Array(this.receivedBytes)
    let o = 0
    for (const c of this.received) {
      out.set(c, o)
      o += c.length
    }
    return out
  }

  /** Our FIN after theirs (CLOSE-WAIT -> LAST-ACK -> done). */
  async close(): Promise<void> {
    const seq = this.sndNxt
    const fin = (): void => this.emit(TCP_FIN | TCP_ACK, seq)
    this.sndNxt = (seq + 1) >>> 0
    this.state = "LastAck"
    fin()
    const end = this.sndNxt
    await this.until("ACK of our FIN", () => seqLe(end, this.sndUna), fin)
    this.state = "Done"
  }

  private input(ip: Ipv4View, _f: ReceivedFrame): void {
    if (ip.protocol !== PROTO_TCP || ip.src !== this.remote || ip.dst !== this.local) return
    const seg = parseTcp(ip.src, ip.dst, ip.payload)
    if (seg === undefined || seg.sport !== this.remotePort || seg.dport !== this.localPort) return
    this.stats.segmentsIn++
    if (!seg.checksumOk) {
      this.stats.badChecksums++
      return
    }
    if ((seg.flags & TCP_RST) !== 0) {
      this.error = new Error(`TCP ${fmtIp(this.remote)}:${this.remotePort}: connection reset by peer in state ${this.state}`)
      this.state = "Closed"
      this.wake()
      return
    }
    if (this.state === "SynSent") {
      if ((seg.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK) && seg.ack === this.sndNxt) {
        this.rcvNxt = (seg.seq + 1) >>> 0
        this.sndUna = seg.ack
        if (seg.mss !== undefined) this.peerMss = Math.min(seg.mss, MSS)
        this.state = "Established"
        this.emit(TCP_ACK, this.sndNxt)
        this.wake()
      }
      return
    }
    if ((seg.flags & TCP_SYN) !== 0) {
      this.emit(TCP_ACK, this.sndNxt) // a retransmitted SYN-ACK: our ACK was lost
      return
    }
    if ((seg.flags & TCP_ACK) !== 0 && seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndNxt)) this.sndUna = seg.ack
    const fin = (seg.flags & TCP_FIN) !== 0
    if (seg.data.length > 0 || fin) {
      const offset = (this.rcvNxt - seg.seq) | 0
      if (offset < 0) {
        this.stats.outOfOrder++ // a gap: keep RCV.NXT, the duplicate ACK asks for it again
      } else if (offset <= seg.data.length) {
        const fresh = seg.data.subarray(offset)
        if (fresh.length > 0) {
          this.received.push(fresh.slice())
          this.receivedBytes += fresh.length
          this.rcvNxt = (this.rcvNxt + fresh.length) >>> 0
        }
        if (fin && !this.finReceived) {
          this.finReceived = true
          this.rcvNxt = (this.rcvNxt + 1) >>> 0
          if (this.state === "Established") this.state = "CloseWait"
        }
      }
      this.emit(TCP_ACK, this.sndNxt)
    }
    this.wake()
  }
}
