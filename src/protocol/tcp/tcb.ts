/**
 * One TCP connection between the guest and a host socket: the transmission control block and
 * its reducer (RFC 9293 §3.10 event processing), for both directions of open:
 *
 * - passive (the guest connects out): the guest's SYN creates the TCB in SynReceived with the
 *   SYN-ACK withheld until the host socket connects (`onHostConnected`);
 * - active (a host client connects into the guest, hostfwd): `createActive` sends our SYN from
 *   SynSent.
 *
 * We are a TCP endpoint toward the guest and a socket user toward the host: guest data becomes
 * `TcpWrite`, guest FIN `TcpShutdownWrite`, guest RST `TcpReset`; host data is the send buffer,
 * host EOF our FIN, host errors our RST. Every reset is logged with its reason.
 *
 * Ownership: a TCB is mutable and owned by exactly one layer state (layer.ts documents the
 * linear-ownership rule); the functions here update it in place and push outputs to
 * `env.out`. This keeps the per-segment cost at a few small allocations (the header, the
 * output record, a payload view) instead of copying a 60-field record and its queues.
 *
 * Never throws on guest input: anything unacceptable is dropped (with an ACK where RFC 9293
 * asks for one).
 *
 * Toward the guest: RFC 6298 RTO with backoff (dropped on forward progress), NewReno (RFC
 * 5681/6582) with SACK loss recovery (RFC 6675), limited transmit (RFC 3042), early retransmit
 * (RFC 5827), a tail loss probe (RFC 8985 §7) and lost-retransmission detection, zero-window
 * probing, and the sender's SWS avoidance. From the guest: out-of-order queue with SACK
 * blocks, delayed ACK (every second full segment or 40 ms), a window that is what the memory
 * bound leaves after bytes the host has not yet taken. Not implemented: keep-alive, PAWS
 * (RFC 7323 §5), urgent data (treated as ordinary data), ECN.
 */
import type { Instant } from "../../effects/instant.ts"
import type { SocketId, TimerId } from "../../effects/ids.ts"
import type { LayerOutput } from "../stack/output.ts"
import { formatIpv4, type Ipv4 } from "../wire/ipv4-address.ts"
import type { TcpConfig } from "./config.ts"
import { rttBackoff, rttInit, rttResetBackoff, rttSample, type RttEstimate } from "./rtt.ts"
import {
  addSackRange,
  clearScoreboard,
  createScoreboard,
  highSacked,
  holeAt,
  holeBytes,
  type OooSegment,
  sackBlocksFor,
  type Scoreboard,
  trimScoreboard,
} from "./sack.ts"
import { append, createSendBuffer, drop, read, type SendBuffer } from "./send-buffer.ts"
import { seqAdd, seqDiff, seqGe, seqGt, seqInWindow, seqLe, seqLt, seqMax, seqMin } from "./seq.ts"
import { ACK, emitTcpHeader, FIN, MAX_WSCALE, PSH, RST, SYN, TCP_CHECKSUM_OFFSET, TCP_PROTOCOL, type TcpView } from "./wire.ts"

/** RFC 9293 §3.3.2 state names. LISTEN is implicit: the layer table answers SYNs. */
export type TcpState =
  | "SynSent"
  | "SynReceived"
  | "Established"
  | "FinWait1"
  | "FinWait2"
  | "CloseWait"
  | "Closing"
  | "LastAck"
  | "TimeWait"
  | "Closed"

/** What a reducer call needs from the world. Outputs are appended to `out`. */
export interface TcbEnv {
  readonly now: Instant
  readonly mtu: number
  readonly config: TcpConfig
  readonly out: Array<LayerOutput>
}

/** No deadline. */
const NONE = Infinity
/** RFC 9293 §3.7.1 default when the guest sends no MSS option. */
const DEFAULT_MSS = 536
const TS_OPTION_LEN = 12
/** Floor of the tail loss probe timeout (RFC 8985 §7.2 suggests 2 * SRTT; the link RTT is tiny). */
const TLP_MIN_MS = 10
/** Upper bound on cwnd, bytes: far above any window we can be offered, keeps arithmetic small. */
const MAX_CWND = 64 * 1024 * 1024

export interface Tcb {
  state: TcpState
  readonly sock: SocketId
  readonly timerId: TimerId
  /** The guest end (the peer of our TCP) and the far end we impersonate. */
  readonly guestIp: Ipv4
  readonly guestPort: number
  readonly remoteIp: Ipv4
  readonly remotePort: number
  readonly activeOpen: boolean

  // Send sequence space (toward the guest), RFC 9293 §3.3.1.
  readonly iss: number
  sndUna: number
  sndNxt: number
  /** Highest sequence number sent so far (SND.NXT moves back on timeout; this does not). */
  sndMax: number
  sndWnd: number
  sndWl1: number
  sndWl2: number
  maxSndWnd: number
  sndWndShift: number
  /** Payload bytes per segment toward the guest (its MSS, our MTU, minus timestamps). */
  sndMss: number
  /** Host data not yet acknowledged by the guest; `bufSeq` is the sequence number of its first byte. */
  readonly sendBuf: SendBuffer
  bufSeq: number
  /** The host reached EOF: our FIN follows the buffer, at `finSeq`. */
  finQueued: boolean
  finSeq: number

  // Receive sequence space (from the guest).
  irs: number
  rcvNxt: number
  rcvWndShift: number
  /** Right edge of the window we last advertised; never moved left (RFC 9293 §3.8.6.2.2). */
  rcvAdvRight: number
  /** Our MSS as advertised (payload bytes of a full segment from the guest, before options). */
  readonly rcvMss: number
  /** Out-of-order guest data, sorted, disjoint, each copied once. */
  ooo: Array<OooSegment>
  oooBytes: number
  oooLatest: number
  /** Guest bytes not yet reported by `HostTcpWritten`: staged plus in flight. */
  hostQueued: number
  /** Bytes handed over in `TcpWrite` and not yet reported by `HostTcpWritten`. */
  hostInFlight: number
  /** In-order guest data waiting for the earlier writes (see `deliverInOrder`). */
  stage: Uint8Array | undefined
  staged: number

  // Options (RFC 7323, RFC 2018).
  sackOk: boolean
  tsOk: boolean
  /** Both SYNs carried window scale (RFC 7323 §2.2); the shifts below apply only then. */
  wsOk: boolean
  tsRecent: number
  readonly tsOffset: number
  lastAckSent: number
  /**
   * Our TSval at the last retransmission timeout: echoes older than this are not RTT samples.
   * After a timeout the guest answers our retransmission of data it already had with the
   * TSval of the original (RFC 7323 §4.3 leaves TS.Recent alone for duplicates), which would
   * fold the whole timeout into SRTT and inflate the RTO (a Karn's rule for timestamps).
   */
  tsSampleFloor: number

  // Reliability.
  readonly rtt: RttEstimate
  /** Karn timing of one segment when timestamps are off: its end sequence and send time. */
  rttSeq: number
  rttTimed: boolean
  rttStart: number
  retries: number
  persist: boolean
  persistBackoff: number

  // Congestion control: NewReno with SACK-based loss recovery (RFC 5681, 6582, 6675).
  cwnd: number
  ssthresh: number
  dupAcks: number
  inRecovery: boolean
  recoveryPoint: number
  highRxt: number
  /**
   * The next hole goes out regardless of pipe: the fast retransmit on entering recovery (RFC
   * 6675 §5 step 4.3) and the retransmission on a NewReno partial ACK (RFC 6582 §3.2 step 5).
   */
  retransmitNow: boolean
  /** SND.MAX when the latest hole was retransmitted (lost-retransmission detection). */
  rxtMark: number
  /** `rtoAt` is a tail loss probe deadline, not the RTO (RFC 8985 §7). */
  tlpArmed: boolean
  /** A probe went out and no ACK of new data has arrived since: at most one per episode. */
  tlpOut: boolean
  /** Start of the probe segment: once the guest holds it, every hole below it is lost. */
  tlpSeq: number
  readonly scoreboard: Scoreboard

  // Acknowledgements toward the guest.
  ackPendingBytes: number
  ackNow: boolean

  // Deadlines (Instant ms, NONE when unset) and the one runtime timer.
  rtoAt: number
  delackAt: number
  /** Connect timeout (SynReceived before SYN-ACK), FIN_WAIT_2 idle timeout or TIME_WAIT end. */
  stateAt: number
  armedAt: number

  // The host socket.
  /** Passive open: the host connect has succeeded and our SYN-ACK has gone out. */
  synAckSent: boolean
  /** The socket exists from our point of view (no SocketClose/TcpReset sent, no error/close seen). */
  hostOpen: boolean
  hostShutdownSent: boolean
  reading: boolean
  /** Passive open: the guest's IP header + first 8 bytes of its SYN, for ICMP unreachable. */
  readonly synOriginal: Uint8Array | undefined
}

// ---------------------------------------------------------------------------------------------
// Construction

export interface PassiveOpen {
  readonly sock: SocketId
  readonly guestIp: Ipv4
  readonly remoteIp: Ipv4
  /** The guest's SYN. */
  readonly syn: TcpView
  readonly synOriginal: Uint8Array
  readonly iss: number
  readonly tsOffset: number
}

export interface ActiveOpen {
  readonly sock: SocketId
  readonly guestIp: Ipv4
  readonly guestPort: number
  readonly remoteIp: Ipv4
  readonly remotePort: number
  readonly iss: number
  readonly tsOffset: number
}

/** Our MSS for a guest link MTU: IPv4 + TCP headers without options (RFC 9293 §3.7.1). */
export const mssForMtu = (mtu: number): number => Math.max(88, Math.min(mtu - 40, 65495))

/** The smallest window shift that lets `bytes` be advertised (RFC 7323 §2.2). */
export const wscaleFor = (bytes: number): number => {
  let s = 0
  while (s < MAX_WSCALE && 0xffff * 2 ** s < bytes) s++
  return s
}

const blank = (
  env: TcbEnv,
  sock: SocketId,
  guestIp: Ipv4,
  guestPort: number,
  remoteIp: Ipv4,
  remotePort: number,
  activeOpen: boolean,
  iss: number,
  tsOffset: number,
  synOriginal: Uint8Array | undefined,
): Tcb => {
  const mss = mssForMtu(env.mtu)
  return {
    state: activeOpen ? "SynSent" : "SynReceived",
    sock,
    timerId: `tcp:${sock}` as TimerId,
    guestIp,
    guestPort,
    remoteIp,
    remotePort,
    activeOpen,
    iss,
    sndUna: iss,
    sndNxt: iss,
    sndMax: iss,
    sndWnd: 0,
    sndWl1: 0,
    sndWl2: 0,
    maxSndWnd: 0,
    sndWndShift: 0,
    sndMss: Math.min(DEFAULT_MSS, mss),
    sendBuf: createSendBuffer(),
    bufSeq: seqAdd(iss, 1),
    finQueued: false,
    finSeq: 0,
    irs: 0,
    rcvNxt: 0,
    rcvWndShift: 0,
    rcvAdvRight: 0,
    rcvMss: mss,
    ooo: [],
    oooBytes: 0,
    oooLatest: 0,
    hostQueued: 0,
    hostInFlight: 0,
    stage: undefined,
    staged: 0,
    sackOk: false,
    tsOk: false,
    wsOk: false,
    tsRecent: 0,
    tsOffset,
    lastAckSent: 0,
    tsSampleFloor: (Math.floor(env.now) + tsOffset) >>> 0,
    rtt: rttInit(env.config),
    rttSeq: 0,
    rttTimed: false,
    rttStart: 0,
    retries: 0,
    persist: false,
    persistBackoff: 0,
    cwnd: Math.max(env.config.initialCwndBytes, 4 * mss),
    ssthresh: MAX_CWND,
    dupAcks: 0,
    inRecovery: false,
    recoveryPoint: iss,
    highRxt: iss,
    retransmitNow: false,
    rxtMark: iss,
    tlpArmed: false,
    tlpOut: false,
    tlpSeq: iss,
    scoreboard: createScoreboard(),
    ackPendingBytes: 0,
    ackNow: false,
    rtoAt: NONE,
    delackAt: NONE,
    stateAt: NONE,
    armedAt: NONE,
    synAckSent: false,
    hostOpen: true,
    hostShutdownSent: false,
    reading: true,
    synOriginal,
  }
}

/**
 * The guest's SYN arrived and the layer has asked the host to connect (RFC 9293 §3.10.7.2,
 * LISTEN + SYN). The SYN-ACK waits for `onHostConnected`; the guest's retransmitted SYNs are
 * dropped meanwhile, and `connectTimeoutMs` bounds the wait.
 */
export const createPassive = (p: PassiveOpen, env: TcbEnv): Tcb => {
  const t = p.syn
  const c = blank(env, p.sock, p.guestIp, t.srcPort, p.remoteIp, t.dstPort, false, p.iss, p.tsOffset, p.synOriginal)
  c.irs = t.seq
  c.rcvNxt = seqAdd(t.seq, 1)
  c.rcvAdvRight = c.rcvNxt
  c.sndWnd = t.window // RFC 7323 §2.2: the window in a SYN is never scaled.
  c.sndWl1 = t.seq
  c.maxSndWnd = t.window
  negotiate(c, env, t)
  c.stateAt = env.now + env.config.connectTimeoutMs
  return c
}

/** A host client connected to a forwarded port: open toward the guest (RFC 9293 §3.10.1, active OPEN). */
export const createActive = (p: ActiveOpen, env: TcbEnv): Tcb => {
  const c = blank(env, p.sock, p.guestIp, p.guestPort, p.remoteIp, p.remotePort, true, p.iss, p.tsOffset, undefined)
  c.synAckSent = true
  sendSyn(c, env)
  armTimer(c, env)
  return c
}

/**
 * Records the options of the guest's SYN (passive) or SYN-ACK (active). In both directions an
 * option is on only if the guest sent it: passively we answer only what was offered, actively
 * we offered everything.
 */
const negotiate = (c: Tcb, env: TcbEnv, t: TcpView): void => {
  const guestMss = t.mss > 0 ? t.mss : DEFAULT_MSS
  c.tsOk = t.hasTimestamp
  if (c.tsOk) c.tsRecent = t.tsVal
  c.sackOk = t.sackPermitted
  c.wsOk = t.wscale >= 0
  if (c.wsOk) {
    c.sndWndShift = t.wscale
    c.rcvWndShift = wscaleFor(env.config.bufferBytes)
  } else {
    c.sndWndShift = 0
    c.rcvWndShift = 0
  }
  c.sndMss = Math.max(1, Math.min(guestMss, mssForMtu(env.mtu)) - (c.tsOk ? TS_OPTION_LEN : 0))
}

// ---------------------------------------------------------------------------------------------
// Output

const tsNow = (c: Tcb, env: TcbEnv): number => (Math.floor(env.now) + c.tsOffset) >>> 0

/** The window we can offer now: what the bound leaves after bytes still queued to the host. */
const rcvCapacity = (c: Tcb, env: TcbEnv): number => Math.max(0, env.config.bufferBytes - c.hostQueued)

/** Bytes of the guest's data we accept beyond RCV.NXT (what we last advertised). */
const rcvWnd = (c: Tcb): number => Math.max(0, seqDiff(c.rcvAdvRight, c.rcvNxt))

const guestMayStillSend = (s: TcpState): boolean =>
  s === "SynReceived" || s === "Established" || s === "FinWait1" || s === "FinWait2"

/**
 * The window field for a non-SYN segment; moves `rcvAdvRight` (never left, RFC 9293
 * §3.8.6.2.2). The field is rounded up to the scale unit so that the window never appears to
 * shrink, but `rcvAdvRight` records the exact edge and is what we accept up to: the guest may
 * believe in up to 2^shift - 1 more bytes, which we trim, rather than letting the rounding creep
 * past the memory bound one advertisement at a time.
 */
const windowField = (c: Tcb, env: TcbEnv): number => {
  let right = seqAdd(c.rcvNxt, rcvCapacity(c, env))
  // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the right edge moves only by at least
  // min(bound / 2, MSS), so the guest is never invited to send slivers.
  if (seqLt(right, c.rcvAdvRight) || seqDiff(right, c.rcvAdvRight) < Math.min(env.config.bufferBytes / 2, c.rcvMss)) {
    right = seqMax(c.rcvAdvRight, c.rcvNxt)
  }
  const wnd = seqDiff(right, c.rcvNxt)
  const unit = 2 ** c.rcvWndShift
  const field = Math.min(0xffff, Math.ceil(wnd / unit))
  c.rcvAdvRight = field === 0xffff ? seqAdd(c.rcvNxt, Math.min(wnd, field * unit)) : right
  return field
}

/**
 * Emits one segment toward the guest. `payload` is a view (of the send buffer) the IP layer
 * copies into the frame. Any segment with ACK clears the pending-ACK state.
 */
const emit = (c: Tcb, env: TcbEnv, seq: number, flags: number, payload: Uint8Array | undefined): void => {
  const syn = (flags & SYN) !== 0
  let window: number
  if (syn) {
    window = Math.min(0xffff, rcvCapacity(c, env))
    if ((flags & ACK) !== 0) c.rcvAdvRight = seqAdd(c.rcvNxt, window)
  } else window = windowField(c, env)
  const withAck = (flags & ACK) !== 0
  const tsOn = syn ? (c.activeOpen && (flags & ACK) === 0) || c.tsOk : c.tsOk
  const wsOn = syn && ((c.activeOpen && (flags & ACK) === 0) || c.wsOk)
  // SACK blocks (RFC 2018 §4) as many as fit in the MTU beside the payload: a full-sized data
  // segment has no room, so the pending ACK stays pending and goes out bare with all blocks.
  let sack: Array<number> | undefined
  let sackLeftOut = false
  if (withAckFlag(flags) && !syn && c.sackOk && c.ooo.length > 0) {
    const room = env.mtu - 40 - (payload === undefined ? 0 : payload.length) - (tsOn ? TS_OPTION_LEN : 0) - 4
    const n = Math.min(c.tsOk ? 3 : 4, Math.floor(room / 8))
    if (n > 0) sack = sackBlocksFor(c.ooo, c.oooLatest, n)
    else sackLeftOut = true
  }
  const header = emitTcpHeader({
    srcPort: c.remotePort,
    dstPort: c.guestPort,
    seq,
    ack: withAck ? c.rcvNxt : 0,
    flags,
    window,
    mss: syn ? c.rcvMss : -1,
    wscale: wsOn ? (c.activeOpen && (flags & ACK) === 0 ? wscaleFor(env.config.bufferBytes) : c.rcvWndShift) : -1,
    sackPermitted: syn && ((c.activeOpen && (flags & ACK) === 0) || c.sackOk),
    timestamp: tsOn,
    tsVal: tsNow(c, env),
    tsEcr: c.tsRecent,
    sack,
  })
  env.out.push({
    _tag: "Ipv4ToGuest",
    src: c.remoteIp,
    dst: c.guestIp,
    protocol: TCP_PROTOCOL,
    header,
    payload,
    checksumOffset: TCP_CHECKSUM_OFFSET,
    pseudoHeader: true,
  })
  if (withAck) c.lastAckSent = c.rcvNxt
  if (withAck && !sackLeftOut) {
    c.ackPendingBytes = 0
    c.ackNow = false
    c.delackAt = NONE
  }
}

const withAckFlag = (flags: number): boolean => (flags & ACK) !== 0

const sendSyn = (c: Tcb, env: TcbEnv): void => {
  emit(c, env, c.iss, SYN, undefined)
  c.sndNxt = seqAdd(c.iss, 1)
  c.sndMax = seqMax(c.sndMax, c.sndNxt)
  if (c.rtoAt === NONE) c.rtoAt = env.now + c.rtt.rto
}

const sendSynAck = (c: Tcb, env: TcbEnv): void => {
  emit(c, env, c.iss, SYN | ACK, undefined)
  c.sndNxt = seqAdd(c.iss, 1)
  c.sndMax = seqMax(c.sndMax, c.sndNxt)
  if (c.rtoAt === NONE) c.rtoAt = env.now + c.rtt.rto
}

/** A pure ACK (also window updates, duplicate ACKs with SACK, challenge ACKs). */
export const sendAck = (c: Tcb, env: TcbEnv): void => emit(c, env, c.sndNxt, ACK, undefined)

const log = (c: Tcb, env: TcbEnv, level: "info" | "debug" | "warn", msg: string): void => {
  env.out.push({ _tag: "Log", level, message: `tcp ${describe(c)}: ${msg}` })
}

export const describe = (c: Tcb): string =>
  `${formatIpv4(c.guestIp)}:${c.guestPort}<->${formatIpv4(c.remoteIp)}:${c.remotePort} sock ${c.sock} ${c.state}`

const closeHost = (c: Tcb, env: TcbEnv, reset: boolean): void => {
  if (!c.hostOpen) return
  if (!reset) flushStage(c, env)
  c.hostOpen = false
  env.out.push(reset ? { _tag: "TcpReset", sock: c.sock } : { _tag: "SocketClose", sock: c.sock })
}

/** Abort: RST to the guest (if it knows us), reset the host socket, log why (RFC 9293 §3.10.5). */
export const abort = (c: Tcb, env: TcbEnv, reason: string): void => {
  if (c.state === "Closed") return
  log(c, env, "info", `reset: ${reason}`)
  const guestKnowsUs = c.synAckSent && c.state !== "TimeWait"
  if (guestKnowsUs) emit(c, env, c.sndNxt, c.state === "SynSent" ? RST : RST | ACK, undefined)
  closeHost(c, env, true)
  toClosed(c)
}

const toClosed = (c: Tcb): void => {
  c.stage = undefined
  c.staged = 0
  c.state = "Closed"
  c.rtoAt = NONE
  c.delackAt = NONE
  c.stateAt = NONE
  c.ooo = []
  c.oooBytes = 0
}

const toTimeWait = (c: Tcb, env: TcbEnv): void => {
  c.state = "TimeWait"
  c.rtoAt = NONE
  c.persist = false
  c.stateAt = env.now + env.config.timeWaitMs
  // Everything the guest sent has been handed to the host: the socket can close now.
  closeHost(c, env, false)
}

// ---------------------------------------------------------------------------------------------
// Sending data toward the guest

const bufEnd = (c: Tcb): number => seqAdd(c.bufSeq, c.sendBuf.length)

/** Sends [seq, seq + len) of the buffer, with FIN when it ends at `finSeq`; returns sequence space used. */
const sendRange = (c: Tcb, env: TcbEnv, seq: number, len: number): number => {
  const off = seqDiff(seq, c.bufSeq)
  const dataLen = Math.max(0, Math.min(len, c.sendBuf.length - off))
  const fin = c.finQueued && seqAdd(seq, dataLen) === c.finSeq
  const payload = dataLen > 0 ? read(c.sendBuf, off, dataLen) : undefined
  let flags = ACK
  if (fin) flags |= FIN
  if (dataLen > 0 && seqAdd(seq, dataLen) === bufEnd(c)) flags |= PSH
  emit(c, env, seq, flags, payload)
  if (fin && (c.state === "Established" || c.state === "CloseWait" || c.state === "SynReceived")) {
    c.state = c.state === "CloseWait" ? "LastAck" : "FinWait1"
  }
  return dataLen + (fin ? 1 : 0)
}

const synchronizedSender = (s: TcpState): boolean =>
  s === "Established" || s === "CloseWait" || s === "FinWait1" || s === "Closing" || s === "LastAck"

/** RFC 6675 pipe (in recovery) or the bytes outstanding. */
const pipe = (c: Tcb): number => {
  const out = seqDiff(c.sndNxt, c.sndUna)
  if (!c.inRecovery) return out
  const sb = c.scoreboard
  if (c.sackOk && sb.ranges.length > 0) {
    const from = seqMax(c.highRxt, c.sndUna)
    const lost = holeBytes(sb, from, highSacked(sb, from))
    return Math.max(0, out - sb.sacked - lost)
  }
  // NewReno without SACK: each duplicate ACK says a segment left the network (RFC 6582 §3.2).
  const lost = seqLe(c.highRxt, c.sndUna) ? c.sndMss : 0
  return Math.max(0, out - c.dupAcks * c.sndMss - lost)
}

/** The next range to retransmit during loss recovery, or undefined. */
const nextHole = (c: Tcb): readonly [number, number] | undefined => {
  if (!c.inRecovery) return undefined
  const from = seqMax(c.highRxt, c.sndUna)
  if (c.sackOk && c.scoreboard.ranges.length > 0) return holeAt(c.scoreboard, from, c.sndMss)
  if (seqLe(c.highRxt, c.sndUna) && seqLt(c.sndUna, c.sndMax)) {
    return [c.sndUna, Math.min(c.sndMss, Math.max(1, seqDiff(c.sndMax, c.sndUna)))]
  }
  return undefined
}

/**
 * Arms the retransmission timer for what is outstanding. With SACK, outside recovery and
 * before any timeout, the first deadline is a tail loss probe (RFC 8985 §7): a lost tail of a
 * burst (a full guest RX ring drops exactly that) then costs one probe after 2 * SRTT instead
 * of a 200 ms RTO followed by slow start, because the probe draws the SACK that starts recovery.
 */
const armRetransmit = (c: Tcb, env: TcbEnv): void => {
  const flight = seqDiff(c.sndMax, c.sndUna)
  c.tlpArmed = false
  if (flight <= 0) {
    c.rtoAt = NONE
    return
  }
  const rto = c.rtt.rto
  if (c.sackOk && c.rtt.hasSample && !c.inRecovery && !c.tlpOut && c.retries === 0 && !c.persist) {
    // A lone segment may wait for the guest's delayed ACK (RFC 8985 §7.2 WCDelAckT).
    const pto = Math.max(2 * c.rtt.srtt, TLP_MIN_MS) + (flight <= c.sndMss ? env.config.delayedAckMs : 0)
    if (pto < rto) {
      c.rtoAt = env.now + pto
      c.tlpArmed = true
      return
    }
  }
  c.rtoAt = env.now + rto
}

/** RFC 8985 §7.3: one new segment if the windows allow, else the highest one sent again. */
const sendTailProbe = (c: Tcb, env: TcbEnv): void => {
  const avail = seqDiff(bufEnd(c), c.sndNxt)
  const wndRoom = seqDiff(seqAdd(c.sndUna, c.sndWnd), c.sndNxt)
  if (avail > 0 && wndRoom > 0 && c.sndNxt === c.sndMax) {
    c.tlpSeq = c.sndNxt
    const used = sendRange(c, env, c.sndNxt, Math.min(c.sndMss, avail, wndRoom))
    c.sndNxt = seqAdd(c.sndNxt, used)
    c.sndMax = c.sndNxt
    return
  }
  const len = Math.min(c.sndMss, seqDiff(c.sndMax, c.sndUna))
  const seq = seqAdd(c.sndMax, -len)
  const dataEnd = c.finQueued && seqGt(c.sndMax, c.finSeq) ? c.finSeq : c.sndMax
  c.tlpSeq = seq
  sendRange(c, env, seq, Math.max(0, seqDiff(dataEnd, seq)))
}

/**
 * Sends what congestion and flow control allow: retransmissions of holes first (in recovery),
 * then new data, then FIN; arms the retransmission or persist timer. Called after every event
 * that can open the window or add data, so a batch of host data leaves as a burst of segments.
 */
export const pump = (c: Tcb, env: TcbEnv): void => {
  if (!synchronizedSender(c.state)) return
  const mss = c.sndMss
  let sentNew = false
  for (;;) {
    const p = pipe(c)
    const hole = nextHole(c)
    if (hole !== undefined) {
      const [hs, hl] = hole
      if (p + hl > c.cwnd && !c.retransmitNow) break
      c.retransmitNow = false
      const used = sendRange(c, env, hs, hl)
      c.highRxt = seqAdd(hs, Math.max(used, 1))
      c.rxtMark = c.sndMax
      c.rttTimed = false // Karn: nothing in flight is timed after a retransmission.
      if (c.rtoAt === NONE) armRetransmit(c, env)
      continue
    }
    const end = bufEnd(c)
    const avail = seqDiff(end, c.sndNxt)
    const wantFin = c.finQueued && seqLe(c.sndNxt, c.finSeq)
    if (avail <= 0 && !wantFin) break
    const wndRoom = seqDiff(seqAdd(c.sndUna, c.sndWnd), c.sndNxt)
    // Limited transmit (RFC 3042): the first two duplicate ACKs each let one new segment out,
    // so that a small flight can still produce the three duplicates fast retransmit needs.
    const cwndRoom = c.cwnd + (c.inRecovery ? 0 : Math.min(c.dupAcks, 2) * mss) - p
    let len = 0
    if (avail > 0) {
      len = Math.min(mss, avail, wndRoom, cwndRoom)
      if (len <= 0) break
      // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): full segments, the tail of the data, or half the largest window.
      if (len < mss && len < avail && len < c.maxSndWnd / 2) break
    } else if (cwndRoom <= 0 || wndRoom < 0) break
    const seq = c.sndNxt
    const used = sendRange(c, env, seq, len)
    if (!c.tsOk && !c.rttTimed && seqGe(seq, c.sndMax)) {
      c.rttTimed = true
      c.rttSeq = seqAdd(seq, used)
      c.rttStart = env.now
    }
    c.sndNxt = seqAdd(seq, used)
    c.sndMax = seqMax(c.sndMax, c.sndNxt)
    if (c.persist) {
      c.persist = false
      c.rtoAt = NONE
    }
    sentNew = true
    if (used === 0) break
  }
  // RFC 6298 §5.1 arms the RTO if it is not running; RFC 8985 §7.2 re-arms the probe timer
  // after new data, so the probe follows the end of the burst.
  if (sentNew && (c.rtoAt === NONE || c.tlpArmed)) armRetransmit(c, env)
  // Persist (RFC 9293 §3.8.6.1): data waits, nothing is in flight, the window lets nothing out.
  const waiting = seqDiff(bufEnd(c), c.sndNxt) > 0 || (c.finQueued && seqLe(c.sndNxt, c.finSeq))
  if (waiting && c.sndNxt === c.sndUna && !c.persist) {
    c.persist = true
    c.persistBackoff = 0
    c.rtoAt = env.now + c.rtt.rto
  }
}

// ---------------------------------------------------------------------------------------------
// Host events

export const onHostConnected = (c: Tcb, env: TcbEnv): void => {
  if (c.state !== "SynReceived" || c.synAckSent || c.activeOpen) return
  c.synAckSent = true
  c.stateAt = NONE
  sendSynAck(c, env)
}

/** Host data: owned by us from now on; pauses the host socket when the buffer reaches the bound. */
export const onHostData = (c: Tcb, env: TcbEnv, data: Uint8Array): void => {
  if (c.finQueued || c.state === "Closed" || c.state === "TimeWait") {
    log(c, env, "debug", `dropped ${data.length} bytes of host data after EOF/close`)
    return
  }
  append(c.sendBuf, data)
  if (c.reading && c.sendBuf.length >= env.config.bufferBytes) {
    c.reading = false
    env.out.push({ _tag: "TcpSetReading", sock: c.sock, reading: false })
  }
  pump(c, env)
}

export const onHostEof = (c: Tcb, env: TcbEnv): void => {
  if (c.finQueued || c.state === "Closed" || c.state === "TimeWait") return
  c.finQueued = true
  c.finSeq = bufEnd(c)
  pump(c, env)
}

/** The host socket took `bytes` more: reopen the window, and tell the guest if it grew enough. */
export const onHostWritten = (c: Tcb, env: TcbEnv, bytes: number): void => {
  c.hostQueued = Math.max(0, c.hostQueued - bytes)
  c.hostInFlight = Math.max(0, c.hostInFlight - bytes)
  if (c.hostInFlight === 0) flushStage(c, env)
  if (!guestMayStillSend(c.state) || !c.synAckSent) return
  const gain = seqDiff(seqAdd(c.rcvNxt, rcvCapacity(c, env)), c.rcvAdvRight)
  const advertised = rcvWnd(c)
  // Window update rule (RFC 9293 §3.8.6.2.2 receiver SWS avoidance, Linux-like thresholds).
  if (gain >= 2 * c.rcvMss || gain >= env.config.bufferBytes / 2 || (advertised < c.rcvMss && gain > 0 && advertised + gain >= c.rcvMss)) {
    sendAck(c, env)
  }
}

/** The host socket failed. Before our SYN-ACK this answers the guest's SYN (libslirp's mapping). */
export const onHostError = (c: Tcb, env: TcbEnv, code: string): void => {
  c.hostOpen = false
  if (c.state === "Closed") return
  if (!c.activeOpen && !c.synAckSent) {
    const icmpCode = code === "ENETUNREACH" || code === "ENETDOWN" ? 0 : code === "EHOSTUNREACH" || code === "EHOSTDOWN" ? 1 : -1
    if (icmpCode >= 0 && c.synOriginal !== undefined) {
      log(c, env, "info", `host connect failed (${code}): ICMP unreachable code ${icmpCode}`)
      env.out.push({ _tag: "IcmpErrorToGuest", src: c.remoteIp, type: 3, code: icmpCode, original: c.synOriginal })
    } else {
      log(c, env, "info", `reset: host connect failed (${code})`)
      // RFC 9293 §3.10.7.1 style answer to the SYN: RST|ACK acknowledging it, seq 0.
      emit(c, env, 0, RST | ACK, undefined)
    }
    toClosed(c)
    return
  }
  abort(c, env, `host socket error ${code}`)
}

/** The host socket is gone. If the guest may still send, its data could not be delivered: reset. */
export const onHostClosed = (c: Tcb, env: TcbEnv): void => {
  const wasOpen = c.hostOpen
  c.hostOpen = false
  if (c.state === "Closed" || c.state === "TimeWait") return
  if (!c.activeOpen && !c.synAckSent) {
    if (wasOpen) onHostError(c, env, "ECONNRESET")
    return
  }
  if (guestMayStillSend(c.state) || c.state === "SynSent") abort(c, env, "host socket closed while the guest may still send")
}

/** Stack shutdown: close the host socket quietly, forget the connection. */
export const onShutdown = (c: Tcb, env: TcbEnv): void => {
  closeHost(c, env, false)
  toClosed(c)
}

// ---------------------------------------------------------------------------------------------
// Timers

/** Re-arms the connection's one runtime timer only if the earliest deadline moved earlier. */
export const armTimer = (c: Tcb, env: TcbEnv): void => {
  const d = Math.min(c.rtoAt, c.delackAt, c.stateAt)
  if (d === NONE) return
  if (c.armedAt === NONE || d < c.armedAt) {
    c.armedAt = d
    env.out.push({ _tag: "SetTimer", timer: c.timerId, at: d as Instant })
  }
}

/** The connection's timer fired: run whatever deadlines are due. */
export const onTimer = (c: Tcb, env: TcbEnv): void => {
  c.armedAt = NONE
  const now = env.now
  if (c.stateAt <= now) {
    c.stateAt = NONE
    switch (c.state) {
      case "TimeWait":
        toClosed(c)
        return
      case "SynReceived":
        if (!c.synAckSent) {
          log(c, env, "info", "reset: host connect timed out")
          closeHost(c, env, true)
          emit(c, env, 0, RST | ACK, undefined)
          toClosed(c)
          return
        }
        break
      case "FinWait2":
        abort(c, env, `FIN_WAIT_2 idle for ${env.config.finWait2TimeoutMs} ms`)
        return
      case "SynSent":
      case "Established":
      case "FinWait1":
      case "CloseWait":
      case "Closing":
      case "LastAck":
      case "Closed":
        break
      default:
        absurdState(c.state)
    }
  }
  if (c.delackAt <= now) {
    c.delackAt = NONE
    if (c.state !== "Closed") sendAck(c, env)
  }
  if (c.rtoAt <= now) {
    c.rtoAt = NONE
    onRetransmitTimeout(c, env)
  }
}

const absurdState = (s: never): void => {
  void s
}

const onRetransmitTimeout = (c: Tcb, env: TcbEnv): void => {
  const cfg = env.config
  if (c.persist) {
    // Window probe: one byte past the window (RFC 9293 §3.8.6.1). Unanswered probes count
    // toward the retransmission limit; any ACK resets the count (processAck).
    if (++c.retries > cfg.maxRetransmits) {
      abort(c, env, `zero-window probes unanswered (${cfg.maxRetransmits})`)
      return
    }
    const probeSeq = c.sndNxt
    if (seqDiff(bufEnd(c), probeSeq) > 0) {
      sendRange(c, env, probeSeq, 1)
      c.sndMax = seqMax(c.sndMax, seqAdd(probeSeq, 1))
    } else if (c.finQueued) {
      sendRange(c, env, probeSeq, 0)
      c.sndMax = seqMax(c.sndMax, seqAdd(probeSeq, 1))
    }
    c.persistBackoff++
    c.rtoAt = env.now + Math.min(cfg.maxPersistMs, c.rtt.rto * 2 ** Math.min(c.persistBackoff, 16))
    return
  }
  if (c.sndUna === c.sndMax) return
  if (c.tlpArmed) {
    c.tlpArmed = false
    c.tlpOut = true
    sendTailProbe(c, env)
    c.rtoAt = env.now + c.rtt.rto
    return
  }
  c.retries++
  const synPhase = c.state === "SynSent" || c.state === "SynReceived"
  const limit = synPhase ? cfg.maxSynRetransmits : cfg.maxRetransmits
  if (c.retries > limit) {
    abort(c, env, `retransmission limit reached (${limit} timeouts, RTO ${Math.round(c.rtt.rto)} ms)`)
    return
  }
  rttBackoff(c.rtt, cfg)
  c.rttTimed = false
  c.tsSampleFloor = tsNow(c, env)
  log(
    c,
    env,
    "debug",
    `retransmission timeout ${c.retries}, RTO now ${Math.round(c.rtt.rto)} ms, ${seqDiff(c.sndMax, c.sndUna)} bytes outstanding, ` +
      `cwnd ${c.cwnd}, ${c.inRecovery ? "in recovery" : "not in recovery"}, ${c.scoreboard.sacked} SACKed in ${c.scoreboard.ranges.length / 2} blocks, ` +
      `window ${c.sndWnd}, dupacks ${c.dupAcks}`,
  )
  if (c.state === "SynSent") sendSyn(c, env)
  else if (c.state === "SynReceived") sendSynAck(c, env)
  else {
    // RFC 5681 §3.1 eq. 4 and RFC 6675 §5.1: collapse the window and go back to SND.UNA.
    const flight = seqDiff(c.sndMax, c.sndUna)
    c.ssthresh = Math.max(Math.floor(flight / 2), 2 * c.sndMss)
    c.cwnd = c.sndMss
    c.inRecovery = false
    c.retransmitNow = false
    c.dupAcks = 0
    clearScoreboard(c.scoreboard)
    c.highRxt = c.sndUna
    c.sndNxt = c.sndUna
    c.rtoAt = NONE
    pump(c, env)
  }
  c.rtoAt = env.now + c.rtt.rto
}

// ---------------------------------------------------------------------------------------------
// Segment arrival (RFC 9293 §3.10.7)

/**
 * Processes one segment from the guest. `payload` is a view into the guest's frame: anything
 * kept is copied.
 */
export const onSegment = (c: Tcb, env: TcbEnv, t: TcpView, payload: Uint8Array): void => {
  switch (c.state) {
    case "Closed":
      return
    case "SynSent":
      onSegmentSynSent(c, env, t, payload)
      break
    case "SynReceived":
      if (!c.synAckSent) {
        onSegmentConnecting(c, env, t)
        return
      }
      onSegmentSynchronized(c, env, t, payload)
      break
    case "Established":
    case "FinWait1":
    case "FinWait2":
    case "CloseWait":
    case "Closing":
    case "LastAck":
    case "TimeWait":
      onSegmentSynchronized(c, env, t, payload)
      break
    default:
      absurdState(c.state)
  }
  finishSegment(c, env)
}

/** After a segment: send what can go, then the ACK it calls for (now or delayed). */
const finishSegment = (c: Tcb, env: TcbEnv): void => {
  if (c.state === "Closed") return
  pump(c, env)
  if (c.ackNow) sendAck(c, env)
  else if (c.ackPendingBytes > 0) {
    // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: ACK at least every second full-sized segment, else within 40 ms.
    if (c.ackPendingBytes >= 2 * (c.rcvMss - (c.tsOk ? TS_OPTION_LEN : 0))) sendAck(c, env)
    else if (c.delackAt === NONE) c.delackAt = env.now + env.config.delayedAckMs
  }
}

/** Passive open, host connect pending: only a RST (abandon) or the guest's SYN again (drop). */
const onSegmentConnecting = (c: Tcb, env: TcbEnv, t: TcpView): void => {
  if ((t.flags & RST) !== 0 && t.seq === c.rcvNxt) {
    log(c, env, "info", "reset: guest reset while the host connect was pending")
    closeHost(c, env, true)
    toClosed(c)
  }
  // A retransmitted SYN (or anything else) waits for the host connect's outcome.
}

/** RFC 9293 §3.10.7.3: SYN-SENT. */
const onSegmentSynSent = (c: Tcb, env: TcbEnv, t: TcpView, payload: Uint8Array): void => {
  const f = t.flags
  if ((f & ACK) !== 0) {
    // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set)."
    if (seqLe(t.ack, c.iss) || seqGt(t.ack, c.sndNxt)) {
      if ((f & RST) === 0) emitRaw(c, env, t.ack, RST, 0)
      return
    }
  }
  if ((f & RST) !== 0) {
    // Only an RST that acknowledges our SYN is acceptable (RFC 5961 §3.2 keeps this rule).
    if ((f & ACK) !== 0) {
      log(c, env, "info", "reset: guest refused the connection (RST in SYN-SENT)")
      closeHost(c, env, true)
      toClosed(c)
    }
    return
  }
  if ((f & SYN) === 0) return
  c.irs = t.seq
  c.rcvNxt = seqAdd(t.seq, 1)
  c.rcvAdvRight = c.rcvNxt
  negotiate(c, env, t)
  if ((f & ACK) !== 0) {
    c.sndUna = t.ack
    c.sndWnd = t.window // unscaled in a SYN (RFC 7323 §2.2)
    c.sndWl1 = t.seq
    c.sndWl2 = t.ack
    c.maxSndWnd = c.sndWnd
    c.retries = 0
    c.rtoAt = NONE
    c.state = "Established"
    c.ackNow = true
    if (payload.length > 0 || (f & FIN) !== 0) receiveText(c, env, seqAdd(t.seq, 1), payload, (f & FIN) !== 0)
    return
  }
  // Simultaneous open (RFC 9293 §3.10.7.3 fourth step): SYN-RECEIVED, answer SYN,ACK.
  c.state = "SynReceived"
  c.sndWnd = t.window
  c.sndWl1 = t.seq
  c.maxSndWnd = t.window
  emit(c, env, c.iss, SYN | ACK, undefined)
}

/** A bare segment outside the connection's usual fields (the RST of RFC 9293 §3.10.7.3). */
const emitRaw = (c: Tcb, env: TcbEnv, seq: number, flags: number, ack: number): void => {
  const header = emitTcpHeader({ srcPort: c.remotePort, dstPort: c.guestPort, seq, ack, flags, window: 0 })
  env.out.push({
    _tag: "Ipv4ToGuest",
    src: c.remoteIp,
    dst: c.guestIp,
    protocol: TCP_PROTOCOL,
    header,
    checksumOffset: TCP_CHECKSUM_OFFSET,
    pseudoHeader: true,
  })
}

/** RFC 9293 §3.10.7.4, the synchronized states (and SYN-RECEIVED after our SYN-ACK). */
const onSegmentSynchronized = (c: Tcb, env: TcbEnv, t: TcpView, payload: Uint8Array): void => {
  const f = t.flags
  const rst = (f & RST) !== 0
  const syn = (f & SYN) !== 0
  const segLen = payload.length + (syn ? 1 : 0) + ((f & FIN) !== 0 ? 1 : 0)

  // SYN-RECEIVED: the guest's SYN again means our SYN-ACK was lost: answer it at once.
  if (c.state === "SynReceived" && syn && !rst && (f & ACK) === 0 && t.seq === c.irs) {
    emit(c, env, c.iss, SYN | ACK, undefined)
    return
  }

  // First: sequence number acceptability (four cases of the table in §3.10.7.4).
  const wnd = rcvWnd(c)
  let acceptable: boolean
  if (segLen === 0) acceptable = wnd === 0 ? t.seq === c.rcvNxt : seqInWindow(t.seq, c.rcvNxt, seqAdd(c.rcvNxt, wnd))
  else if (wnd === 0) acceptable = false
  else {
    const last = seqAdd(t.seq, segLen - 1)
    acceptable = seqInWindow(t.seq, c.rcvNxt, seqAdd(c.rcvNxt, wnd)) || seqInWindow(last, c.rcvNxt, seqAdd(c.rcvNxt, wnd))
  }
  // A zero-window probe or a retransmission of data we have: still process its ACK (RFC 9293
  // "even when the window is zero, ACKs must be processed"), but not its text.
  if (!acceptable) {
    if (!rst) {
      if (c.state === "TimeWait" && (f & FIN) !== 0) c.stateAt = env.now + env.config.timeWaitMs
      if ((f & ACK) !== 0 && !syn && seqLe(t.seq, c.rcvNxt)) processAck(c, env, t, payload.length)
      if (c.state !== "Closed") c.ackNow = true
    }
    return
  }

  // Second: RST (RFC 5961 §3.2): exact match resets, anything else in the window is challenged.
  if (rst) {
    if (t.seq === c.rcvNxt) {
      const why = c.state === "SynReceived" ? "guest reset the connection in SYN-RECEIVED" : `guest reset the connection in ${c.state}`
      if (c.state === "TimeWait") {
        toClosed(c)
        return
      }
      log(c, env, "info", `reset: ${why}`)
      closeHost(c, env, true)
      toClosed(c)
    } else c.ackNow = true // challenge ACK
    return
  }

  // Fourth: SYN in a synchronized state: challenge ACK (RFC 5961 §4.2), never a reset.
  if (syn) {
    c.ackNow = true
    return
  }

  // Fifth: ACK.
  if ((f & ACK) === 0) return
  if (c.state === "SynReceived") {
    if (seqLt(c.sndUna, t.ack) && seqLe(t.ack, c.sndMax)) {
      c.state = "Established"
      c.sndWnd = t.window * 2 ** c.sndWndShift
      c.sndWl1 = t.seq
      c.sndWl2 = t.ack
      c.maxSndWnd = Math.max(c.maxSndWnd, c.sndWnd)
    } else {
      emitRaw(c, env, t.ack, RST, 0)
      return
    }
  }
  if (!processAck(c, env, t, payload.length)) return
  if (c.state === "Closed") return
  if (c.state === "FinWait2") c.stateAt = env.now + env.config.finWait2TimeoutMs

  // RFC 7323 §4.3: remember the guest's TSval of a segment that covers what we last acked.
  if (c.tsOk && t.hasTimestamp && seqLe(t.seq, c.lastAckSent)) c.tsRecent = t.tsVal

  // Seventh and eighth: text and FIN.
  if (payload.length > 0 || (f & FIN) !== 0) receiveText(c, env, t.seq, payload, (f & FIN) !== 0)
}

/**
 * The ACK field of an acceptable segment (RFC 9293 §3.10.7.4 fifth check, RFC 5681/6582/6675
 * for congestion control). Returns false when the segment must be dropped.
 */
const processAck = (c: Tcb, env: TcbEnv, t: TcpView, payloadLen: number): boolean => {
  const ack = t.ack
  if (seqGt(ack, c.sndMax)) {
    // Acknowledges something not yet sent: ACK and drop.
    c.ackNow = true
    return false
  }
  if (seqLt(ack, seqAdd(c.sndUna, -Math.max(c.maxSndWnd, 1)))) {
    // RFC 5961 §5.2: an ACK older than what the guest could still acknowledge is blind
    // injection or an ancient duplicate: challenge ACK and drop.
    c.ackNow = true
    return false
  }
  const wnd = t.window * 2 ** c.sndWndShift
  const mss = c.sndMss
  // Any acceptable ACK while probing shows the guest is alive (Linux resets its probe count too).
  if (c.persist) c.retries = 0
  if (c.sackOk && t.sack !== undefined) {
    for (let i = 0; i + 1 < t.sack.length; i += 2) {
      let l = t.sack[i]!
      const r = t.sack[i + 1]!
      if (!seqGt(r, c.sndUna) || seqGt(r, c.sndMax)) continue // D-SACK or bogus
      if (seqLt(l, c.sndUna)) l = c.sndUna
      addSackRange(c.scoreboard, l, r)
    }
  }
  if (seqGt(ack, c.sndUna)) {
    const acked = seqDiff(ack, c.sndUna)
    // RFC 7661 spirit: grow cwnd only while it limits us, so an idle or window-limited period
    // cannot build a huge burst for the guest's RX ring.
    const cwndLimited = 2 * seqDiff(c.sndNxt, c.sndUna) >= c.cwnd
    if (c.retries > 0) rttResetBackoff(c.rtt, env.config)
    // RTT sample: timestamps (RFC 7323 §4.1) or the Karn-timed segment.
    if (c.tsOk && t.hasTimestamp && t.tsEcr !== 0) {
      const r = (tsNow(c, env) - t.tsEcr) >>> 0
      if (r < 0x7fffffff && seqGe(t.tsEcr, c.tsSampleFloor)) rttSample(c.rtt, r, env.config)
    } else if (c.rttTimed && seqGe(ack, c.rttSeq)) {
      c.rttTimed = false
      rttSample(c.rtt, env.now - c.rttStart, env.config)
    }
    // Release acknowledged data.
    const n = Math.max(0, Math.min(seqDiff(ack, c.bufSeq), c.sendBuf.length))
    if (n > 0) {
      drop(c.sendBuf, n)
      c.bufSeq = seqAdd(c.bufSeq, n)
    }
    c.sndUna = ack
    if (seqGt(ack, c.sndNxt)) c.sndNxt = ack
    trimScoreboard(c.scoreboard, ack)
    c.retries = 0
    c.persist = false
    // Congestion control.
    if (c.inRecovery) {
      if (seqGe(ack, c.recoveryPoint)) {
        c.inRecovery = false
        c.retransmitNow = false
        c.cwnd = Math.max(c.ssthresh, 2 * mss)
        c.dupAcks = 0
      } else if (!c.sackOk || c.scoreboard.ranges.length === 0) {
        // NewReno partial ACK (RFC 6582 §3.2 step 5): the next hole is SND.UNA. Deflate by what
        // was acknowledged beyond the retransmitted segment: the segments that caused the
        // duplicate ACKs are still held by the guest, out of the network.
        c.dupAcks = Math.max(0, c.dupAcks - Math.max(0, Math.floor(acked / mss) - 1))
        c.retransmitNow = true
      }
    } else {
      c.dupAcks = 0
      if (cwndLimited) {
        if (c.cwnd < c.ssthresh) c.cwnd += Math.min(acked, 2 * mss) // RFC 3465 ABC, L = 2
        else c.cwnd += Math.max(1, Math.floor((mss * Math.min(acked, c.cwnd)) / c.cwnd))
        if (c.cwnd > MAX_CWND) c.cwnd = MAX_CWND
      }
    }
    c.tlpOut = false
    armRetransmit(c, env)
    // Resume reading the host once half the bound is free (hysteresis avoids flapping).
    if (!c.reading && c.hostOpen && c.sendBuf.length <= env.config.bufferBytes / 2) {
      c.reading = true
      env.out.push({ _tag: "TcpSetReading", sock: c.sock, reading: true })
    }
    // Our FIN acknowledged?
    if (c.finQueued && seqGt(ack, c.finSeq)) {
      switch (c.state) {
        case "FinWait1":
          c.state = "FinWait2"
          c.stateAt = env.now + env.config.finWait2TimeoutMs
          break
        case "Closing":
          toTimeWait(c, env)
          break
        case "LastAck":
          closeHost(c, env, false)
          toClosed(c)
          return false
        default:
          break
      }
    }
  } else if (
    ack === c.sndUna &&
    payloadLen === 0 &&
    (t.flags & (SYN | FIN)) === 0 &&
    wnd === c.sndWnd &&
    wnd > 0 &&
    !c.persist &&
    seqLt(c.sndUna, c.sndMax)
  ) {
    // A duplicate ACK (RFC 5681 §2 definition).
    c.dupAcks++
  }
  // Window update (RFC 9293 §3.10.7.4: SND.WL1 < SEG.SEQ or (= and SND.WL2 =< SEG.ACK)).
  if (seqLt(c.sndWl1, t.seq) || (c.sndWl1 === t.seq && seqLe(c.sndWl2, ack))) {
    c.sndWnd = wnd
    c.sndWl1 = t.seq
    c.sndWl2 = ack
    if (wnd > c.maxSndWnd) c.maxSndWnd = wnd
    if (wnd > 0 && c.persist) {
      c.persist = false
      armRetransmit(c, env)
    }
  }
  // Loss detection: DupThresh (3) duplicate ACKs or SACKed segments above SND.UNA (RFC 6675
  // IsLost), lowered for a flight of fewer than four segments with nothing more to send
  // (early retransmit, RFC 5827 §3.1).
  const outSegs = Math.ceil(seqDiff(c.sndMax, c.sndUna) / mss)
  const nothingNew = seqDiff(bufEnd(c), c.sndNxt) <= 0
  const dupThresh = nothingNew && outSegs < 4 ? Math.max(1, outSegs - 1) : 3
  // A lost retransmission: the guest SACKs three segments sent after our latest
  // retransmission while a retransmitted hole is still missing. Holes are retransmitted again
  // rather than waiting for the RTO (Linux's lost-retransmit marking; RACK does this in RFC 8985).
  if (c.inRecovery && c.sackOk && c.scoreboard.ranges.length > 0) {
    const sb = c.scoreboard
    if (seqGe(highSacked(sb, c.sndUna), seqAdd(c.rxtMark, 3 * mss)) && holeBytes(sb, c.sndUna, seqMin(c.highRxt, highSacked(sb, c.sndUna))) > 0) {
      c.highRxt = c.sndUna
      c.rxtMark = c.sndMax
      c.retransmitNow = true
    }
  }
  // After a tail loss probe, the guest SACKing the probe means that every hole below it was
  // lost: the probe left a PTO (>> any reordering on a local link) after them (RFC 8985 §7.4
  // lets RACK conclude this; we have no per-segment send times, the probe stands in for them).
  const probeSacked = c.tlpOut && c.sackOk && c.scoreboard.ranges.length > 0 && seqGt(highSacked(c.scoreboard, c.sndUna), c.tlpSeq)
  if (
    !c.inRecovery &&
    !c.persist &&
    seqLt(c.sndUna, c.sndMax) &&
    (c.dupAcks >= dupThresh || (c.sackOk && Math.ceil(c.scoreboard.sacked / mss) >= dupThresh) || probeSacked)
  ) {
    const flight = seqDiff(c.sndMax, c.sndUna)
    c.ssthresh = Math.max(Math.floor(flight / 2), 2 * mss)
    c.cwnd = c.ssthresh
    c.inRecovery = true
    c.recoveryPoint = c.sndMax
    c.highRxt = c.sndUna
    c.retransmitNow = true
    c.rttTimed = false
    if (c.tlpArmed) armRetransmit(c, env) // recovery has begun: the deadline is the RTO again
  }
  return true
}

/** Seventh and eighth steps: the guest's data (trimmed to the window) and its FIN. */
const receiveText = (c: Tcb, env: TcbEnv, seq: number, payload: Uint8Array, finIn: boolean): void => {
  if (!(c.state === "Established" || c.state === "FinWait1" || c.state === "FinWait2")) {
    // After the guest's FIN its text is ignored (RFC 9293 §3.10.7.4 seventh, CLOSE-WAIT etc.);
    // a retransmitted FIN in TIME-WAIT restarts the 2 MSL wait and is acknowledged.
    if (finIn && c.state === "TimeWait") c.stateAt = env.now + env.config.timeWaitMs
    if (finIn || payload.length > 0) c.ackNow = true
    return
  }
  let fin = finIn
  let start = seq
  let data = payload
  const behind = seqDiff(c.rcvNxt, start)
  if (behind > 0) {
    if (behind >= data.length) {
      // Old data; a FIN after it is still new if it sits at RCV.NXT.
      start = seqAdd(start, data.length)
      data = data.subarray(data.length)
      if (!(fin && start === c.rcvNxt)) {
        c.ackNow = true
        return
      }
    } else {
      data = data.subarray(behind)
      start = c.rcvNxt
    }
  }
  const room = seqDiff(seqAdd(c.rcvNxt, rcvWnd(c)), start)
  if (data.length > room) {
    data = data.subarray(0, Math.max(0, room))
    fin = false
  }
  if (data.length > 0) {
    if (!c.hostOpen) {
      abort(c, env, "guest data arrived after the host socket closed")
      return
    }
    if (start === c.rcvNxt) deliverInOrder(c, env, data)
    else {
      storeOutOfOrder(c, start, data)
      c.ackNow = true // RFC 5681 §4.2: an out-of-order segment is acknowledged at once (dup ACK + SACK).
      fin = false // Guests retransmit an out-of-order FIN; we keep no state for it.
    }
  }
  if (fin && seqAdd(start, data.length) === c.rcvNxt) {
    c.rcvNxt = seqAdd(c.rcvNxt, 1)
    c.ackNow = true
    if (c.hostOpen && !c.hostShutdownSent) {
      flushStage(c, env)
      c.hostShutdownSent = true
      env.out.push({ _tag: "TcpShutdownWrite", sock: c.sock })
    }
    switch (c.state) {
      case "Established":
        c.state = "CloseWait"
        break
      case "FinWait1":
        if (c.finQueued && seqGt(c.sndUna, c.finSeq)) toTimeWait(c, env)
        else c.state = "Closing"
        break
      case "FinWait2":
        toTimeWait(c, env)
        break
      default:
        break
    }
  }
}

/**
 * In-order data from the guest toward the host, copied once out of the guest's frame.
 *
 * When no earlier `TcpWrite` is in flight the data goes out at once (no added latency);
 * otherwise it is copied into a staging buffer that leaves as one `TcpWrite` when the host
 * reports the earlier writes done (or the buffer fills, or the guest closes). Under load this
 * turns one host write per segment into one per ~64 KiB. Out-of-order runs the segment makes
 * contiguous join the same write.
 */
const deliverInOrder = (c: Tcb, env: TcbEnv, data: Uint8Array): void => {
  c.rcvNxt = seqAdd(c.rcvNxt, data.length)
  c.hostQueued += data.length
  if (c.ooo.length === 0) {
    c.ackPendingBytes += data.length
    if (c.hostInFlight === 0 && c.staged === 0) {
      c.hostInFlight += data.length
      env.out.push({ _tag: "TcpWrite", sock: c.sock, data: data.slice() })
    } else stageBytes(c, env, data)
    return
  }
  // The segment may fill a hole: take every run that is now contiguous, in one write.
  stageBytes(c, env, data)
  while (c.ooo.length > 0) {
    const s = c.ooo[0]!
    const behind = seqDiff(c.rcvNxt, s.seq)
    if (behind < 0) break
    c.ooo.shift()
    c.oooBytes -= s.data.length
    if (behind < s.data.length) {
      const rest = s.data.subarray(behind)
      stageBytes(c, env, rest)
      c.hostQueued += rest.length
      c.rcvNxt = seqAdd(c.rcvNxt, rest.length)
    }
  }
  c.ackNow = true // a filled hole is acknowledged at once (RFC 5681 §4.2)
  if (c.hostInFlight === 0) flushStage(c, env)
}

/** Size of a staging buffer for guest data waiting for the host socket. */
const STAGE_BYTES = 64 * 1024

const stageBytes = (c: Tcb, env: TcbEnv, bytes: Uint8Array): void => {
  if (c.stage === undefined || c.staged + bytes.length > c.stage.length) {
    flushStage(c, env)
    c.stage = new Uint8Array(Math.max(STAGE_BYTES, bytes.length))
  }
  c.stage.set(bytes, c.staged)
  c.staged += bytes.length
}

/** Hands the staged bytes to the host (the buffer goes with them: the runtime owns it). */
const flushStage = (c: Tcb, env: TcbEnv): void => {
  if (c.staged === 0 || c.stage === undefined) return
  if (c.hostOpen) {
    env.out.push({ _tag: "TcpWrite", sock: c.sock, data: c.stage.subarray(0, c.staged) })
    c.hostInFlight += c.staged
  }
  c.stage = undefined
  c.staged = 0
}

/** Keeps [start, start + data.length) minus what is already queued; copies only the new bytes. */
const storeOutOfOrder = (c: Tcb, start: number, data: Uint8Array): void => {
  c.oooLatest = start
  let s = start
  const e = seqAdd(start, data.length)
  const out: Array<OooSegment> = []
  let i = 0
  const q = c.ooo
  while (i < q.length && seqLe(seqAdd(q[i]!.seq, q[i]!.data.length), s)) out.push(q[i++]!)
  while (seqLt(s, e)) {
    const next = q[i]
    if (next === undefined || seqLe(e, next.seq)) {
      const piece = data.slice(seqDiff(s, start), seqDiff(e, start))
      out.push({ seq: s, data: piece })
      c.oooBytes += piece.length
      s = e
      break
    }
    if (seqLt(s, next.seq)) {
      const piece = data.slice(seqDiff(s, start), seqDiff(next.seq, start))
      out.push({ seq: s, data: piece })
      c.oooBytes += piece.length
    }
    out.push(next)
    i++
    s = seqMax(s, seqAdd(next.seq, next.data.length))
  }
  while (i < q.length) out.push(q[i++]!)
  c.ooo = out
}
