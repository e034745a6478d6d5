/**
 * The "original datagram" an ICMPv6 error quotes (RFC 4443 §3), rebuilt for errors the host
 * reports about traffic we forwarded, as ipv4/quote.ts does for IPv4: the guest's addresses
 * and the first bytes of its transport header are all a guest needs to match the error.
 */
import type { Ipv6 } from "../wire/ipv6-address.ts"
import { IPV6_HEADER_LEN, writeIpv6Header } from "./wire.ts"

export const quoteDatagram6 = (nextHeader: number, src: Ipv6, dst: Ipv6, transportHead: Uint8Array, hopLimit = 64): Uint8Array => {
  const q = new Uint8Array(IPV6_HEADER_LEN + transportHead.length)
  q.set(transportHead, IPV6_HEADER_LEN)
  writeIpv6Header(q, 0, { payloadLength: transportHead.length, nextHeader, hopLimit, src, dst })
  return q
}
