/**
 * IPv4 fragment reassembly (RFC 791 §3.2, RFC 815) with strict bounds, because this code has
 * produced CVEs in libslirp (CVE-2019-14378, CVE-2020-1983).
 *
 * Contract:
 * - A datagram is dropped whole, with a debug log, on: overlap with a different fragment
 *   (RFC 5722's rule, which Linux also applies to IPv4), a non-final fragment whose length is
 *   not a multiple of 8 or is empty, a reassembled size over 65535 bytes, two different final
 *   fragments, too many fragments, or its 30 s timer.
 * - At most REASS_MAX_DATAGRAMS datagrams and REASS_MAX_BYTES bytes are held at once; a fragment
 *   that would exceed either is dropped (existing datagrams are not evicted: an attacker cannot
 *   push out legitimate partial datagrams faster than they time out... nor can they hold more
 *   than the bound).
 * - Exact duplicates (same offset and length) are ignored.
 * - Each partial datagram gets a serial number from the state's counter; its timer is
 *   `{ layer: "reassembly", key: serial }` (a timer whose serial is gone is a no-op).
 * - The fragment's view into the guest's frame would be ours to keep (FrameFromGuest), but the
 *   bytes are copied anyway: a frame holds one fragment, the datagram is rebuilt once.
 * Pure: the state is replaced, never written (the table holds at most REASS_MAX_DATAGRAMS
 * entries, so it is copied on change).
 */
import type { StackEffect } from "../../effects/effect.ts"
import { timerId, type TimerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"
import { formatIpv4 } from "../wire/ipv4-address.ts"
import { IPV4_HEADER_LEN, IPV4_MAX_DATAGRAM, type Ipv4View, writeIpv4Header } from "./wire.ts"

export const REASS_TIMEOUT_MS = 30_000
export const REASS_MAX_DATAGRAMS = 32
export const REASS_MAX_BYTES = 1024 * 1024
export const REASS_MAX_FRAGMENTS = 256

interface Fragment {
  readonly offset: number
  readonly data: Uint8Array
}

interface PartialDatagram {
  /** Sorted by offset, non-overlapping. */
  readonly fragments: ReadonlyArray<Fragment>
  /** Payload length, known once the final fragment (MF=0) arrived. */
  readonly payloadLength: number | undefined
  readonly bytes: number
  /** Fields of the first fragment's header, kept once offset 0 arrives. */
  readonly first: Ipv4View | undefined
  readonly tos: number
  readonly ttl: number
  /** The 30 s deadline; a timer firing before it is a stale one from an earlier datagram. */
  readonly expires: Instant
  /** Names this datagram's timer. */
  readonly serial: number
}

export interface ReassemblyState {
  /** Keyed by RFC 791's (source, destination, protocol, identification). */
  readonly datagrams: ReadonlyMap<string, PartialDatagram>
  readonly bytes: number
  /** The serial of the next new datagram. */
  readonly nextSerial: number
}

export const emptyReassembly: ReassemblyState = { datagrams: new Map(), bytes: 0, nextSerial: 1 }

const keyOf = (ip: Ipv4View) => `${ip.src}:${ip.dst}:${ip.protocol}:${ip.id}`
export const reassemblyTimer = (serial: number): TimerId => timerId("reassembly", serial)

export type ReassemblyResult = readonly [ReassemblyState, Uint8Array | undefined, ReadonlyArray<StackEffect>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })

const without = (s: ReassemblyState, key: string, why: string | undefined): ReassemblyResult => {
  const d = s.datagrams.get(key)
  if (d === undefined) return [s, undefined, why === undefined ? [] : [debug(`ipv4 reassembly ${key}: ${why}, fragment dropped`)]]
  const datagrams = new Map(s.datagrams)
  datagrams.delete(key)
  const fx: Array<StackEffect> = [{ _tag: "CancelTimer", timer: reassemblyTimer(d.serial) }]
  if (why !== undefined) fx.push(debug(`ipv4 reassembly ${key}: ${why}, datagram dropped`))
  return [{ ...s, datagrams, bytes: s.bytes - d.bytes }, undefined, fx]
}

/** Adds one fragment; returns the complete datagram (a fresh buffer, IP header at 0) when done. */
export const addFragment = (s: ReassemblyState, now: Instant, ip: Ipv4View): ReassemblyResult => {
  const key = keyOf(ip)
  const len = ip.payloadLength
  const off = ip.fragmentOffset
  const existing = s.datagrams.get(key)
  if (ip.moreFragments && (len === 0 || len % 8 !== 0)) return without(s, key, `non-final fragment of ${len} bytes`)
  if (IPV4_HEADER_LEN + off + len > IPV4_MAX_DATAGRAM) return without(s, key, `fragment ends at ${off + len}, beyond 65535`)
  if (existing === undefined) {
    if (s.datagrams.size >= REASS_MAX_DATAGRAMS) return [s, undefined, [debug(`ipv4 reassembly: ${REASS_MAX_DATAGRAMS} datagrams already in progress, fragment from ${formatIpv4(ip.src)} dropped`)]]
  }
  if (s.bytes + len > REASS_MAX_BYTES) return [s, undefined, [debug(`ipv4 reassembly: ${REASS_MAX_BYTES} bytes held, fragment dropped`)]]

  const frags = existing?.fragments ?? []
  let payloadLength = existing?.payloadLength
  if (!ip.moreFragments) {
    if (payloadLength !== undefined && payloadLength !== off + len) return without(s, key, "two different final fragments")
    payloadLength = off + len
  }
  // Find the insertion point and check overlap against the neighbours only (the list is sorted
  // and non-overlapping, so no other fragment can overlap).
  let i = 0
  while (i < frags.length && frags[i]!.offset < off) i++
  const prev = i > 0 ? frags[i - 1] : undefined
  const next = frags[i]
  if (next !== undefined && next.offset === off && next.data.length === len) return [s, undefined, [debug(`ipv4 reassembly ${key}: duplicate fragment at ${off}`)]]
  if ((prev !== undefined && prev.offset + prev.data.length > off) || (next !== undefined && off + len > next.offset)) {
    return without(s, key, `overlapping fragment at ${off}+${len}`)
  }
  if (payloadLength !== undefined) {
    const last = frags[frags.length - 1]
    if (off + len > payloadLength || (last !== undefined && last.offset + last.data.length > payloadLength)) {
      return without(s, key, "fragment beyond the final fragment's end")
    }
  }
  if (frags.length + 1 > REASS_MAX_FRAGMENTS) return without(s, key, `more than ${REASS_MAX_FRAGMENTS} fragments`)

  const data = ip.buf.slice(ip.payloadOffset, ip.payloadOffset + len)
  const fragments = [...frags.slice(0, i), { offset: off, data }, ...frags.slice(i)]
  const first = off === 0 ? { ...ip, buf: ip.buf.slice(ip.offset, ip.offset + ip.headerLength), offset: 0, payloadOffset: ip.headerLength } : existing?.first
  const d: PartialDatagram = {
    fragments,
    payloadLength,
    bytes: (existing?.bytes ?? 0) + len,
    first,
    tos: first?.tos ?? ip.tos,
    ttl: first?.ttl ?? ip.ttl,
    expires: existing?.expires ?? addMillis(now, REASS_TIMEOUT_MS),
    serial: existing?.serial ?? s.nextSerial,
  }
  const datagrams = new Map(s.datagrams)
  datagrams.set(key, d)
  const next1: ReassemblyState = { datagrams, bytes: s.bytes + len, nextSerial: existing === undefined ? (s.nextSerial + 1) >>> 0 : s.nextSerial }
  const armed: ReadonlyArray<StackEffect> =
    existing === undefined ? [{ _tag: "SetTimer", timer: reassemblyTimer(d.serial), at: addMillis(now, REASS_TIMEOUT_MS) }] : []

  // Complete when the fragments cover [0, payloadLength) without a gap.
  if (payloadLength === undefined || first === undefined) return [next1, undefined, armed]
  let covered = 0
  for (const f of fragments) {
    if (f.offset !== covered) return [next1, undefined, armed]
    covered += f.data.length
  }
  if (covered !== payloadLength) return [next1, undefined, armed]

  // Rebuild as one datagram. The first fragment's options are dropped: they have been
  // skipped by every layer above anyway, and a 20-byte header keeps the layout simple.
  const out = new Uint8Array(IPV4_HEADER_LEN + payloadLength)
  writeIpv4Header(out, 0, {
    totalLength: out.length,
    id: first.id,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
    ttl: first.ttl,
    protocol: first.protocol,
    src: first.src,
    dst: first.dst,
    tos: first.tos,
  })
  for (const f of fragments) out.set(f.data, IPV4_HEADER_LEN + f.offset)
  const [done, , fx] = without(next1, key, undefined)
  return [done, out, [...armed.filter((e) => e._tag !== "SetTimer"), ...fx]]
}

/** The 30 s timer of datagram `serial` fired (a no-op when that datagram is gone or not yet due). */
export const reassemblyTimeout = (s: ReassemblyState, serial: number, now: Instant): ReassemblyResult => {
  for (const [key, d] of s.datagrams) {
    if (d.serial !== serial) continue
    if (now < d.expires) return [s, undefined, []]
    return without(s, key, `incomplete after ${REASS_TIMEOUT_MS / 1000} s`)
  }
  return [s, undefined, []]
}

/** The stack shuts down: every datagram's timer is cancelled. */
export const reassemblyShutdown = (s: ReassemblyState): ReadonlyArray<StackEffect> =>
  [...s.datagrams.values()].map((d): StackEffect => ({ _tag: "CancelTimer", timer: reassemblyTimer(d.serial) }))
