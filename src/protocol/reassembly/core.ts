/**
 * The family-neutral core of IP fragment reassembly, shared by ipv4/reassembly.ts (RFC 791 §3.2,
 * RFC 815) and ipv6/reassembly.ts (RFC 8200 §4.5): the bounds, the fragment list, the timers.
 * Each family supplies what differs (`ReassemblyRules`): the key, the datagram size limit, the
 * timeout and its timer layer, what it keeps of the first fragment's header (`H`) and how it
 * writes the header of the rebuilt datagram.
 *
 * Strict bounds, because this code has produced CVEs in slirps (libslirp CVE-2019-14378,
 * CVE-2020-1983):
 * - A datagram is dropped whole on an overlapping fragment (RFC 5722, which Linux applies to
 *   IPv4 too), a non-final fragment whose length is not a multiple of 8 or is empty, data past
 *   the family's size limit, two different final fragments, data past the final fragment's
 *   end, more than REASS_MAX_FRAGMENTS fragments, or its timer.
 * - At most REASS_MAX_DATAGRAMS datagrams and REASS_MAX_BYTES bytes are held at once (per
 *   table: IPv4 and IPv6 have one each); a fragment that would exceed either is dropped
 *   (existing datagrams are not evicted, so an attacker cannot push out legitimate partial
 *   datagrams faster than they time out, nor hold more than the bound).
 * - Exact duplicates (same offset and length) are ignored.
 * - Each partial datagram gets a serial number from the table's counter; its timer is
 *   `{ layer: rules.timerLayer, key: serial }` (a timer whose serial is gone is a no-op).
 * - Fragment bytes are copied once (the guest's frame would be ours to keep, but a frame holds
 *   one fragment and the datagram is rebuilt once).
 * Pure: the table is replaced, never written (it holds at most REASS_MAX_DATAGRAMS entries, so
 * it is copied on change).
 */
import type { StackEffect } from "../../effects/effect.ts"
import { type TimerId, type TimerLayer, timerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"

export const REASS_MAX_DATAGRAMS = 32
export const REASS_MAX_BYTES = 1024 * 1024
export const REASS_MAX_FRAGMENTS = 256

interface Fragment {
  readonly offset: number
  readonly data: Uint8Array
}

export interface PartialDatagram<H> {
  /** Sorted by offset, non-overlapping. */
  readonly fragments: ReadonlyArray<Fragment>
  /** Payload length, known once the final fragment arrived. */
  readonly payloadLength: number | undefined
  readonly bytes: number
  /** What the family kept of the first fragment's header, once offset 0 arrived. */
  readonly head: H | undefined
  /** The deadline; a timer firing before it is a stale one from an earlier datagram. */
  readonly expires: Instant
  /** Names this datagram's timer. */
  readonly serial: number
}

export interface ReassemblyTable<H> {
  readonly datagrams: ReadonlyMap<string, PartialDatagram<H>>
  readonly bytes: number
  /** The serial of the next new datagram. */
  readonly nextSerial: number
}

export const emptyTable = <H>(): ReassemblyTable<H> => ({ datagrams: new Map(), bytes: 0, nextSerial: 1 })

/** What a family decides (constant per family: the rules are code, never state). */
export interface ReassemblyRules<H> {
  /** The timers' layer: `reassembly` (IPv4) or `reassembly6`. */
  readonly timerLayer: TimerLayer
  readonly timeoutMs: number
  /** The largest payload offset + length a fragment may reach, and how a log names it. */
  readonly maxEnd: number
  readonly maxEndText: string
  /** The prefix of a datagram's log lines (`ipv4 reassembly KEY`, `ipv6 reassembly`). */
  readonly logName: (key: string) => string
  /** The rebuilt datagram: a fresh buffer with its header written; payload goes at the returned offset. */
  readonly build: (head: H, payloadLength: number) => readonly [Uint8Array, number]
}

/** One fragment as the family hands it over. */
export interface FragmentIn<H> {
  readonly key: string
  readonly offset: number
  readonly more: boolean
  /** The fragment's data: `buf[start, start + length)`, copied if kept. */
  readonly buf: Uint8Array
  readonly start: number
  readonly length: number
  /** On the fragment at offset 0: what to keep of its header (a copy of its own). */
  readonly head: () => H
  /** The sender, for the log line of a full table. */
  readonly from: () => string
}

export type CoreResult<H> = readonly [ReassemblyTable<H>, Uint8Array | undefined, ReadonlyArray<StackEffect>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })

const timerOf = <H>(rules: ReassemblyRules<H>, serial: number): TimerId => timerId(rules.timerLayer, serial)

const without = <H>(rules: ReassemblyRules<H>, s: ReassemblyTable<H>, key: string, why: string | undefined): CoreResult<H> => {
  const d = s.datagrams.get(key)
  if (d === undefined) return [s, undefined, why === undefined ? [] : [debug(`${rules.logName(key)}: ${why}, fragment dropped`)]]
  const datagrams = new Map(s.datagrams)
  datagrams.delete(key)
  const fx: Array<StackEffect> = [{ _tag: "CancelTimer", timer: timerOf(rules, d.serial) }]
  if (why !== undefined) fx.push(debug(`${rules.logName(key)}: ${why}, datagram dropped`))
  return [{ ...s, datagrams, bytes: s.bytes - d.bytes }, undefined, fx]
}

/** Adds one fragment; returns the complete datagram (`rules.build`'s buffer) when done. */
export const addFragmentTo = <H>(rules: ReassemblyRules<H>, s: ReassemblyTable<H>, now: Instant, f: FragmentIn<H>): CoreResult<H> => {
  const { key, offset: off, length: len } = f
  const existing = s.datagrams.get(key)
  if (f.more && (len === 0 || len % 8 !== 0)) return without(rules, s, key, `non-final fragment of ${len} bytes`)
  if (off + len > rules.maxEnd) return without(rules, s, key, `fragment ends at ${off + len}, beyond ${rules.maxEndText}`)
  if (existing === undefined && s.datagrams.size >= REASS_MAX_DATAGRAMS) {
    return [s, undefined, [debug(`${rules.logName(key)}: ${REASS_MAX_DATAGRAMS} datagrams already in progress, fragment from ${f.from()} dropped`)]]
  }
  if (s.bytes + len > REASS_MAX_BYTES) return [s, undefined, [debug(`${rules.logName(key)}: ${REASS_MAX_BYTES} bytes held, fragment dropped`)]]

  const frags = existing?.fragments ?? []
  let payloadLength = existing?.payloadLength
  if (!f.more) {
    if (payloadLength !== undefined && payloadLength !== off + len) return without(rules, s, key, "two different final fragments")
    payloadLength = off + len
  }
  // Find the insertion point and check overlap against the neighbours only (the list is sorted
  // and non-overlapping, so no other fragment can overlap).
  let i = 0
  while (i < frags.length && frags[i]!.offset < off) i++
  const prev = i > 0 ? frags[i - 1] : undefined
  const next = frags[i]
  if (next !== undefined && next.offset === off && next.data.length === len) return [s, undefined, [debug(`${rules.logName(key)}: duplicate fragment at ${off}`)]]
  if ((prev !== undefined && prev.offset + prev.data.length > off) || (next !== undefined && off + len > next.offset)) {
    return without(rules, s, key, `overlapping fragment at ${off}+${len}`)
  }
  if (payloadLength !== undefined) {
    const last = frags[frags.length - 1]
    if (off + len > payloadLength || (last !== undefined && last.offset + last.data.length > payloadLength)) {
      return without(rules, s, key, "fragment beyond the final fragment's end")
    }
  }
  if (frags.length + 1 > REASS_MAX_FRAGMENTS) return without(rules, s, key, `more than ${REASS_MAX_FRAGMENTS} fragments`)

  const data = f.buf.slice(f.start, f.start + len)
  const fragments = [...frags.slice(0, i), { offset: off, data }, ...frags.slice(i)]
  const head = off === 0 ? f.head() : existing?.head
  const d: PartialDatagram<H> = {
    fragments,
    payloadLength,
    bytes: (existing?.bytes ?? 0) + len,
    head,
    expires: existing?.expires ?? addMillis(now, rules.timeoutMs),
    serial: existing?.serial ?? s.nextSerial,
  }
  const datagrams = new Map(s.datagrams)
  datagrams.set(key, d)
  const table: ReassemblyTable<H> = { datagrams, bytes: s.bytes + len, nextSerial: existing === undefined ? (s.nextSerial + 1) >>> 0 : s.nextSerial }
  const armed: ReadonlyArray<StackEffect> = existing === undefined ? [{ _tag: "SetTimer", timer: timerOf(rules, d.serial), at: d.expires }] : []

  // Complete when the fragments cover [0, payloadLength) without a gap.
  if (payloadLength === undefined || head === undefined) return [table, undefined, armed]
  let covered = 0
  for (const x of fragments) {
    if (x.offset !== covered) return [table, undefined, armed]
    covered += x.data.length
  }
  if (covered !== payloadLength) return [table, undefined, armed]
  const [out, at] = rules.build(head, payloadLength)
  for (const x of fragments) out.set(x.data, at + x.offset)
  const [done, , fx] = without(rules, table, key, undefined)
  return [done, out, fx]
}

/** The timer of datagram `serial` fired (a no-op when that datagram is gone or not yet due). */
export const timeoutOf = <H>(rules: ReassemblyRules<H>, s: ReassemblyTable<H>, serial: number, now: Instant): CoreResult<H> => {
  for (const [key, d] of s.datagrams) {
    if (d.serial !== serial) continue
    if (now < d.expires) return [s, undefined, []]
    return without(rules, s, key, `incomplete after ${rules.timeoutMs / 1000} s`)
  }
  return [s, undefined, []]
}

/** The stack shuts down: every datagram's timer is cancelled. */
export const shutdownOf = <H>(rules: ReassemblyRules<H>, s: ReassemblyTable<H>): ReadonlyArray<StackEffect> =>
  [...s.datagrams.values()].map((d): StackEffect => ({ _tag: "CancelTimer", timer: timerOf(rules, d.serial) }))
