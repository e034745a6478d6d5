/**
 * IPv6 fragment reassembly (RFC 8200 §4.5) with the bounds of IPv4's (ipv4/reassembly.ts):
 * libslirp has none, and fragment handling is where slirps have had their CVEs.
 *
 * Contract:
 * - A datagram is dropped whole, with a debug log, on: overlap with a different fragment
 *   (RFC 5722), a non-final fragment whose length is not a multiple of 8 or is empty, a
 *   reassembled payload over 65535 bytes, two different final fragments, too many fragments,
 *   or its 60 s timer (RFC 8200 §4.5).
 * - At most REASS_MAX_DATAGRAMS datagrams and REASS_MAX_BYTES bytes are held at once (the IPv4
 *   limits, counted separately); a fragment that would exceed either is dropped.
 * - Exact duplicates are ignored.
 * - The reassembled datagram keeps the first fragment's fixed header, with Next Header taken
 *   from its Fragment header: extension headers before the Fragment header (the unfragmentable
 *   part: hop-by-hop, routing) are dropped, as the IPv4 side drops options; headers after it
 *   are part of the data and walked again by the caller.
 * - Timers are `{ layer: "reassembly6", key: serial }`; a stale one is a no-op.
 * Pure: the state is replaced, never written; fragment bytes are copied once.
 */
import type { StackEffect } from "../../effects/effect.ts"
import { type TimerId, timerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"
import { REASS_MAX_BYTES, REASS_MAX_DATAGRAMS, REASS_MAX_FRAGMENTS } from "../ipv4/reassembly.ts"
import { put16 } from "../wire/bytes.ts"
import { formatIpv6, ipv6Key } from "../wire/ipv6-address.ts"
import { IPV6_HEADER_LEN, type Ipv6View } from "./wire.ts"

export const REASS6_TIMEOUT_MS = 60_000
export const IPV6_MAX_PAYLOAD_LEN = 65535

interface Fragment {
  readonly offset: number
  readonly data: Uint8Array
}

interface PartialDatagram6 {
  readonly fragments: ReadonlyArray<Fragment>
  readonly payloadLength: number | undefined
  readonly bytes: number
  /** The first fragment's fixed header (40 bytes, a copy), with Next Header already set. */
  readonly header: Uint8Array | undefined
  readonly expires: Instant
  readonly serial: number
}

export interface Reassembly6State {
  /** Keyed by RFC 8200's (source, destination, identification). */
  readonly datagrams: ReadonlyMap<string, PartialDatagram6>
  readonly bytes: number
  readonly nextSerial: number
}

export const emptyReassembly6: Reassembly6State = { datagrams: new Map(), bytes: 0, nextSerial: 1 }

export const reassembly6Timer = (serial: number): TimerId => timerId("reassembly6", serial)

export type Reassembly6Result = readonly [Reassembly6State, Uint8Array | undefined, ReadonlyArray<StackEffect>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })

const without = (s: Reassembly6State, key: string, why: string | undefined): Reassembly6Result => {
  const d = s.datagrams.get(key)
  if (d === undefined) return [s, undefined, why === undefined ? [] : [debug(`ipv6 reassembly: ${why}, fragment dropped`)]]
  const datagrams = new Map(s.datagrams)
  datagrams.delete(key)
  const fx: Array<StackEffect> = [{ _tag: "CancelTimer", timer: reassembly6Timer(d.serial) }]
  if (why !== undefined) fx.push(debug(`ipv6 reassembly: ${why}, datagram dropped`))
  return [{ ...s, datagrams, bytes: s.bytes - d.bytes }, undefined, fx]
}

/** Adds one fragment (`ip.fragment` set); returns the whole datagram (a fresh buffer, header at 0) when done. */
export const addFragment6 = (s: Reassembly6State, now: Instant, ip: Ipv6View): Reassembly6Result => {
  const frag = ip.fragment
  if (frag === undefined) return [s, undefined, [debug("ipv6 reassembly: not a fragment")]]
  const key = `${ipv6Key(ip.buf, ip.srcOffset)}:${ipv6Key(ip.buf, ip.dstOffset)}:${frag.id}`
  const len = ip.upperLength
  const off = frag.offset
  const existing = s.datagrams.get(key)
  if (frag.more && (len === 0 || len % 8 !== 0)) return without(s, key, `non-final fragment of ${len} bytes`)
  if (off + len > IPV6_MAX_PAYLOAD_LEN) return without(s, key, `fragment ends at ${off + len}, beyond 65535`)
  if (existing === undefined && s.datagrams.size >= REASS_MAX_DATAGRAMS) {
    return [s, undefined, [debug(`ipv6 reassembly: ${REASS_MAX_DATAGRAMS} datagrams already in progress, fragment from ${formatIpv6(ip.buf, ip.srcOffset)} dropped`)]]
  }
  if (s.bytes + len > REASS_MAX_BYTES) return [s, undefined, [debug(`ipv6 reassembly: ${REASS_MAX_BYTES} bytes held, fragment dropped`)]]

  const frags = existing?.fragments ?? []
  let payloadLength = existing?.payloadLength
  if (!frag.more) {
    if (payloadLength !== undefined && payloadLength !== off + len) return without(s, key, "two different final fragments")
    payloadLength = off + len
  }
  let i = 0
  while (i < frags.length && frags[i]!.offset < off) i++
  const prev = i > 0 ? frags[i - 1] : undefined
  const next = frags[i]
  if (next !== undefined && next.offset === off && next.data.length === len) return [s, undefined, [debug(`ipv6 reassembly: duplicate fragment at ${off}`)]]
  if ((prev !== undefined && prev.offset + prev.data.length > off) || (next !== undefined && off + len > next.offset)) return without(s, key, `overlapping fragment at ${off}+${len}`)
  if (payloadLength !== undefined) {
    const last = frags[frags.length - 1]
    if (off + len > payloadLength || (last !== undefined && last.offset + last.data.length > payloadLength)) return without(s, key, "fragment beyond the final fragment's end")
  }
  if (frags.length + 1 > REASS_MAX_FRAGMENTS) return without(s, key, `more than ${REASS_MAX_FRAGMENTS} fragments`)

  const data = ip.buf.slice(ip.upperOffset, ip.upperOffset + len)
  const fragments = [...frags.slice(0, i), { offset: off, data }, ...frags.slice(i)]
  let header = existing?.header
  if (off === 0) {
    header = ip.buf.slice(ip.offset, ip.offset + IPV6_HEADER_LEN)
    header[6] = frag.nextHeader
  }
  const d: PartialDatagram6 = {
    fragments,
    payloadLength,
    bytes: (existing?.bytes ?? 0) + len,
    header,
    expires: existing?.expires ?? addMillis(now, REASS6_TIMEOUT_MS),
    serial: existing?.serial ?? s.nextSerial,
  }
  const datagrams = new Map(s.datagrams)
  datagrams.set(key, d)
  const next1: Reassembly6State = { datagrams, bytes: s.bytes + len, nextSerial: existing === undefined ? (s.nextSerial + 1) >>> 0 : s.nextSerial }
  const armed: ReadonlyArray<StackEffect> = existing === undefined ? [{ _tag: "SetTimer", timer: reassembly6Timer(d.serial), at: d.expires }] : []

  if (payloadLength === undefined || header === undefined) return [next1, undefined, armed]
  let covered = 0
  for (const f of fragments) {
    if (f.offset !== covered) return [next1, undefined, armed]
    covered += f.data.length
  }
  if (covered !== payloadLength) return [next1, undefined, armed]
  const out = new Uint8Array(IPV6_HEADER_LEN + payloadLength)
  out.set(header, 0)
  put16(out, 4, payloadLength)
  for (const f of fragments) out.set(f.data, IPV6_HEADER_LEN + f.offset)
  const [done, , fx] = without(next1, key, undefined)
  return [done, out, [...armed.filter((e) => e._tag !== "SetTimer"), ...fx]]
}

/** The timer of datagram `serial` fired (a no-op when it is gone or not yet due). */
export const reassembly6Timeout = (s: Reassembly6State, serial: number, now: Instant): Reassembly6Result => {
  for (const [key, d] of s.datagrams) {
    if (d.serial !== serial) continue
    if (now < d.expires) return [s, undefined, []]
    return without(s, key, `incomplete after ${REASS6_TIMEOUT_MS / 1000} s`)
  }
  return [s, undefined, []]
}

export const reassembly6Shutdown = (s: Reassembly6State): ReadonlyArray<StackEffect> =>
  [...s.datagrams.values()].map((d): StackEffect => ({ _tag: "CancelTimer", timer: reassembly6Timer(d.serial) }))
