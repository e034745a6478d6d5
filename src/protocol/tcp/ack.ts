/**
 * The ACK field of an acceptable segment (RFC 9293 §3.10.7.4 fifth check): releasing
 * acknowledged data, RTT samples, SACK scoreboard updates, congestion window growth, the send
 * window update, loss detection (duplicate ACKs, SACK, early retransmit, tail loss probe,
 * lost retransmissions) and the FIN-acknowledged transitions. Works on the call's draft of the
 * connection record (tcb.ts): the send buffer, scoreboard and RTT estimate are replaced.
 */
import { closeHost, toClosed, toTimeWait } from "./emit.ts"
import { rttResetBackoff, rttSample } from "./rtt.ts"
import { addSackRange, highSacked, holeBytes, trimScoreboard } from "./sack.ts"
import { drop } from "./send-buffer.ts"
import { armRetransmit } from "./sender.ts"
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMin } from "./seq.ts"
import { MAX_CWND, bufEnd, tsNow, type TcbDraft, type TcbEnv } from "./tcb.ts"
import { FIN, SYN, type TcpView } from "./wire.ts"

/**
 * The ACK field of an acceptable segment (RFC 9293 §3.10.7.4 fifth check, RFC 5681/6582/6675
 * for congestion control). Returns false when the segment must be dropped.
 */
export const processAck = (c: TcbDraft, env: TcbEnv, t: TcpView, payloadLen: number): boolean => {
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
  const wnd = t.window * (1 << c.sndWndShift) // at most 14 (wire.ts clamps): below 2^30
  const mss = c.sndMss
  // Any acceptable ACK while probing shows the guest is alive (Linux resets its probe count too).
  if (c.persist) c.retries = 0
  if (c.sackOk && t.sack !== undefined) {
    for (let i = 0; i + 1 < t.sack.length; i += 2) {
      let l = t.sack[i]!
      const r = t.sack[i + 1]!
      if (!seqGt(r, c.sndUna) || seqGt(r, c.sndMax)) continue // D-SACK or bogus
      if (seqLt(l, c.sndUna)) l = c.sndUna
      c.scoreboard = addSackRange(c.scoreboard, l, r)
    }
  }
  if (seqGt(ack, c.sndUna)) {
    const acked = seqDiff(ack, c.sndUna)
    // RFC 7661 spirit: grow cwnd only while it limits us, so an idle or window-limited period
    // cannot build a huge burst for the guest's RX ring.
    const cwndLimited = 2 * seqDiff(c.sndNxt, c.sndUna) >= c.cwnd
    if (c.retries > 0) c.rtt = rttResetBackoff(c.rtt, env.config)
    // RTT sample: timestamps (RFC 7323 §4.1) or the Karn-timed segment.
    if (c.tsOk && t.hasTimestamp && t.tsEcr !== 0) {
      const r = (tsNow(c, env) - t.tsEcr) >>> 0
      if (r < 0x7fffffff && seqGe(t.tsEcr, c.tsSampleFloor)) c.rtt = rttSample(c.rtt, r, env.config)
    } else if (c.rttTimed && seqGe(ack, c.rttSeq)) {
      c.rttTimed = false
      c.rtt = rttSample(c.rtt, env.now - c.rttStart, env.config)
    }
    // Release acknowledged data.
    const n = Math.max(0, Math.min(seqDiff(ack, c.bufSeq), c.sendBuf.length))
    if (n > 0) {
      c.sendBuf = drop(c.sendBuf, n)
      c.bufSeq = seqAdd(c.bufSeq, n)
    }
    c.sndUna = ack
    if (seqGt(ack, c.sndNxt)) c.sndNxt = ack
    c.scoreboard = trimScoreboard(c.scoreboard, ack)
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
