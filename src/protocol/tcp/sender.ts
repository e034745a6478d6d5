/**
 * Data toward the guest: what to send next (new data, FIN, or holes during loss recovery),
 * congestion control (NewReno, RFC 5681/6582, with SACK recovery, RFC 6675), limited transmit
 * (RFC 3042), the retransmission timer (RFC 6298) with a tail loss probe (RFC 8985 §7), and
 * zero-window probing (RFC 9293 §3.8.6.1). Works on the call's draft of the connection record
 * (tcb.ts); segments carry views of the send buffer's chunks.
 */
import { abort, emit, log, sendSyn, sendSynAck } from "./emit.ts"
import { rttBackoff } from "./rtt.ts"
import { createScoreboard, highSacked, holeAt, holeBytes } from "./sack.ts"
import { read } from "./send-buffer.ts"
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from "./seq.ts"
import { NONE, TLP_MIN_MS, bufEnd, synchronizedSender, tsNow, type TcbDraft, type TcbEnv } from "./tcb.ts"
import { ACK, FIN, PSH } from "./wire.ts"

/** Sends [seq, seq + len) of the buffer, with FIN when it ends at `finSeq`; returns sequence space used. */
export const sendRange = (c: TcbDraft, env: TcbEnv, seq: number, len: number): number => {
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

/** RFC 6675 pipe (in recovery) or the bytes outstanding. */
export const pipe = (c: TcbDraft): number => {
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
export const nextHole = (c: TcbDraft): readonly [number, number] | undefined => {
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
export const armRetransmit = (c: TcbDraft, env: TcbEnv): void => {
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
export const sendTailProbe = (c: TcbDraft, env: TcbEnv): void => {
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
export const pump = (c: TcbDraft, env: TcbEnv): void => {
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

export const onRetransmitTimeout = (c: TcbDraft, env: TcbEnv): void => {
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
  c.rtt = rttBackoff(c.rtt, cfg)
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
    c.scoreboard = createScoreboard()
    c.highRxt = c.sndUna
    c.sndNxt = c.sndUna
    c.rtoAt = NONE
    pump(c, env)
  }
  c.rtoAt = env.now + c.rtt.rto
}
