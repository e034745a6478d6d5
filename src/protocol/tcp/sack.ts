/**
 * SACK bookkeeping (RFC 2018, RFC 6675).
 *
 * Sender side, the scoreboard: what the guest reported holding above SND.UNA, as sorted,
 * disjoint, non-adjacent [left, right) ranges in a flat array. `sacked` is their total size.
 * Receiver side: `sackBlocksFor` builds the blocks we report from the out-of-order queue.
 * Everything here is sequence arithmetic modulo 2^32 (seq.ts).
 *
 * A scoreboard is an immutable value: `addSackRange` and `trimScoreboard` return a new one (or
 * the same one when nothing changes) and never write to the one they were given.
 */
import { seqDiff, seqGt, seqLe, seqLt, seqMax, seqMin } from "./seq.ts"

export interface Scoreboard {
  /** Flat [left0, right0, left1, right1, ...], ascending. */
  readonly ranges: ReadonlyArray<number>
  readonly sacked: number
}

const EMPTY: Scoreboard = Object.freeze({ ranges: Object.freeze([]), sacked: 0 })

export const createScoreboard = (): Scoreboard => EMPTY

/** A scoreboard of freshly built `ranges`, with its total. */
const withRanges = (ranges: ReadonlyArray<number>): Scoreboard => {
  let n = 0
  for (let i = 0; i < ranges.length; i += 2) n += seqDiff(ranges[i + 1]!, ranges[i]!)
  return { ranges, sacked: n }
}

/** Highest SACKed sequence number (right edge), or `fallback` when empty. */
export const highSacked = (sb: Scoreboard, fallback: number): number =>
  sb.ranges.length === 0 ? fallback : sb.ranges[sb.ranges.length - 1]!

/** Adds [l, r) (already clamped to (SND.UNA, SND.MAX]), merging overlaps and neighbours. */
export const addSackRange = (sb: Scoreboard, l: number, r: number): Scoreboard => {
  if (!seqLt(l, r)) return sb
  const out: Array<number> = []
  let nl = l
  let nr = r
  let placed = false
  for (let i = 0; i < sb.ranges.length; i += 2) {
    const a = sb.ranges[i]!
    const b = sb.ranges[i + 1]!
    if (seqLt(b, nl)) out.push(a, b)
    else if (seqLt(nr, a)) {
      if (!placed) {
        out.push(nl, nr)
        placed = true
      }
      out.push(a, b)
    } else {
      nl = seqMin(nl, a)
      nr = seqMax(nr, b)
    }
  }
  if (!placed) out.push(nl, nr)
  return withRanges(out)
}

/** Forgets everything at or below `una` (cumulatively acknowledged). */
export const trimScoreboard = (sb: Scoreboard, una: number): Scoreboard => {
  if (sb.ranges.length === 0 || seqLt(una, sb.ranges[0]!)) return sb
  const out: Array<number> = []
  for (let i = 0; i < sb.ranges.length; i += 2) {
    const a = sb.ranges[i]!
    const b = sb.ranges[i + 1]!
    if (seqLe(b, una)) continue
    out.push(seqMax(a, una), b)
  }
  return out.length === 0 ? EMPTY : withRanges(out)
}

/** Bytes in [from, to) that are not SACKed. */
export const holeBytes = (sb: Scoreboard, from: number, to: number): number => {
  let n = seqDiff(to, from)
  if (n <= 0) return 0
  for (let i = 0; i < sb.ranges.length; i += 2) {
    const a = seqMax(sb.ranges[i]!, from)
    const b = seqMin(sb.ranges[i + 1]!, to)
    if (seqGt(b, a)) n -= seqDiff(b, a)
  }
  return n
}

/**
 * The first un-SACKed range at or after `from` and below the highest SACKed byte, at most
 * `maxLen` long: RFC 6675 NextSeg() rule 1 (every hole below a SACKed block counts as lost,
 * a simplification of IsLost() that retransmits slightly earlier on reordering).
 * Returns [start, length], or undefined when there is no hole below the highest SACKed byte.
 */
export const holeAt = (sb: Scoreboard, from: number, maxLen: number): readonly [number, number] | undefined => {
  let f = from
  for (let i = 0; i < sb.ranges.length; i += 2) {
    const a = sb.ranges[i]!
    const b = sb.ranges[i + 1]!
    if (seqLe(b, f)) continue
    if (seqLt(f, a)) return [f, Math.min(maxLen, seqDiff(a, f))]
    f = b
  }
  return undefined
}

/** One received out-of-order run of the guest's data. */
export interface OooSegment {
  readonly seq: number
  readonly data: Uint8Array
}

/**
 * SACK blocks to report (RFC 2018 §4): the block holding the most recently received segment
 * first, then the others from the highest down, at most `max`. Adjacent runs merge.
 */
export const sackBlocksFor = (ooo: ReadonlyArray<OooSegment>, latest: number, max: number): Array<number> => {
  const blocks: Array<number> = []
  for (const s of ooo) {
    const end = (s.seq + s.data.length) >>> 0
    const n = blocks.length
    if (n > 0 && blocks[n - 1] === s.seq) blocks[n - 1] = end
    else blocks.push(s.seq, end)
  }
  const out: Array<number> = []
  let first = -1
  for (let i = 0; i < blocks.length; i += 2) {
    if (seqLe(blocks[i]!, latest) && seqLt(latest, blocks[i + 1]!)) {
      first = i
      out.push(blocks[i]!, blocks[i + 1]!)
      break
    }
  }
  for (let i = blocks.length - 2; i >= 0 && out.length < 2 * max; i -= 2) {
    if (i !== first) out.push(blocks[i]!, blocks[i + 1]!)
  }
  return out
}
