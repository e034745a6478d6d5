/**
 * ARP for IPv4 over Ethernet (RFC 826). A view checks the fixed sizes once (htype 1, ptype
 * 0x0800, hlen 6, plen 4) and exposes the fields; anything else is not ours to parse.
 */
import { get16, get32, put16, put32 } from "../wire/bytes.ts"
import type { Ipv4 } from "../wire/ipv4-address.ts"
import { ETH_HEADER_LEN, ETH_MIN_FRAME, ETHERTYPE_ARP, writeEthernetHeader } from "./wire.ts"

export const ARP_LEN = 28
export const ARP_REQUEST = 1
export const ARP_REPLY = 2

const O = { htype: 0, ptype: 2, hlen: 4, plen: 5, op: 6, sha: 8, spa: 14, tha: 18, tpa: 24 } as const

export interface ArpPacket {
  readonly op: number
  /** Sender hardware address: a view into the frame (copy it before keeping it). */
  readonly sha: Uint8Array
  readonly spa: Ipv4
  readonly tha: Uint8Array
  readonly tpa: Ipv4
}

export type ArpParse = { readonly ok: true; readonly packet: ArpPacket } | { readonly ok: false; readonly reason: string }

export const parseArp = (frame: Uint8Array, off: number): ArpParse => {
  if (frame.length - off < ARP_LEN) return { ok: false, reason: `arp: truncated (${frame.length - off} bytes)` }
  if (get16(frame, off + O.htype) !== 1 || get16(frame, off + O.ptype) !== 0x0800) return { ok: false, reason: "arp: not Ethernet/IPv4" }
  if (frame[off + O.hlen] !== 6 || frame[off + O.plen] !== 4) return { ok: false, reason: "arp: bad address lengths" }
  return {
    ok: true,
    packet: {
      op: get16(frame, off + O.op),
      sha: frame.subarray(off + O.sha, off + O.sha + 6),
      spa: get32(frame, off + O.spa),
      tha: frame.subarray(off + O.tha, off + O.tha + 6),
      tpa: get32(frame, off + O.tpa),
    },
  }
}

/** A complete Ethernet frame carrying one ARP packet, padded to the 60-byte minimum. */
export const emitArpFrame = (
  ethDst: Uint8Array,
  op: number,
  sha: Uint8Array,
  spa: Ipv4,
  tha: Uint8Array,
  tpa: Ipv4,
): Uint8Array => {
  const f = new Uint8Array(ETH_MIN_FRAME)
  writeEthernetHeader(f, ethDst, sha, ETHERTYPE_ARP)
  const o = ETH_HEADER_LEN
  put16(f, o + O.htype, 1)
  put16(f, o + O.ptype, 0x0800)
  f[o + O.hlen] = 6
  f[o + O.plen] = 4
  put16(f, o + O.op, op)
  f.set(sha.subarray(0, 6), o + O.sha)
  put32(f, o + O.spa, spa)
  f.set(tha.subarray(0, 6), o + O.tha)
  put32(f, o + O.tpa, tpa)
  return f
}
