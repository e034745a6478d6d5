/**
 * IPv4 fragment reassembly (RFC 791 §3.2, RFC 815): the family-neutral core
 * (reassembly/core.ts, which states the bounds and the drops) with IPv4's rules.
 *
 * Contract (beyond the core's):
 * - Fragments are keyed by RFC 791's (source, destination, protocol, identification).
 * - A reassembled datagram over 65535 bytes (header included) is dropped; an incomplete one
 *   after 30 s, by its timer `{ layer: "reassembly", key: serial }`.
 * - The rebuilt datagram has a 20-byte header made from the first fragment's: its options are
 *   dropped (every layer above skips them anyway).
 * Pure: the state is replaced, never written.
 */
import type { StackEffect } from "../../effects/effect.ts"
import { type TimerId, timerId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import { type ReassemblyRules, type ReassemblyTable, addFragmentTo, emptyTable, shutdownOf, timeoutOf } from "../reassembly/core.ts"
import { formatIpv4 } from "../wire/ipv4-address.ts"
import { IPV4_HEADER_LEN, IPV4_MAX_DATAGRAM, type Ipv4View, writeIpv4Header } from "./wire.ts"

export { REASS_MAX_BYTES, REASS_MAX_DATAGRAMS, REASS_MAX_FRAGMENTS } from "../reassembly/core.ts"
export const REASS_TIMEOUT_MS = 30_000

/** What is kept of the first fragment: its header fields (a view of a copy of its header). */
type First = Ipv4View

export type ReassemblyState = ReassemblyTable<First>

export const emptyReassembly: ReassemblyState = emptyTable()

export const reassemblyTimer = (serial: number): TimerId => timerId("reassembly", serial)

export type ReassemblyResult = readonly [ReassemblyState, Uint8Array | undefined, ReadonlyArray<StackEffect>]

const rules: ReassemblyRules<First> = {
  timerLayer: "reassembly",
  timeoutMs: REASS_TIMEOUT_MS,
  maxEnd: IPV4_MAX_DATAGRAM - IPV4_HEADER_LEN,
  maxEndText: "65535",
  logName: (key) => `ipv4 reassembly ${key}`,
  build: (first, payloadLength) => {
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
    return [out, IPV4_HEADER_LEN]
  },
}

/** Adds one fragment; returns the complete datagram (a fresh buffer, IP header at 0) when done. */
export const addFragment = (s: ReassemblyState, now: Instant, ip: Ipv4View): ReassemblyResult =>
  addFragmentTo(rules, s, now, {
    key: `${ip.src}:${ip.dst}:${ip.protocol}:${ip.id}`,
    offset: ip.fragmentOffset,
    more: ip.moreFragments,
    buf: ip.buf,
    start: ip.payloadOffset,
    length: ip.payloadLength,
    head: () => ({ ...ip, buf: ip.buf.slice(ip.offset, ip.offset + ip.headerLength), offset: 0, payloadOffset: ip.headerLength }),
    from: () => formatIpv4(ip.src),
  })

/** The 30 s timer of datagram `serial` fired (a no-op when that datagram is gone or not yet due). */
export const reassemblyTimeout = (s: ReassemblyState, serial: number, now: Instant): ReassemblyResult => timeoutOf(rules, s, serial, now)

/** The stack shuts down: every datagram's timer is cancelled. */
export const reassemblyShutdown = (s: ReassemblyState): ReadonlyArray<StackEffect> => shutdownOf(rules, s)
