/**
 * Segments toward the guest (with the window, timestamps and SACK blocks they carry), logging,
 * and the transitions that close a connection (abort with RST, TIME-WAIT, CLOSED) together with
 * the host socket. Every reset is logged with its reason. Works on the call's draft of the
 * connection record (tcb.ts); outputs go to the call's `env.out`. A segment's family is its
 * connection's (the type of its addresses): `tcpPacket` is the one place that says so.
 */
import { logLine, portFlow } from "../flows/log-flow.ts"
import type { PacketToGuest } from "../stack/output.ts"
import { type IpAddress, formatIp } from "../wire/ip-address.ts"
import { flushStage } from "./host-write.ts"
import { sackBlocksFor } from "./sack.ts"
import { seqAdd, seqDiff, seqLt, seqMax } from "./seq.ts"
import { NONE, TS_OPTION_LEN, headerOverhead, rcvCapacity, tsNow, type TcbDraft, type TcbEnv, wscaleFor } from "./tcb.ts"
import { ACK, RST, SYN, TCP_CHECKSUM_OFFSET, TCP_PROTOCOL, emitTcpHeader } from "./wire.ts"

/**
 * A TCP segment for the guest from `src` to `dst` (one family, which their type tells): the IP
 * layer of that family fills the checksum over its pseudo header.
 */
export const tcpPacket = (src: IpAddress, dst: IpAddress, header: Uint8Array, payload: Uint8Array | undefined): PacketToGuest =>
  typeof dst === "number"
    ? { _tag: "PacketToGuest", family: 4, src: src as number, dst, protocol: TCP_PROTOCOL, header, payload, checksumOffset: TCP_CHECKSUM_OFFSET, pseudoHeader: true }
    : { _tag: "PacketToGuest", family: 6, src: src as Uint8Array, dst, protocol: TCP_PROTOCOL, header, payload, checksumOffset: TCP_CHECKSUM_OFFSET, pseudoHeader: true }

/**
 * The window field for a non-SYN segment; moves `rcvAdvRight` (never left, RFC 9293
 * §3.8.6.2.2). The field is rounded up to the scale unit so that the window never appears to
 * shrink, but `rcvAdvRight` records the exact edge and is what we accept up to: the guest may
 * believe in up to 2^shift - 1 more bytes, which we trim, rather than letting the rounding creep
 * past the memory bound one advertisement at a time.
 */
export const windowField = (c: TcbDraft, env: TcbEnv): number => {
  let right = seqAdd(c.rcvNxt, rcvCapacity(c, env))
  // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the right edge moves only by at least
  // min(bound / 2, MSS), so the guest is never invited to send slivers.
  if (seqLt(right, c.rcvAdvRight) || seqDiff(right, c.rcvAdvRight) < Math.min(env.config.bufferBytes / 2, c.rcvMss)) {
    right = seqMax(c.rcvAdvRight, c.rcvNxt)
  }
  const wnd = seqDiff(right, c.rcvNxt)
  const unit = 1 << c.rcvWndShift // shifts are at most 14 (RFC 7323 §2.3): no pow() per segment
  const field = Math.min(0xffff, Math.ceil(wnd / unit))
  c.rcvAdvRight = field === 0xffff ? seqAdd(c.rcvNxt, Math.min(wnd, field * unit)) : right
  return field
}

/**
 * Emits one segment toward the guest. `payload` is a view (of the send buffer) the IP layer
 * copies into the frame. Any segment with ACK clears the pending-ACK state.
 */
export const emit = (c: TcbDraft, env: TcbEnv, seq: number, flags: number, payload: Uint8Array | undefined): void => {
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
    const room = env.mtu - headerOverhead(c.guestIp) - (payload === undefined ? 0 : payload.length) - (tsOn ? TS_OPTION_LEN : 0) - 4
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
  env.out.push(tcpPacket(c.remoteIp, c.guestIp, header, payload))
  if (withAck) c.lastAckSent = c.rcvNxt
  if (withAck && !sackLeftOut) {
    c.ackPendingBytes = 0
    c.ackNow = false
    c.delackAt = NONE
  }
}

export const withAckFlag = (flags: number): boolean => (flags & ACK) !== 0

export const sendSyn = (c: TcbDraft, env: TcbEnv): void => {
  emit(c, env, c.iss, SYN, undefined)
  c.sndNxt = seqAdd(c.iss, 1)
  c.sndMax = seqMax(c.sndMax, c.sndNxt)
  if (c.rtoAt === NONE) c.rtoAt = env.now + c.rtt.rto
}

export const sendSynAck = (c: TcbDraft, env: TcbEnv): void => {
  emit(c, env, c.iss, SYN | ACK, undefined)
  c.sndNxt = seqAdd(c.iss, 1)
  c.sndMax = seqMax(c.sndMax, c.sndNxt)
  if (c.rtoAt === NONE) c.rtoAt = env.now + c.rtt.rto
}

/** A pure ACK (also window updates, duplicate ACKs with SACK, challenge ACKs). */
export const sendAck = (c: TcbDraft, env: TcbEnv): void => emit(c, env, c.sndNxt, ACK, undefined)

export const log = (c: TcbDraft, env: TcbEnv, level: "info" | "debug" | "warn", msg: string): void => {
  env.out.push(logLine(level, `tcp ${describe(c)}: ${msg}`, portFlow("tcp", c.guestIp, c.guestPort, c.remoteIp, c.remotePort)))
}

export const describe = (c: TcbDraft): string =>
  `${formatIp(c.guestIp)}:${c.guestPort}<->${formatIp(c.remoteIp)}:${c.remotePort} sock ${c.sock} ${c.state}`

export const closeHost = (c: TcbDraft, env: TcbEnv, reset: boolean): void => {
  if (!c.hostOpen) return
  if (!reset) flushStage(c, env)
  c.hostOpen = false
  env.out.push(reset ? { _tag: "TcpReset", sock: c.sock } : { _tag: "SocketClose", sock: c.sock })
}

/** Abort: RST to the guest (if it knows us), reset the host socket, log why (RFC 9293 §3.10.5). */
export const abort = (c: TcbDraft, env: TcbEnv, reason: string): void => {
  if (c.state === "Closed") return
  log(c, env, "info", `reset: ${reason}`)
  const guestKnowsUs = c.synAckSent && c.state !== "TimeWait"
  if (guestKnowsUs) emit(c, env, c.sndNxt, c.state === "SynSent" ? RST : RST | ACK, undefined)
  closeHost(c, env, true)
  toClosed(c)
}

export const toClosed = (c: TcbDraft): void => {
  c.stage = []
  c.staged = 0
  c.state = "Closed"
  c.rtoAt = NONE
  c.delackAt = NONE
  c.stateAt = NONE
  c.ooo = []
  c.oooBytes = 0
}

export const toTimeWait = (c: TcbDraft, env: TcbEnv): void => {
  c.state = "TimeWait"
  c.rtoAt = NONE
  c.persist = false
  c.stateAt = env.now + env.config.timeWaitMs
  // Everything the guest sent has been handed to the host: the socket can close now.
  closeHost(c, env, false)
}

/** A bare segment outside the connection's usual fields (the RST of RFC 9293 §3.10.7.3). */
export const emitRaw = (c: TcbDraft, env: TcbEnv, seq: number, flags: number, ack: number): void => {
  const header = emitTcpHeader({ srcPort: c.remotePort, dstPort: c.guestPort, seq, ack, flags, window: 0 })
  env.out.push(tcpPacket(c.remoteIp, c.guestIp, header, undefined))
}
