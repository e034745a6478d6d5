/**
 * Option negotiation for a read request (RFC 2347): which of the client's options the server
 * accepts, with what values, and what it then uses.
 *
 * - `blksize` (RFC 2348): 8..65464 asked; we answer with the smaller of the asked size and
 *   `maxBlksize` (a block that fits one frame of the guest's link, so no DATA is fragmented).
 *   The server may answer a smaller value than asked (RFC 2348 §2).
 * - `tsize` (RFC 2349): the client sends 0 in a read request; we answer with the file's size.
 * - `timeout` (RFC 2349): 1..255 seconds, answered with the same value and used as our
 *   retransmission interval.
 * A malformed value or an unknown option is left out of the OACK, which is how a server declines
 * it (RFC 2347: "the server should simply omit it"). No options accepted: no OACK at all, the
 * transfer starts with DATA 1 as in RFC 1350.
 * Pure: plain functions of their arguments.
 */
import type { TftpOption } from "./wire.ts"
import { TFTP_DEFAULT_BLKSIZE } from "./wire.ts"

export const BLKSIZE_MIN = 8
export const BLKSIZE_MAX = 65464
export const TIMEOUT_MIN_S = 1
export const TIMEOUT_MAX_S = 255

export interface Negotiated {
  readonly blksize: number
  /** Retransmission interval in ms, when the client asked for one. */
  readonly timeoutMs: number | undefined
  /** The options to send back in an OACK, in the client's order; empty: send no OACK. */
  readonly oack: ReadonlyArray<TftpOption>
}

const decimal = (v: string): number | undefined => (/^\d{1,10}$/.test(v) ? Number(v) : undefined)

/** `size` is the file's size in bytes (for `tsize`); `maxBlksize` the largest block the link takes unfragmented. */
export const negotiate = (asked: ReadonlyArray<TftpOption>, size: number, maxBlksize: number): Negotiated => {
  let blksize = TFTP_DEFAULT_BLKSIZE
  let timeoutMs: number | undefined
  const oack: Array<TftpOption> = []
  for (const [name, value] of asked) {
    const n = decimal(value)
    switch (name) {
      case "blksize":
        if (n === undefined || n < BLKSIZE_MIN || n > BLKSIZE_MAX) break
        blksize = Math.max(BLKSIZE_MIN, Math.min(n, maxBlksize))
        oack.push([name, String(blksize)])
        break
      case "tsize":
        // RFC 2349 §3: "In Read Request packets, a size of "0" is specified".
        if (n !== 0) break
        oack.push([name, String(size)])
        break
      case "timeout":
        if (n === undefined || n < TIMEOUT_MIN_S || n > TIMEOUT_MAX_S) break
        timeoutMs = n * 1000
        oack.push([name, String(n)])
        break
      default:
        break
    }
  }
  return { blksize, timeoutMs, oack }
}
