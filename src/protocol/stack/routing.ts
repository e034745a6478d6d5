/**
 * Where the guest's traffic goes on the host, and how host addresses map back (libslirp's
 * address translation, see the reference's "sotranslate"): the gateway address is the host's
 * loopback, the DNS address on port 53 is the upstream resolver, the rest of the virtual
 * network has nobody behind it, and any other unicast address is reached as itself.
 */
import type { HostEndpoint } from "../../effects/address.ts"
import { IPV4_BROADCAST, type Ipv4, formatIpv4, inSubnet, parseIpv4 } from "../wire/ipv4-address.ts"
import { type StackConfig, broadcastAddress, netmask } from "./config.ts"

export const LOOPBACK = "127.0.0.1"

export type Route =
  | { readonly _tag: "Loopback" }
  | { readonly _tag: "DnsProxy" }
  | { readonly _tag: "External"; readonly address: string }
  | { readonly _tag: "Refuse"; readonly reason: string }

const isMulticast = (a: Ipv4) => a >>> 28 === 0xe
const isHostLoopback = (a: Ipv4) => a >>> 24 === 127
const isReserved = (a: Ipv4) => a >>> 24 === 0 || a >>> 28 >= 0xe

/**
 * Routes a unicast (or, for UDP, broadcast) destination. `port` matters only for the DNS
 * address, which answers on 53 and refuses everything else.
 */
export const route = (c: StackConfig, dst: Ipv4, port: number, allowBroadcast: boolean): Route => {
  if (dst === c.host) return { _tag: "Loopback" }
  if (dst === c.dns) return port === 53 ? { _tag: "DnsProxy" } : { _tag: "Refuse", reason: `port ${port} of the DNS address` }
  if (dst === IPV4_BROADCAST || dst === broadcastAddress(c)) {
    // libslirp sends the guest's broadcasts to the host's loopback.
    return allowBroadcast ? { _tag: "Loopback" } : { _tag: "Refuse", reason: "broadcast" }
  }
  if (isMulticast(dst)) return { _tag: "Refuse", reason: "multicast" }
  if (inSubnet(dst, c.network, netmask(c))) return { _tag: "Refuse", reason: `no host ${formatIpv4(dst)} on the virtual network` }
  if (isHostLoopback(dst) || isReserved(dst)) return { _tag: "Refuse", reason: `reserved address ${formatIpv4(dst)}` }
  return { _tag: "External", address: formatIpv4(dst) }
}

/** The host endpoint for a connection or datagram, or undefined when refused. */
export const hostEndpointFor = (c: StackConfig, dst: Ipv4, port: number, allowBroadcast = false): HostEndpoint | undefined => {
  const r = route(c, dst, port, allowBroadcast)
  switch (r._tag) {
    case "Loopback":
      return { family: 4, address: LOOPBACK, port }
    case "DnsProxy":
      return c.dnsUpstream
    case "External":
      return { family: 4, address: r.address, port }
    case "Refuse":
      return undefined
  }
}

/** The address a host peer appears as to the guest: the host's loopback is the gateway. */
export const guestVisibleAddress = (c: StackConfig, hostAddress: string): Ipv4 | undefined => {
  if (hostAddress === LOOPBACK) return c.host
  const a = parseIpv4(hostAddress)
  if (a === undefined) return undefined
  return isHostLoopback(a) ? c.host : a
}

export const isForwardable = (c: StackConfig, dst: Ipv4): boolean =>
  !(dst === c.host || dst === c.dns || inSubnet(dst, c.network, netmask(c)) || isReserved(dst) || isHostLoopback(dst))
