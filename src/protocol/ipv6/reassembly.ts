/**
 * IPv6 fragment reassembly (RFC 8200 §4.5): the family-neutral core (reassembly/core.ts, which
 * states the bounds and the drops, the same as IPv4's; libslirp has none) with IPv6's rules.
 *
 * Contract (beyond the core's):
 * - Fragments are keyed by RFC 8200's (source, destination, identification); a message that
 *   has no Fragment header is refused with a debug line.
 * - A reassembled payload over 65535 bytes is dropped; an incomplete datagram after 60 s
 *   (RFC 8200 §4.5), by its timer `{ layer: "reassembly6", key: serial }`. The limits are
 *   IPv4's, counted in a table of IPv6's own.
 * - The reassembled datagram keeps the first fragment's fixed header, with Next Header taken
 *   from its Fragment header: extension headers before the Fragment header (the unfragmentable
 *   part: hop-by-hop, routing) are dropped, as the IPv4 side drops options; headers after it
 *   are part of the data and walked again by the caller.
 * Pure: the state is replaced, never written.
 */
import type { StackEffect } from "../../effects/effect.ts"
import { type TimerId, timerId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import { type ReassemblyRules, type ReassemblyTable, addFragmentTo, emptyTable, shutdownOf, timeoutOf } from "../reassembly/core.ts"
import { put16 } from "../wire/bytes.ts"
import { formatIpv6, ipv6Key } from "../wire/ipv6-address.ts"
import { IPV6_HEADER_LEN, type Ipv6View } from "./wire.ts"

export const REASS6_TIMEOUT_MS = 60_000
export const IPV6_MAX_PAYLOAD_LEN = 65535

/** The first fragment's fixed header (40 bytes, a copy), with Next Header already set. */
type Header = Uint8Array

export type Reassembly6State = ReassemblyTable<Header>

export const emptyReassembly6: Reassembly6State = emptyTable()

export const reassembly6Timer = (serial: number): TimerId => timerId("reassembly6", serial)

export type Reassembly6Result = readonly [Reassembly6State, Uint8Array | undefined, ReadonlyArray<StackEffect>]

const rules: ReassemblyRules<Header> = {
  timerLayer: "reassembly6",
  timeoutMs: REASS6_TIMEOUT_MS,
  maxEnd: IPV6_MAX_PAYLOAD_LEN,
  maxEndText: "65535",
  logName: () => "ipv6 reassembly",
  build: (header, payloadLength) => {
    const out = new Uint8Array(IPV6_HEADER_LEN + payloadLength)
    out.set(header, 0)
    put16(out, 4, payloadLength)
    return [out, IPV6_HEADER_LEN]
  },
}

/** Adds one fragment (`ip.fragment` set); returns the whole datagram (a fresh buffer, header at 0) when done. */
export const addFragment6 = (s: Reassembly6State, now: Instant, ip: Ipv6View): Reassembly6Result => {
  const frag = ip.fragment
  if (frag === undefined) return [s, undefined, [{ _tag: "Log", level: "debug", message: "ipv6 reassembly: not a fragment" }]]
  return addFragmentTo(rules, s, now, {
    key: `${ipv6Key(ip.buf, ip.srcOffset)}:${ipv6Key(ip.buf, ip.dstOffset)}:${frag.id}`,
    offset: frag.offset,
    more: frag.more,
    buf: ip.buf,
    start: ip.upperOffset,
    length: ip.upperLength,
    head: () => {
      const header = ip.buf.slice(ip.offset, ip.offset + IPV6_HEADER_LEN)
      header[6] = frag.nextHeader
      return header
    },
    from: () => formatIpv6(ip.buf, ip.srcOffset),
  })
}

/** The timer of datagram `serial` fired (a no-op when it is gone or not yet due). */
export const reassembly6Timeout = (s: Reassembly6State, serial: number, now: Instant): Reassembly6Result => timeoutOf(rules, s, serial, now)

export const reassembly6Shutdown = (s: Reassembly6State): ReadonlyArray<StackEffect> => shutdownOf(rules, s)
