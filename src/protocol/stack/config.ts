/**
 * The configuration of one stack instance, with QEMU's `-netdev user` defaults. Validation
 * returns every problem as a one-line message, so the CLI can refuse bad input before start.
 */
import type { ConnectTarget, HostEndpoint } from "../../effects/address.ts"
import { type Ipv4, formatIpv4, inSubnet, ipv4, prefixMask } from "../wire/ipv4-address.ts"
import { type Ipv6, formatIpv6, inPrefix, ipv6Equals, isLinkLocal, isMulticast6, linkLocalOf, maskPrefix, parseIpv6 } from "../wire/ipv6-address.ts"

export interface StackConfig {
  readonly ipv4: boolean
  /** The virtual network (10.0.2.0) and its prefix length (24). */
  readonly network: Ipv4
  readonly prefixLength: number
  /** The gateway / host address (10.0.2.2); traffic to it goes to the host's 127.0.0.1. */
  readonly host: Ipv4
  /** The DNS proxy address (10.0.2.3). */
  readonly dns: Ipv4
  /** The first DHCP lease (10.0.2.15). */
  readonly dhcpStart: Ipv4
  /** DHCP option 12 / 15 / 119. */
  readonly hostname: string | undefined
  readonly domainName: string | undefined
  readonly dnsSearch: ReadonlyArray<string>
  /**
   * Where queries to the DNS address go; undefined: nowhere (the DNS address answers nothing,
   * as a dead server: UDP queries are dropped, DNS over TCP refused).
   */
  readonly dnsUpstream: HostEndpoint | undefined
  /**
   * IPv6 (QEMU's `ipv6=on`, `ipv6-net`, `ipv6-host`, `ipv6-dns`): the prefix announced in router
   * advertisements (fec0::/64; SLAAC needs a /64), the gateway (prefix::2, reaching the host's
   * ::1) and the DNS proxy (prefix::3). Each also answers on its fe80:: twin (same low 64 bits).
   */
  readonly ipv6: boolean
  readonly ipv6Prefix: Ipv6
  readonly ipv6PrefixLength: number
  readonly ipv6Host: Ipv6
  readonly ipv6Dns: Ipv6
  /** The guest link MTU: IP datagrams larger than this are fragmented toward the guest. */
  readonly mtu: number
  /**
   * DHCP's boot fields: the TFTP server name (`sname` and option 66) and the boot file (`file`
   * and option 67); `siaddr` is always the gateway, where the TFTP server answers.
   */
  readonly tftpServerName: string | undefined
  readonly bootfile: string | undefined
  /**
   * The TFTP root (QEMU's `tftp=`): when set, the gateway (IPv4 and IPv6) answers TFTP on port
   * 69, read-only, from this directory (protocol/tftp/server.ts); the runtime resolves names under it. Unset:
   * port 69 of the gateway is relayed to the host like any other port.
   */
  readonly tftpRoot?: string
  /** Seed of the stack's PRNG (ISNs, ids, ports): the runtime passes a random one, tests a fixed one. */
  readonly seed: number
  /**
   * Per-connection TCP buffer bound, each direction (bytes). Absent: 512 KiB, or 32 full
   * segments at a jumbo MTU. A link that drops bursts (datagrams into small socket buffers)
   * sets it lower.
   */
  readonly tcpBufferBytes?: number
  /**
   * libslirp's restricted mode (`--restrict on`): the guest reaches nothing outside the virtual
   * network except the guestfwd targets; DHCP offers no router and no DNS. hostfwd still works.
   */
  readonly restrict: boolean
  /** `--disable-host-loopback`: the gateway address no longer reaches the host's loopback. */
  readonly disableHostLoopback: boolean
  /**
   * guestfwd rules: the guest's TCP connections to `server`:`port` go to `target` on the host.
   * Each `server` is a virtual host that answers ARP. Changed while running by `GuestFwdAdd`.
   */
  readonly guestFwd: ReadonlyArray<GuestFwd>
}

/** One guestfwd rule (see `StackConfig.guestFwd`); `id` is the caller's. */
export interface GuestFwd {
  readonly id: number
  readonly server: Ipv4
  readonly port: number
  readonly target: ConnectTarget
}

export const TCP_BUFFER_MIN = 16 * 1024
export const TCP_BUFFER_MAX = 16 * 1024 * 1024

export const MTU_MIN = 68
export const MTU_MAX = 65521

export const defaultConfig: StackConfig = {
  ipv4: true,
  network: ipv4(10, 0, 2, 0),
  prefixLength: 24,
  host: ipv4(10, 0, 2, 2),
  dns: ipv4(10, 0, 2, 3),
  dhcpStart: ipv4(10, 0, 2, 15),
  hostname: undefined,
  domainName: undefined,
  dnsSearch: [],
  dnsUpstream: { family: 4, address: "127.0.0.1", port: 53 },
  ipv6: true,
  ipv6Prefix: parseIpv6("fec0::")!,
  ipv6PrefixLength: 64,
  ipv6Host: parseIpv6("fec0::2")!,
  ipv6Dns: parseIpv6("fec0::3")!,
  mtu: 1500,
  tftpServerName: undefined,
  bootfile: undefined,
  seed: 1,
  restrict: false,
  disableHostLoopback: false,
  guestFwd: [],
}

export const netmask = (c: StackConfig): Ipv4 => prefixMask(c.prefixLength)

export const broadcastAddress = (c: StackConfig): Ipv4 => (c.network | ~netmask(c)) >>> 0

const byteLength = (s: string): number => new TextEncoder().encode(s).length

/** Every reason this config cannot run, one line each (empty when it is valid). */
export const validateConfig = (c: StackConfig): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const mask = netmask(c)
  if (c.prefixLength < 1 || c.prefixLength > 30) problems.push(`network prefix length ${c.prefixLength} must be 1..30`)
  if ((c.network & ~mask) >>> 0 !== 0) problems.push(`network ${formatIpv4(c.network)}/${c.prefixLength} has host bits set`)
  for (const [name, a] of [["host", c.host], ["dns", c.dns], ["dhcpstart", c.dhcpStart]] as const) {
    if (!inSubnet(a, c.network, mask)) problems.push(`${name} ${formatIpv4(a)} is outside ${formatIpv4(c.network)}/${c.prefixLength}`)
    else if (a === c.network || a === broadcastAddress(c)) problems.push(`${name} ${formatIpv4(a)} is the network or broadcast address`)
  }
  if (c.dns === c.host) problems.push("dns address must differ from the host address")
  if (c.dhcpStart === c.host || c.dhcpStart === c.dns) problems.push("dhcpstart must differ from the host and dns addresses")
  if (!Number.isInteger(c.mtu) || c.mtu < MTU_MIN || c.mtu > MTU_MAX) problems.push(`mtu ${c.mtu} must be an integer in ${MTU_MIN}..${MTU_MAX}`)
  const tb = c.tcpBufferBytes
  if (tb !== undefined && (!Number.isInteger(tb) || tb < TCP_BUFFER_MIN || tb > TCP_BUFFER_MAX)) {
    problems.push(`tcpBufferBytes ${tb} must be an integer in ${TCP_BUFFER_MIN}..${TCP_BUFFER_MAX}`)
  }
  if (!c.ipv4 && !c.ipv6) problems.push("ipv4 and ipv6 are both off: the guest would have no network")
  problems.push(...validateIpv6(c))
  if (c.tftpRoot !== undefined && (typeof c.tftpRoot !== "string" || c.tftpRoot.length === 0 || c.tftpRoot.includes("\0"))) problems.push("tftp root must be a non-empty path without NUL bytes")
  // RFC 951: `sname` is 64 bytes and `file` 128, each NUL-terminated.
  if (c.tftpServerName !== undefined && byteLength(c.tftpServerName) > 63) problems.push(`tftp server name is ${byteLength(c.tftpServerName)} bytes; the BOOTP sname field holds 63`)
  if (c.bootfile !== undefined && byteLength(c.bootfile) > 127) problems.push(`bootfile is ${byteLength(c.bootfile)} bytes; the BOOTP file field holds 127`)
  for (const g of c.guestFwd ?? []) {
    const where = `guestfwd ${formatIpv4(g.server)}:${g.port}`
    if (!inSubnet(g.server, c.network, mask) || g.server === c.network || g.server === broadcastAddress(c)) problems.push(`${where}: the server address must be a host of ${formatIpv4(c.network)}/${c.prefixLength}`)
    else if (g.server === c.host || g.server === c.dns) problems.push(`${where}: the server address must differ from the host and dns addresses`)
    if (!Number.isInteger(g.port) || g.port < 1 || g.port > 65535) problems.push(`${where}: port must be 1..65535`)
  }
  if (c.dnsUpstream !== undefined && (c.dnsUpstream.port < 1 || c.dnsUpstream.port > 65535)) problems.push(`dns upstream port ${c.dnsUpstream.port} must be 1..65535`)
  return problems
}

/** QEMU's checks on the IPv6 settings (prefix length 0..126), plus what SLAAC and our roles need. */
const validateIpv6 = (c: StackConfig): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const len = c.ipv6PrefixLength
  if (!Number.isInteger(len) || len < 1 || len > 126) return [`ipv6 prefix length ${len} must be 1..126`]
  if (c.ipv6Prefix.length !== 16 || c.ipv6Host.length !== 16 || c.ipv6Dns.length !== 16) return ["ipv6 addresses must be 16 bytes"]
  const net = `${formatIpv6(c.ipv6Prefix)}/${len}`
  if (!ipv6Equals(maskPrefix(c.ipv6Prefix, len), 0, c.ipv6Prefix)) problems.push(`ipv6 prefix ${net} has host bits set`)
  if (isLinkLocal(c.ipv6Prefix) || isMulticast6(c.ipv6Prefix)) problems.push(`ipv6 prefix ${net} is link-local or multicast`)
  for (const [name, a] of [["ipv6-host", c.ipv6Host], ["ipv6-dns", c.ipv6Dns]] as const) {
    if (!inPrefix(a, c.ipv6Prefix, len)) problems.push(`${name} ${formatIpv6(a)} is outside ${net}`)
    else if (ipv6Equals(a, 0, c.ipv6Prefix)) problems.push(`${name} ${formatIpv6(a)} is the subnet-router anycast address`)
  }
  if (ipv6Equals(c.ipv6Host, 0, c.ipv6Dns)) problems.push("ipv6-dns address must differ from the ipv6-host address")
  // Each also answers on fe80:: with its low 64 bits: those must differ too.
  else if (ipv6Equals(linkLocalOf(c.ipv6Host), 0, linkLocalOf(c.ipv6Dns))) problems.push("ipv6-host and ipv6-dns must differ in their low 64 bits (their link-local twins)")
  // RFC 8200 §5 wants a link MTU of at least 1280; QEMU does not refuse a smaller one with
  // IPv6 on and neither do we (IPv6 is on by default): our datagrams are fragmented to the
  // link MTU all the same, and guests ignore an RA MTU option below 1280.
  return problems
}
