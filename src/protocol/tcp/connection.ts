/**
 * The per-connection reducer's entry points (RFC 9293 §3.10): segments from the guest (by
 * state: host connect pending, SYN-SENT, synchronized), host socket events, and the one runtime
 * timer. Both directions of open: passive (the guest's SYN; the SYN-ACK waits for the host
 * connect) and active (hostfwd: our SYN from SYN-SENT).
 *
 * Toward the guest: RFC 6298 RTO with backoff (dropped on forward progress), NewReno with SACK
 * loss recovery, limited transmit, early retransmit, a tail loss probe and lost-retransmission
 * detection, zero-window probing, sender SWS avoidance. From the guest: out-of-order queue with
 * SACK blocks, delayed ACK (every second full segment or 40 ms), receiver SWS avoidance, a
 * window that is what the memory bound leaves after bytes the host has not yet taken. Not
 * implemented: keep-alive, PAWS (RFC 7323 §5), urgent data (treated as ordinary data), ECN.
 *
 * Never throws on guest input: anything unacceptable is dropped (with an ACK where RFC 9293
 * asks for one). Every function here works on the call's draft of the connection record
 * (tcb.ts): it assigns the draft's fields and replaces, never writes, the values they hold.
 */
import { absurd } from "../../effects/absurd.ts"
import type { Instant } from "../../effects/instant.ts"
import { errorToGuest } from "../stack/output.ts"
import { processAck } from "./ack.ts"
import { abort, closeHost, emit, emitRaw, log, sendAck, sendSyn, sendSynAck, toClosed } from "./emit.ts"
import { flushStage } from "./host-write.ts"
import { receiveText } from "./receiver.ts"
import { append } from "./send-buffer.ts"
import { onRetransmitTimeout, pump } from "./sender.ts"
import { seqAdd, seqDiff, seqGt, seqInWindow, seqLe, seqLt } from "./seq.ts"
import { NONE, TS_OPTION_LEN, blank, bufEnd, guestMayStillSend, negotiate, rcvCapacity, rcvWnd, type ActiveOpen, type PassiveOpen, type TcbDraft, type TcbEnv } from "./tcb.ts"
import { ACK, FIN, RST, SYN, type TcpView } from "./wire.ts"

/**
 * The guest's SYN arrived and the layer has asked the host to connect (RFC 9293 §3.10.7.2,
 * LISTEN + SYN). The SYN-ACK waits for `onHostConnected`; the guest's retransmitted SYNs are
 * dropped meanwhile, and `connectTimeoutMs` bounds the wait.
 */
export const createPassive = (p: PassiveOpen, env: TcbEnv): TcbDraft => {
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

/**
 * A host client connected to a forwarded port: open toward the guest (RFC 9293 §3.10.1, active
 * OPEN). A guest that never answers (its port filtered, or no guest on the link) is given up
 * after `connectTimeoutMs`, as a host connect is (BSD's KEEP_INIT, libslirp's bound too), and the
 * host client is reset, rather than left waiting out every SYN retransmission.
 */
export const createActive = (p: ActiveOpen, env: TcbEnv): TcbDraft => {
  const c = blank(env, p.sock, p.guestIp, p.guestPort, p.remoteIp, p.remotePort, true, p.iss, p.tsOffset, undefined)
  c.synAckSent = true
  c.stateAt = env.now + env.config.connectTimeoutMs
  sendSyn(c, env)
  armTimer(c, env)
  return c
}

export const onHostConnected = (c: TcbDraft, env: TcbEnv): void => {
  if (c.state !== "SynReceived" || c.synAckSent || c.activeOpen) return
  c.synAckSent = true
  c.stateAt = NONE
  sendSynAck(c, env)
}

/** Host data: kept as a view in the send buffer (nobody writes it after the event); pauses the host socket when the buffer reaches the bound. */
export const onHostData = (c: TcbDraft, env: TcbEnv, data: Uint8Array): void => {
  if (c.finQueued || c.state === "Closed" || c.state === "TimeWait") {
    log(c, env, "debug", `dropped ${data.length} bytes of host data after EOF/close`)
    return
  }
  c.sendBuf = append(c.sendBuf, data)
  if (c.reading && c.sendBuf.length >= env.config.bufferBytes) {
    c.reading = false
    env.out.push({ _tag: "TcpSetReading", sock: c.sock, reading: false })
  }
  pump(c, env)
}

export const onHostEof = (c: TcbDraft, env: TcbEnv): void => {
  if (c.finQueued || c.state === "Closed" || c.state === "TimeWait") return
  c.finQueued = true
  c.finSeq = bufEnd(c)
  pump(c, env)
}

/** The host socket took `bytes` more: reopen the window, and tell the guest if it grew enough. */
export const onHostWritten = (c: TcbDraft, env: TcbEnv, bytes: number): void => {
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
export const onHostError = (c: TcbDraft, env: TcbEnv, code: string): void => {
  c.hostOpen = false
  if (c.state === "Closed") return
  if (!c.activeOpen && !c.synAckSent) {
    const reason = code === "ENETUNREACH" || code === "ENETDOWN" ? "net" : code === "EHOSTUNREACH" || code === "EHOSTDOWN" ? "host" : undefined
    if (reason !== undefined && c.synOriginal !== undefined) {
      log(c, env, "info", `host connect failed (${code}): ICMP${typeof c.guestIp === "number" ? "" : "v6"} ${reason} unreachable`)
      env.out.push(errorToGuest(c.remoteIp, reason, c.synOriginal))
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
export const onHostClosed = (c: TcbDraft, env: TcbEnv): void => {
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
export const onShutdown = (c: TcbDraft, env: TcbEnv): void => {
  closeHost(c, env, false)
  toClosed(c)
}

/** Re-arms the connection's one runtime timer only if the earliest deadline moved earlier. */
export const armTimer = (c: TcbDraft, env: TcbEnv): void => {
  const d = Math.min(c.rtoAt, c.delackAt, c.stateAt)
  if (d === NONE) return
  if (c.armedAt === NONE || d < c.armedAt) {
    c.armedAt = d
    env.out.push({ _tag: "SetTimer", timer: c.timerId, at: d as Instant })
  }
}

/** The connection's timer fired: run whatever deadlines are due. */
export const onTimer = (c: TcbDraft, env: TcbEnv): void => {
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
        abort(c, env, `no answer from the guest within ${env.config.connectTimeoutMs} ms`)
        return
      case "Established":
      case "FinWait1":
      case "CloseWait":
      case "Closing":
      case "LastAck":
      case "Closed":
        break
      default:
        absurd(c.state)
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

/**
 * Processes one segment from the guest. `payload` is a view into the guest's frame; what is
 * kept of it (out-of-order runs, staged host writes) stays a view, never written.
 */
export const onSegment = (c: TcbDraft, env: TcbEnv, t: TcpView, payload: Uint8Array): void => {
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
      absurd(c.state)
  }
  finishSegment(c, env)
}

/** After a segment: send what can go, then the ACK it calls for (now or delayed). */
export const finishSegment = (c: TcbDraft, env: TcbEnv): void => {
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
export const onSegmentConnecting = (c: TcbDraft, env: TcbEnv, t: TcpView): void => {
  if ((t.flags & RST) !== 0 && t.seq === c.rcvNxt) {
    log(c, env, "info", "reset: guest reset while the host connect was pending")
    closeHost(c, env, true)
    toClosed(c)
  }
  // A retransmitted SYN (or anything else) waits for the host connect's outcome.
}

/** RFC 9293 §3.10.7.3: SYN-SENT. */
export const onSegmentSynSent = (c: TcbDraft, env: TcbEnv, t: TcpView, payload: Uint8Array): void => {
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
    c.stateAt = NONE
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

/** RFC 9293 §3.10.7.4, the synchronized states (and SYN-RECEIVED after our SYN-ACK). */
export const onSegmentSynchronized = (c: TcbDraft, env: TcbEnv, t: TcpView, payload: Uint8Array): void => {
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
      c.sndWnd = t.window * (1 << c.sndWndShift)
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
