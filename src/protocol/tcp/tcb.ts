/**
 * One TCP connection between the guest and a host socket: the transmission control block, its
 * construction from a SYN (passive) or for an active open, and small derived quantities.
 *
 * We are a TCP endpoint toward the guest and a socket user toward the host. The reducer is
 * split by concern: connection.ts (the entry points: segments, host events, timers), ack.ts
 * (the ACK field), receiver.ts (guest data), sender.ts (data toward the guest, loss recovery,
 * timers), emit.ts (building segments, closing), host-write.ts (staging guest data for the host).
 *
 * State flow: a `Tcb` stored in the layer's table is immutable. Each entry point of the layer
 * makes one fresh working copy of it (`draftOf`: a shallow `{ ...c }`, the `TcbDraft`), runs the
 * rule functions on that draft (they assign its fields and push outputs to `env.out`, an array
 * made for the call), and stores the draft as the new record. The draft shares its
 * sub-structures with the old record: the send buffer, the out-of-order queue, the SACK
 * scoreboard, the RTT estimate and the staged host writes are immutable values that the rules
 * replace (assign a new value to the draft's field) and never write. Payload bytes are views:
 * of the host's data in the send buffer, of the guest's frames in the out-of-order queue and in
 * the staged writes; nobody writes them once received. One copy of ~60 scalar fields per event
 * is the whole cost of keeping every older record valid.
 */
import { type SocketId, type TimerId, timerId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import type { LayerOutput } from "../stack/output.ts"
import type { IpAddress } from "../wire/ip-address.ts"
import type { TcpConfig } from "./config.ts"
import { rttInit, type RttEstimate } from "./rtt.ts"
import { createScoreboard, type OooSegment, type Scoreboard } from "./sack.ts"
import { createSendBuffer, type SendBuffer } from "./send-buffer.ts"
import { seqAdd, seqDiff } from "./seq.ts"
import { MAX_WSCALE, type TcpView } from "./wire.ts"

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

/** What a reducer call needs from the world. Outputs are appended to `out`, an array made for this call. */
export interface TcbEnv {
  readonly now: Instant
  readonly mtu: number
  readonly config: TcpConfig
  readonly out: Array<LayerOutput>
}

/** No deadline. */
export const NONE = Infinity

/** RFC 9293 §3.7.1 default when the guest sends no MSS option. */
export const DEFAULT_MSS = 536

export const TS_OPTION_LEN = 12

/** Floor of the tail loss probe timeout (RFC 8985 §7.2 suggests 2 * SRTT; the link RTT is tiny). */
export const TLP_MIN_MS = 10

/** Upper bound on cwnd, bytes: far above any window we can be offered, keeps arithmetic small. */
export const MAX_CWND = 64 * 1024 * 1024

/**
 * The working copy of a connection record inside one reducer call: fields are assigned, never
 * the objects they point to (those are immutable values, replaced on change).
 */
export interface TcbDraft {
  state: TcpState
  readonly sock: SocketId
  readonly timerId: TimerId
  /**
   * The guest end (the peer of our TCP) and the far end we impersonate, of one family: IPv4
   * numbers or IPv6 16-byte arrays (our own copies, never views of a guest frame).
   */
  readonly guestIp: IpAddress
  readonly guestPort: number
  readonly remoteIp: IpAddress
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
  sendBuf: SendBuffer
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
  /** Out-of-order guest data, sorted, disjoint: views of the guest's frames. */
  ooo: ReadonlyArray<OooSegment>
  oooBytes: number
  oooLatest: number
  /** Guest bytes not yet reported by `HostTcpWritten`: staged plus in flight. */
  hostQueued: number
  /** Bytes handed over in `TcpWrite` and not yet reported by `HostTcpWritten`. */
  hostInFlight: number
  /** In-order guest data waiting for the earlier writes (see `deliverInOrder`): views, in order. */
  stage: ReadonlyArray<Uint8Array>
  /** Bytes in `stage`. */
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
  rtt: RttEstimate
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
  scoreboard: Scoreboard

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

/** A connection record as stored in the layer's table: never written. */
export type Tcb = Readonly<TcbDraft>

/**
 * The one working copy an entry point makes of a stored record. Written out field by field (in
 * the order of `blank`, so every record shares one shape): this takes ~70-110 ns where
 * `{ ...c }` of 71 fields took ~200 ns (measured, Node 24, loaded machine), a tenth of a
 * segment's whole cost through the stack. The type checker keeps the list complete (a missing or unknown
 * field does not compile).
 */
export const draftOf = (c: Tcb): TcbDraft => ({
  state: c.state,
  sock: c.sock,
  timerId: c.timerId,
  guestIp: c.guestIp,
  guestPort: c.guestPort,
  remoteIp: c.remoteIp,
  remotePort: c.remotePort,
  activeOpen: c.activeOpen,
  iss: c.iss,
  sndUna: c.sndUna,
  sndNxt: c.sndNxt,
  sndMax: c.sndMax,
  sndWnd: c.sndWnd,
  sndWl1: c.sndWl1,
  sndWl2: c.sndWl2,
  maxSndWnd: c.maxSndWnd,
  sndWndShift: c.sndWndShift,
  sndMss: c.sndMss,
  sendBuf: c.sendBuf,
  bufSeq: c.bufSeq,
  finQueued: c.finQueued,
  finSeq: c.finSeq,
  irs: c.irs,
  rcvNxt: c.rcvNxt,
  rcvWndShift: c.rcvWndShift,
  rcvAdvRight: c.rcvAdvRight,
  rcvMss: c.rcvMss,
  ooo: c.ooo,
  oooBytes: c.oooBytes,
  oooLatest: c.oooLatest,
  hostQueued: c.hostQueued,
  hostInFlight: c.hostInFlight,
  stage: c.stage,
  staged: c.staged,
  sackOk: c.sackOk,
  tsOk: c.tsOk,
  wsOk: c.wsOk,
  tsRecent: c.tsRecent,
  tsOffset: c.tsOffset,
  lastAckSent: c.lastAckSent,
  tsSampleFloor: c.tsSampleFloor,
  rtt: c.rtt,
  rttSeq: c.rttSeq,
  rttTimed: c.rttTimed,
  rttStart: c.rttStart,
  retries: c.retries,
  persist: c.persist,
  persistBackoff: c.persistBackoff,
  cwnd: c.cwnd,
  ssthresh: c.ssthresh,
  dupAcks: c.dupAcks,
  inRecovery: c.inRecovery,
  recoveryPoint: c.recoveryPoint,
  highRxt: c.highRxt,
  retransmitNow: c.retransmitNow,
  rxtMark: c.rxtMark,
  tlpArmed: c.tlpArmed,
  tlpOut: c.tlpOut,
  tlpSeq: c.tlpSeq,
  scoreboard: c.scoreboard,
  ackPendingBytes: c.ackPendingBytes,
  ackNow: c.ackNow,
  rtoAt: c.rtoAt,
  delackAt: c.delackAt,
  stateAt: c.stateAt,
  armedAt: c.armedAt,
  synAckSent: c.synAckSent,
  hostOpen: c.hostOpen,
  hostShutdownSent: c.hostShutdownSent,
  reading: c.reading,
  synOriginal: c.synOriginal,
})

export interface PassiveOpen {
  readonly sock: SocketId
  readonly guestIp: IpAddress
  readonly remoteIp: IpAddress
  /** The guest's SYN. */
  readonly syn: TcpView
  readonly synOriginal: Uint8Array
  readonly iss: number
  readonly tsOffset: number
}

export interface ActiveOpen {
  readonly sock: SocketId
  readonly guestIp: IpAddress
  readonly guestPort: number
  readonly remoteIp: IpAddress
  readonly remotePort: number
  readonly iss: number
  readonly tsOffset: number
}

/**
 * IP + TCP header bytes without options of a connection's segments: 40 over IPv4, 60 over IPv6
 * (RFC 8200's fixed 40-byte header; we send no extension headers). The guest's address type
 * tells the family.
 */
export const headerOverhead = (guestIp: IpAddress): number => (typeof guestIp === "number" ? 40 : 60)

/** Our MSS for a guest link MTU and a connection's family (RFC 9293 §3.7.1; RFC 8200 §8.3: MTU - 60). */
export const mssForMtu = (mtu: number, guestIp: IpAddress): number => Math.max(88, Math.min(mtu - headerOverhead(guestIp), 65495))

/** The smallest window shift that lets `bytes` be advertised (RFC 7323 §2.2). */
export const wscaleFor = (bytes: number): number => {
  let s = 0
  while (s < MAX_WSCALE && 0xffff * 2 ** s < bytes) s++
  return s
}

export const blank = (
  env: TcbEnv,
  sock: SocketId,
  guestIp: IpAddress,
  guestPort: number,
  remoteIp: IpAddress,
  remotePort: number,
  activeOpen: boolean,
  iss: number,
  tsOffset: number,
  synOriginal: Uint8Array | undefined,
): TcbDraft => {
  const mss = mssForMtu(env.mtu, guestIp)
  return {
    state: activeOpen ? "SynSent" : "SynReceived",
    sock,
    timerId: timerId("tcp", sock),
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
    stage: [],
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
 * Records the options of the guest's SYN (passive) or SYN-ACK (active). In both directions an
 * option is on only if the guest sent it: passively we answer only what was offered, actively
 * we offered everything.
 */
export const negotiate = (c: TcbDraft, env: TcbEnv, t: TcpView): void => {
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
  c.sndMss = Math.max(1, Math.min(guestMss, mssForMtu(env.mtu, c.guestIp)) - (c.tsOk ? TS_OPTION_LEN : 0))
}

export const tsNow = (c: Tcb, env: TcbEnv): number => (Math.floor(env.now) + c.tsOffset) >>> 0

/** The window we can offer now: what the bound leaves after bytes still queued to the host. */
export const rcvCapacity = (c: Tcb, env: TcbEnv): number => Math.max(0, env.config.bufferBytes - c.hostQueued)

/** Bytes of the guest's data we accept beyond RCV.NXT (what we last advertised). */
export const rcvWnd = (c: Tcb): number => Math.max(0, seqDiff(c.rcvAdvRight, c.rcvNxt))

export const guestMayStillSend = (s: TcpState): boolean =>
  s === "SynReceived" || s === "Established" || s === "FinWait1" || s === "FinWait2"

export const bufEnd = (c: Tcb): number => seqAdd(c.bufSeq, c.sendBuf.length)

export const synchronizedSender = (s: TcpState): boolean =>
  s === "Established" || s === "CloseWait" || s === "FinWait1" || s === "Closing" || s === "LastAck"
