/**
 * Address translation and forwarding policy: the one place that decides where the guest's
 * traffic goes on the host, what may leave the virtual network, and which address a host peer
 * appears as to the guest (libslirp's "sotranslate" and its address checks). TCP (through its
 * context's `hostEndpointFor`), UDP, ICMP, ARP and the IP output all ask here, so restricted
 * mode, guestfwd and IPv6 (issues 10, 11) change this module, not the layers.
 *
 * Today's rules (QEMU `-netdev user` defaults):
 * - the gateway address is the host's loopback (127.0.0.1); UDP broadcasts go there too;
 * - the DNS address's port 53 is the upstream resolver (with no upstream configured, a black
 *   hole: datagrams dropped without an error, as a dead server; connects refused); its other
 *   ports are refused;
 * - the rest of the virtual network has nobody behind it; multicast, 0/8, 127/8 and 240/4 are
 *   refused;
 * - any other unicast address is reached as itself;
 * - a host peer on the host's loopback appears as the gateway, others as themselves;
 * - `restrict` (libslirp's restricted mode): every route out is refused, so the guest reaches
 *   only the virtual hosts (gateway and DNS answer ping, DHCP) and the guestfwd targets;
 * - `disableHostLoopback`: the gateway (and the broadcasts sent to it) reaches nothing;
 * - guestfwd: a TCP connection to a rule's server:port goes to its target (`tcpTargetFor`),
 *   whatever `restrict` says; each rule's server address answers ARP as a virtual host.
 *
 * Contract: plain functions of the config and the addresses; no state, no allocation beyond
 * the returned value.
 */
import type { ConnectTarget, HostEndpoint, IpFamily } from "../../effects/address.ts"
import { IPV4_BROADCAST, type Ipv4, formatIpv4, inSubnet, parseIpv4 } from "../wire/ipv4-address.ts"
import { type Mac, virtualMac } from "../wire/mac.ts"
import { type Ipv6, formatIpv6, inPrefix, ipv6Equals, isLinkLocal, isLinkLocalTwin, isMulticast6, isUnspecified, linkLocalOf, parseIpv6 } from "../wire/ipv6-address.ts"
import { type StackConfig, broadcastAddress, netmask } from "../stack/config.ts"

export const LOOPBACK = "127.0.0.1"

export type Route =
  | { readonly _tag: "Loopback" }
  | { readonly _tag: "DnsProxy"; readonly upstream: HostEndpoint }
  /** Nothing answers and nothing is said: the DNS address with no upstream configured. */
  | { readonly _tag: "Blackhole"; readonly reason: string }
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
  const r = route0(c, dst, port, allowBroadcast)
  return r._tag === "Refuse" || r._tag === "Blackhole" ? r : restricted(c, r)
}

/** Restricted mode and a disabled host loopback turn routes out into refusals. */
const restricted = (c: StackConfig, r: Route): Route => {
  if (c.restrict) return { _tag: "Refuse", reason: "restricted mode" }
  if (r._tag === "Loopback" && c.disableHostLoopback) return { _tag: "Refuse", reason: "host loopback disabled" }
  return r
}

const route0 = (c: StackConfig, dst: Ipv4, port: number, allowBroadcast: boolean): Route => {
  if (dst === c.host) return { _tag: "Loopback" }
  if (dst === c.dns) {
    if (port !== 53) return { _tag: "Refuse", reason: `port ${port} of the DNS address` }
    return c.dnsUpstream === undefined ? { _tag: "Blackhole", reason: "no DNS upstream configured" } : { _tag: "DnsProxy", upstream: c.dnsUpstream }
  }
  if (dst === IPV4_BROADCAST || dst === broadcastAddress(c)) {
    // libslirp sends the guest's broadcasts to the host's loopback.
    return allowBroadcast ? { _tag: "Loopback" } : { _tag: "Refuse", reason: "broadcast" }
  }
  if (isMulticast(dst)) return { _tag: "Refuse", reason: "multicast" }
  if (inSubnet(dst, c.network, netmask(c))) return { _tag: "Refuse", reason: `no host ${formatIpv4(dst)} on the virtual network` }
  if (isHostLoopback(dst) || isReserved(dst)) return { _tag: "Refuse", reason: `reserved address ${formatIpv4(dst)}` }
  return { _tag: "External", address: formatIpv4(dst) }
}

/** The host endpoint a routed destination of `family` reaches, or undefined when refused. */
export const endpointOf = (r: Route, port: number, family: IpFamily = 4): HostEndpoint | undefined => {
  switch (r._tag) {
    case "Loopback":
      return family === 4 ? { family, address: LOOPBACK, port } : { family, address: LOOPBACK6, port }
    case "DnsProxy":
      return r.upstream
    case "External":
      return { family, address: r.address, port }
    case "Blackhole":
    case "Refuse":
      return undefined
  }
}

/** The host endpoint for a connection or datagram, or undefined when refused. */
export const hostEndpointFor = (c: StackConfig, dst: Ipv4, port: number, allowBroadcast = false): HostEndpoint | undefined =>
  endpointOf(route(c, dst, port, allowBroadcast), port)

/** The guestfwd rule for a guest TCP connection to `dst`:`port`, if any. */
export const guestFwdFor = (c: StackConfig, dst: Ipv4, port: number): ConnectTarget | undefined => {
  for (const g of c.guestFwd) if (g.server === dst && g.port === port) return g.target
  return undefined
}

/** Is `ip` the server address of a guestfwd rule (a virtual host)? */
export const isGuestFwdServer = (c: StackConfig, ip: Ipv4): boolean => {
  for (const g of c.guestFwd) if (g.server === ip) return true
  return false
}

/** Where the guest's TCP connection to `dst`:`port` goes: a guestfwd target, or the route's endpoint. */
export const tcpTargetFor = (c: StackConfig, dst: Ipv4, port: number): ConnectTarget | undefined =>
  guestFwdFor(c, dst, port) ?? (isGuestFwdServer(c, dst) ? undefined : hostEndpointFor(c, dst, port))

/** The address a host peer appears as to the guest: the host's loopback is the gateway. */
export const guestVisibleAddress = (c: StackConfig, hostAddress: string): Ipv4 | undefined => {
  if (hostAddress === LOOPBACK) return c.host
  const a = parseIpv4(hostAddress)
  if (a === undefined) return undefined
  return isHostLoopback(a) ? c.host : a
}

/** May an echo (or other datagram without ports) to `dst` be forwarded to the host network? */
export const isForwardable = (c: StackConfig, dst: Ipv4): boolean =>
  !(c.restrict || dst === c.host || dst === c.dns || inSubnet(dst, c.network, netmask(c)) || isReserved(dst) || isHostLoopback(dst))

/** Is `ip` a possible guest address: inside the network, not ours, not network or broadcast? */
export const isGuestAddress = (c: StackConfig, ip: Ipv4): boolean =>
  inSubnet(ip, c.network, netmask(c)) && ip !== c.network && ip !== broadcastAddress(c) && ip !== c.host && ip !== c.dns && (c.guestFwd.length === 0 || !isGuestFwdServer(c, ip))

/** The MAC a virtual address of ours answers ARP with, or undefined when the address is not ours. */
export const virtualMacFor = (c: StackConfig, ip: Ipv4): Mac | undefined =>
  ip === c.host || ip === c.dns || (c.guestFwd.length > 0 && isGuestFwdServer(c, ip)) ? virtualMac(ip) : undefined

/** The MAC our virtual hosts send from (libslirp: 52:55 and the gateway's address). */
export const gatewayMacOf = (c: StackConfig): Mac => virtualMac(c.host)

// ---------------------------------------------------------------------------------------------
// IPv6 (issue 10). libslirp sends every address of the prefix to the host's ::1; we keep the
// IPv4 rules instead: only the gateway is the host's loopback, the DNS address's port 53 is the
// upstream, the rest of the prefix has nobody behind it.

export const LOOPBACK6 = "::1"

/** Is `a` one of our IPv6 addresses: gateway or DNS, global or their fe80:: twins? */
export const isOurIpv6 = (c: StackConfig, a: Uint8Array, off = 0): boolean => isGateway6(c, a, off) || isDns6(c, a, off)

/** Is `a` the gateway (global or link-local)? */
export const isGateway6 = (c: StackConfig, a: Uint8Array, off = 0): boolean => ipv6Equals(a, off, c.ipv6Host) || isLinkLocalTwin(a, off, c.ipv6Host)

/** Is `a` the DNS address (global or link-local)? */
export const isDns6 = (c: StackConfig, a: Uint8Array, off = 0): boolean => ipv6Equals(a, off, c.ipv6Dns) || isLinkLocalTwin(a, off, c.ipv6Dns)

/** Is `a` a possible guest address: a unicast in the prefix or link-local, not one of ours? */
export const isGuestAddress6 = (c: StackConfig, a: Uint8Array, off = 0): boolean =>
  (isLinkLocal(a, off) || (inPrefix(a, c.ipv6Prefix, c.ipv6PrefixLength, off) && !ipv6Equals(a, off, c.ipv6Prefix))) && !isOurIpv6(c, a, off)

const isReserved6 = (a: Uint8Array): boolean => isUnspecified(a) || isMulticast6(a) || isLinkLocal(a) || ipv6Equals(a, 0, IPV6_LOOPBACK) || (a[0]! & 0xfe) === 0xfc || (a[0] === 0xfe && (a[1]! & 0xc0) === 0xc0)

const IPV6_LOOPBACK = parseIpv6("::1")!

/** Routes a unicast IPv6 destination, as `route` does for IPv4. */
export const route6 = (c: StackConfig, dst: Uint8Array, port: number): Route => {
  const r = route60(c, dst, port)
  return r._tag === "Refuse" || r._tag === "Blackhole" ? r : restricted(c, r)
}

const route60 = (c: StackConfig, dst: Uint8Array, port: number): Route => {
  if (isGateway6(c, dst)) return { _tag: "Loopback" }
  if (isDns6(c, dst)) {
    if (port !== 53) return { _tag: "Refuse", reason: `port ${port} of the DNS address` }
    return c.dnsUpstream === undefined ? { _tag: "Blackhole", reason: "no DNS upstream configured" } : { _tag: "DnsProxy", upstream: c.dnsUpstream }
  }
  if (inPrefix(dst, c.ipv6Prefix, c.ipv6PrefixLength)) return { _tag: "Refuse", reason: `no host ${formatIpv6(dst)} on the virtual network` }
  // Unique local (fc00::/7) and site-local (fec0::/10) are private to their site, like 10/8
  // would be to the host; we let them out as IPv4 lets private addresses out: only the
  // addresses no host socket could mean are refused.
  if (isUnspecified(dst) || isMulticast6(dst) || isLinkLocal(dst) || ipv6Equals(dst, 0, IPV6_LOOPBACK)) return { _tag: "Refuse", reason: `reserved address ${formatIpv6(dst)}` }
  return { _tag: "External", address: formatIpv6(dst) }
}

/** May an echo (or any datagram without ports) to `dst` leave through the host? IPv6's `isForwardable`. */
export const isForwardable6 = (c: StackConfig, dst: Uint8Array): boolean => route6(c, dst, 0)._tag === "External"

/** The gateway as a guest at `guest` sees it: fe80::2 for a link-local guest, the global one otherwise. */
export const gatewayFor6 = (c: StackConfig, guest: Uint8Array): Ipv6 => (isLinkLocal(guest) ? linkLocalOf(c.ipv6Host) : c.ipv6Host)

/** The host endpoint for an IPv6 destination, or undefined when refused. */
export const hostEndpointFor6 = (c: StackConfig, dst: Uint8Array, port: number): HostEndpoint | undefined => endpointOf(route6(c, dst, port), port, 6)

/**
 * A host address as one text form: an IPv4-mapped IPv6 address (what an IPv6 host socket
 * reports for an IPv4 peer, e.g. the DNS upstream 127.0.0.1 as ::ffff:127.0.0.1) is its IPv4
 * address. Everything that compares host addresses goes through here.
 */
export const unmappedHostAddress = (hostAddress: string): string => {
  const m = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(hostAddress)
  return m === null ? hostAddress : m[1]!
}

/**
 * The IPv6 address a host peer appears as to an IPv6 guest: the host's loopback (::1, or 127/8
 * seen through an IPv6 socket) is the gateway; other IPv4 peers cannot be shown.
 */
export const guestVisibleAddress6 = (c: StackConfig, hostAddress: string): Ipv6 | undefined => {
  const text = unmappedHostAddress(hostAddress)
  if (text === LOOPBACK6) return c.ipv6Host
  const v4 = parseIpv4(text)
  if (v4 !== undefined) return isHostLoopback(v4) ? c.ipv6Host : undefined
  const a = parseIpv6(text)
  if (a === undefined) return undefined
  if (ipv6Equals(a, 0, IPV6_LOOPBACK)) return c.ipv6Host
  return isReserved6(a) ? undefined : a
}
