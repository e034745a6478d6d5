/**
 * Retransmission timeout estimation, RFC 6298 §2 (alpha 1/8, beta 1/4, K 4), with the RTO
 * clamped to [minRtoMs, maxRtoMs]. Samples come from timestamps (RFC 7323 §4) or from one timed
 * segment at a time (Karn's rule: never from a retransmitted segment).
 *
 * An estimate is an immutable value: every function returns a new one and never writes to the
 * estimate it was given, so a connection record that shares it with an older record can hold it.
 */
import type { TcpConfig } from "./config.ts"

export interface RttEstimate {
  readonly srtt: number
  readonly rttvar: number
  /** Current RTO in ms, including backoff. */
  readonly rto: number
  readonly hasSample: boolean
}

/** Clock granularity G (ms): our `now` is fractional, but timestamps tick in whole ms. */
const G = 1

export const rttInit = (cfg: TcpConfig): RttEstimate => ({ srtt: 0, rttvar: 0, rto: cfg.initialRtoMs, hasSample: false })

/** RFC 6298 §2.2 / §2.3: folds the sample `r` (ms) in and recomputes the RTO (dropping backoff). */
export const rttSample = (e: RttEstimate, r: number, cfg: TcpConfig): RttEstimate => {
  const srtt = e.hasSample ? 0.875 * e.srtt + 0.125 * r : r
  const rttvar = e.hasSample ? 0.75 * e.rttvar + 0.25 * Math.abs(e.srtt - r) : r / 2
  return { srtt, rttvar, rto: Math.min(cfg.maxRtoMs, Math.max(cfg.minRtoMs, srtt + Math.max(G, 4 * rttvar))), hasSample: true }
}

/**
 * Forward progress (an ACK of new data) drops the backoff: the RTO returns to the estimate
 * (or the initial RTO without one). RFC 6298 keeps a backed-off RTO until the next sample,
 * but when every segment in flight is a retransmission Karn's rule allows no sample, and
 * without timestamps the RTO would stay at its ceiling for the rest of the connection.
 */
export const rttResetBackoff = (e: RttEstimate, cfg: TcpConfig): RttEstimate => ({
  ...e,
  rto: e.hasSample ? Math.min(cfg.maxRtoMs, Math.max(cfg.minRtoMs, e.srtt + Math.max(G, 4 * e.rttvar))) : cfg.initialRtoMs,
})

/** RFC 6298 §5.5: back off on timeout. */
export const rttBackoff = (e: RttEstimate, cfg: TcpConfig): RttEstimate => ({ ...e, rto: Math.min(cfg.maxRtoMs, e.rto * 2) })
