/**
 * The "original datagram" an ICMP error quotes (RFC 792), rebuilt for errors the host reports
 * about traffic we forwarded: we no longer have the guest's bytes, but we know its addresses and
 * the first 8 bytes of its transport header, which is all a guest needs to match the error.
 */
import type { Ipv4 } from "../wire/ipv4-address.ts"
import { IPV4_HEADER_LEN, writeIpv4Header } from "./wire.ts"

export const quoteDatagram = (protocol: number, src: Ipv4, dst: Ipv4, transportHead: Uint8Array, ttl = 64): Uint8Array => {
  const q = new Uint8Array(IPV4_HEADER_LEN + transportHead.length)
  q.set(transportHead, IPV4_HEADER_LEN)
  writeIpv4Header(q, 0, { totalLength: q.length, id: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0, ttl, protocol, src, dst })
  return q
}
