/**
 * Command-line parsing and validation for `tslirp`. Option names follow QEMU's `-netdev user`
 * (`net=`, `host=`, `dns=`, `dhcpstart=`, `hostname=`, `domainname=`, `dnssearch=`, ...).
 *
 * Contract: `parseCli` never throws and never touches the world except through the
 * `resolvConf` reader it is given. Every refusal is exactly one line (no trailing newline), so
 * the CLI can print it and exit non-zero before opening anything.
 */
import { isIPv4, isIPv6 } from "node:net"
import type { HostEndpoint } from "../../effects/address.ts"
import { LOG_LEVELS, type LogLevel } from "../../effects/log.ts"
import { defaultConfig, type StackConfig, validateConfig } from "../../protocol/stack/config.ts"
import { formatIpv4, type Ipv4, parseIpv4 } from "../../protocol/wire/ipv4-address.ts"
import { describeUpstream, ipv6InPrefix, parseDnsUpstream, parseIpv6Net, parseNet } from "../config/network.ts"
import { formatIpv6, parseIpv6 } from "../../protocol/wire/ipv6-address.ts"
import type { LinkSpec } from "../link/guest-link.ts"
import { type GuestFwdSpec, type HostFwdSpec, parseGuestFwd, parseHostFwd, serverOf } from "../forward/rules.ts"

export interface CliOptions {
  readonly config: StackConfig
  readonly links: ReadonlyArray<LinkSpec>
  readonly pcap: string | undefined
  readonly pcapMaxBytes?: number | undefined
  readonly record?: string | undefined
  readonly recordMaxBytes?: number | undefined
  readonly recordEffects?: boolean | undefined
  readonly logLevel: LogLevel
  /** `--api-socket`: where the control socket (slirp4netns's JSON protocol) listens. */
  readonly apiSocket: string | undefined
  /** `--hostfwd`, `--guestfwd`, in the order given. */
  readonly hostFwd: ReadonlyArray<HostFwdSpec>
  readonly guestFwd: ReadonlyArray<GuestFwdSpec>
  /** `--outbound-addr`, `--outbound-addr6`: source addresses of host sockets. */
  readonly outbound4: string | undefined
  readonly outbound6: string | undefined
}

export type CliResult =
  | { readonly _tag: "Run"; readonly options: CliOptions }
  | { readonly _tag: "Help"; readonly text: string }
  | { readonly _tag: "Error"; readonly message: string }

type Kind = "value" | "repeat" | "flag"

const OPTIONS: Readonly<Record<string, Kind>> = {
  socket: "value",
  listen: "value",
  udp: "value",
  net: "value",
  host: "value",
  dns: "value",
  dhcpstart: "value",
  hostname: "value",
  domainname: "value",
  dnssearch: "repeat",
  "dns-upstream": "value",
  mtu: "value",
  ipv4: "value",
  pcap: "value",
  "pcap-max-bytes": "value",
  record: "value",
  "record-max-bytes": "value",
  "record-effects": "flag",
  "log-level": "value",
  "api-socket": "value",
  help: "flag",
  hostfwd: "repeat",
  guestfwd: "repeat",
  restrict: "value",
  "disable-host-loopback": "flag",
  "outbound-addr": "value",
  "outbound-addr6": "value",
  // Later issues: validated, then refused.
  ipv6: "value",
  "ipv6-net": "value",
  "ipv6-host": "value",
  "ipv6-dns": "value",
  tftp: "value",
  "tftp-server-name": "value",
  bootfile: "value",
}

export const HELP = `Usage: tslirp [options]
       tslirp replay FILE [options]   (a --record recording; tslirp replay --help)

A user-mode network stack for QEMU guests (like -netdev user), speaking QEMU's
-netdev stream / socket / dgram protocols.

Guest links (at least one):
  --socket PATH            listen on a unix socket; QEMU:
                           -netdev stream,id=n,server=off,addr.type=unix,addr.path=PATH
  --listen HOST:PORT       listen on TCP (-netdev stream,addr.type=inet / -netdev socket,connect=)
  --udp LOCAL,REMOTE       UDP datagrams: bind LOCAL (HOST:PORT), send to QEMU at REMOTE
                           (-netdev dgram,local.*=REMOTE,remote.*=LOCAL)

Network (QEMU -netdev user names and defaults):
  --net CIDR               virtual network (10.0.2.0/24)
  --host ADDR              gateway address; reaches the host's 127.0.0.1 (10.0.2.2)
  --dns ADDR               DNS proxy address (10.0.2.3)
  --dhcpstart ADDR         first DHCP lease (10.0.2.15)
  --hostname NAME          DHCP option 12
  --domainname NAME        DHCP option 15
  --dnssearch DOMAIN       DHCP option 119 (repeatable)
  --dns-upstream ADDR[:PORT]|none
                           resolver for DNS queries (first nameserver of /etc/resolv.conf);
                           none: the DNS address answers nothing
  --mtu N                  guest link MTU (1500)
  --ipv4 on|off            IPv4 (on)
  --ipv6 on|off            IPv6: router advertisements, SLAAC, NDP, echo to the gateway and
                           DNS addresses, UDP and DNS (on); at least one family stays on
  --ipv6-net PREFIX[/LEN]  IPv6 prefix announced for SLAAC (fec0::/64)
  --ipv6-host ADDR         IPv6 gateway; reaches the host's ::1 (prefix::2)
  --ipv6-dns ADDR          IPv6 DNS proxy address (prefix::3)

Network boot:
  --tftp DIR               answer TFTP on the gateway (IPv4 and IPv6, port 69) from DIR,
                           read-only, octet mode; no name may leave DIR (.., absolute
                           paths, symlinks out)
  --tftp-server-name NAME  DHCP option 66 and the BOOTP sname field
  --bootfile NAME          DHCP option 67 and the BOOTP file field (the boot file to fetch
                           by TFTP from the gateway, which DHCP names as next server)

Forwarding (QEMU -netdev user syntax; repeatable):
  --hostfwd [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT
                           host port to guest port; IPv6 host addresses in brackets
                           ([::1]:8080); empty HOSTADDR: any IPv4 address; empty
                           GUESTADDR: the first DHCP lease; an IPv6 GUESTADDR in
                           brackets ([fec0::15]:22) is reached over IPv6. The guest
                           sees the client's own address when it is of the guest
                           address's family and not loopback, else the gateway.
                           Host ports are bound while a guest is connected (with several
                           guests, by the first one's session).
  --hostfwd unix:PATH-[GUESTADDR]:GUESTPORT
                           a unix socket on the host to a guest port
  --guestfwd [tcp]:[SERVER]:PORT-TARGET
                           the guest's connections to SERVER:PORT (default SERVER: the
                           network's .4) go to TARGET: HOST:PORT, unix:PATH, or
                           cmd:COMMAND (run per connection, joined to its stdin/stdout)
  --restrict on|off        on: the guest reaches nothing outside except guestfwd
                           targets; DHCP offers no router and no DNS; hostfwd works (off)
  --disable-host-loopback  the gateway address no longer reaches the host's loopback
  --outbound-addr ADDR     source address of host IPv4 sockets
  --outbound-addr6 ADDR    source address of host IPv6 sockets

Control:
  --api-socket PATH        control socket speaking slirp4netns's JSON protocol (add_hostfwd,
                           list_hostfwd, remove_hostfwd, list_connections, add_guestfwd,
                           list_guestfwd, remove_guestfwd, get_counters); one request per
                           connection; its rules apply to every guest, like --hostfwd and
                           --guestfwd

Diagnostics (FILE may hold %n, the guest's number; without it guest n>1 writes
FILE with .n before the extension):
  --pcap FILE              write every frame both ways to a pcap file per guest
  --pcap-max-bytes N       rotate at N bytes (suffix K, M, G): FILE moves to FILE.1
  --record FILE            record every input event of each guest's stack, with the
                           configuration and seed (tslirp replay FILE reads it)
  --record-max-bytes N     stop recording (one log line) before N bytes
  --record-effects         also record every effect (bigger; replay --verify checks)
  --log-level LEVEL        what goes to stderr (info):
                             error  only failures inside tslirp (an event it could not
                                    handle, a listener error, a pcap file that stopped)
                             warn   also what degrades service (the native addon missing,
                                    a guest dropped for breaking the framing, DHCP pool full)
                             info   also the network, guests connecting and leaving, DHCP
                                    leases
                             debug  also every frame or datagram dropped, and why
                             trace  everything (reserved for per-packet tracing; today
                                    the same as debug)
  -h, --help               this text
`

class CliError {
  readonly message: string
  constructor(message: string) {
    this.message = message
  }
}

const fail = (message: string): never => {
  throw new CliError(message)
}

/** `HOST:PORT` with an IPv6 host in brackets; the port within `min..65535`. */
export const parseHostPort = (option: string, s: string, minPort: number): { host: string; port: number } => {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s)
  if (m === null) return fail(`--${option}: "${s}" is not HOST:PORT (IPv6 hosts in brackets: [::1]:5555)`)
  const host = m[1]!
  const port = Number(m[2])
  if (!isIPv4(host) && !isIPv6(host) && !/^[A-Za-z0-9.-]+$/.test(host)) return fail(`--${option}: "${host}" is not a host name or IP address`)
  if (!Number.isInteger(port) || port < minPort || port > 65535) return fail(`--${option}: port ${m[2]} must be ${minPort}..65535`)
  return { host, port }
}

const parseAddress = (option: string, s: string): Ipv4 => parseIpv4(s) ?? fail(`--${option}: "${s}" is not an IPv4 address`)

/** `--net`: config/network.ts's `parseNet`, its refusal as this option's one line. */
export const parseCidr = (s: string): { network: Ipv4; prefixLength: number } => {
  const r = parseNet(s)
  return typeof r === "string" ? fail(`--net: ${r}`) : r
}

/** `--dns-upstream` (and the like): `ADDR[:PORT]` or `none`, as config/network.ts parses it. */
/** `--dns-upstream`'s value; undefined for "none" (no upstream). */
export const parseUpstream = (option: string, s: string): HostEndpoint | undefined => {
  const r = parseDnsUpstream(s)
  return typeof r === "string" ? fail(`--${option}: ${r}`) : (r ?? undefined)
}

/** The first `nameserver` of a resolv.conf text, if any (an IPv6 zone id is dropped). */
export const firstNameserver = (text: string): HostEndpoint | undefined => {
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line)
    if (m === null) continue
    const address = m[1]!.replace(/%.*$/, "")
    if (isIPv4(address)) return { family: 4, address, port: 53 }
    if (isIPv6(address)) return { family: 6, address, port: 53 }
  }
  return undefined
}

const DOMAIN_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

const parseDomain = (option: string, s: string): string => {
  const name = s.endsWith(".") ? s.slice(0, -1) : s
  if (name.length === 0 || name.length > 253 || !name.split(".").every((l) => DOMAIN_LABEL.test(l)))
    return fail(`--${option}: "${s}" is not a valid domain name`)
  return name
}

const parseOnOff = (option: string, s: string): boolean => {
  if (s === "on" || s === "yes") return true
  if (s === "off" || s === "no") return false
  return fail(`--${option}: "${s}" must be on or off`)
}

/** A BOOTP string field (`sname` 64 bytes, `file` 128, each ending in NUL): printable, at most `max` bytes. */
const bootString = (option: string, s: string, max: number): string => {
  // eslint-disable-next-line no-control-regex
  if (s.length === 0 || /[\u0000-\u001f\u007f]/.test(s)) return fail(`--${option}: "${s}" must be non-empty, without control characters`)
  if (Buffer.byteLength(s) > max) return fail(`--${option}: "${s}" is ${Buffer.byteLength(s)} bytes; the BOOTP field holds ${max}`)
  return s
}

const SIZE_UNITS: Readonly<Record<string, number>> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }

/** A size in bytes: digits with an optional K, M or G (binary units); at least 1 KiB. */
const byteCount = (option: string, s: string | undefined): number | undefined => {
  if (s === undefined) return undefined
  const m = /^(\d+)([KMG]?)$/i.exec(s)
  if (m === null) return fail(`--${option}: "${s}" is not a size (digits, then K, M or G)`)
  const n = Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!
  if (!Number.isSafeInteger(n) || n < 1024) return fail(`--${option}: ${s} must be at least 1K`)
  return n
}


/** Validates later-issue options enough to catch typos, then refuses them. */
const refuseLater = (values: Map<string, Array<string>>): void => {
  const one = (name: string): string | undefined => values.get(name)?.[0]
}

const parseOrThrow = (argv: ReadonlyArray<string>, resolvConf: () => string | undefined): CliResult => {
  const values = new Map<string, Array<string>>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]! === "-h" ? "--help" : argv[i]!
    if (!arg.startsWith("--")) fail(`unexpected argument "${arg}" (options start with --; see --help)`)
    const eq = arg.indexOf("=")
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
    const kind = OPTIONS[name]
    if (kind === undefined) fail(`unknown option --${name} (see --help)`)
    let value: string
    if (kind === "flag") {
      if (eq >= 0) fail(`--${name} takes no value`)
      value = ""
    } else if (eq >= 0) {
      value = arg.slice(eq + 1)
    } else {
      const next = argv[i + 1]
      if (next === undefined) fail(`--${name} needs a value`)
      value = next!
      i++
    }
    const seen = values.get(name)
    if (seen !== undefined && kind !== "repeat") fail(`--${name} given more than once`)
    if (seen === undefined) values.set(name, [value])
    else seen.push(value)
  }
  if (values.has("help")) return { _tag: "Help", text: HELP }
  const one = (name: string): string | undefined => values.get(name)?.[0]

  refuseLater(values)

  // Links.
  const links: Array<LinkSpec> = []
  const socket = one("socket")
  if (socket !== undefined) {
    if (socket.length === 0) fail("--socket needs a path")
    if (Buffer.byteLength(socket) > 107) fail(`--socket: path "${socket}" is longer than a unix socket allows (107 bytes)`)
    links.push({ _tag: "Unix", path: socket })
  }
  const listen = one("listen")
  if (listen !== undefined) {
    const { host, port } = parseHostPort("listen", listen, 0)
    links.push({ _tag: "TcpListen", host, port })
  }
  const udp = one("udp")
  if (udp !== undefined) {
    const parts = udp.split(",")
    if (parts.length !== 2) fail(`--udp: "${udp}" is not LOCAL,REMOTE (e.g. 127.0.0.1:5556,127.0.0.1:5555)`)
    const local = parseHostPort("udp", parts[0]!, 0)
    const remote = parseHostPort("udp", parts[1]!, 1)
    links.push({ _tag: "Udp", local, remote })
  }
  if (links.length === 0) fail("no guest link: give --socket PATH, --listen HOST:PORT or --udp LOCAL,REMOTE (see --help)")

  // Network. Like QEMU, host/dns/dhcpstart default to .2/.3/.15 of the network given.
  let config: StackConfig = defaultConfig
  const net = one("net")
  if (net !== undefined) {
    const { network, prefixLength } = parseCidr(net)
    config = {
      ...config,
      network,
      prefixLength,
      host: (network + 2) >>> 0,
      dns: (network + 3) >>> 0,
      dhcpStart: (network + 15) >>> 0,
    }
  }
  const host = one("host")
  if (host !== undefined) config = { ...config, host: parseAddress("host", host) }
  const dns = one("dns")
  if (dns !== undefined) config = { ...config, dns: parseAddress("dns", dns) }
  const dhcpStart = one("dhcpstart")
  if (dhcpStart !== undefined) config = { ...config, dhcpStart: parseAddress("dhcpstart", dhcpStart) }
  const hostname = one("hostname")
  if (hostname !== undefined) {
    if (hostname.length === 0 || hostname.length > 255 || /[\s\0]/.test(hostname)) fail(`--hostname: "${hostname}" must be 1..255 characters without spaces`)
    config = { ...config, hostname }
  }
  const domainName = one("domainname")
  if (domainName !== undefined) config = { ...config, domainName: parseDomain("domainname", domainName) }
  const search = values.get("dnssearch")
  if (search !== undefined) config = { ...config, dnsSearch: search.map((d) => parseDomain("dnssearch", d)) }
  const upstream = one("dns-upstream")
  if (upstream !== undefined) config = { ...config, dnsUpstream: parseUpstream("dns-upstream", upstream) }
  else {
    const text = resolvConf()
    const found = text === undefined ? undefined : firstNameserver(text)
    if (found !== undefined) config = { ...config, dnsUpstream: found }
  }
  const mtu = one("mtu")
  if (mtu !== undefined) {
    if (!/^\d+$/.test(mtu)) fail(`--mtu: "${mtu}" is not a number`)
    config = { ...config, mtu: Number(mtu) }
  }
  const ipv4 = one("ipv4")
  if (ipv4 !== undefined) config = { ...config, ipv4: parseOnOff("ipv4", ipv4) }
  const ipv6 = one("ipv6")
  if (ipv6 !== undefined) config = { ...config, ipv6: parseOnOff("ipv6", ipv6) }
  if (!config.ipv4 && !config.ipv6) fail("--ipv4 off and --ipv6 off: the guest would have no network; keep one family on")
  const v6net = one("ipv6-net")
  if (v6net !== undefined) {
    const n = parseIpv6Net(v6net)
    if (typeof n === "string") return fail(`--ipv6-net: ${n}`)
    // As QEMU: the host and DNS move to ::2 and ::3 of the new prefix unless given.
    config = { ...config, ipv6Prefix: n.prefix, ipv6PrefixLength: n.prefixLength, ipv6Host: ipv6InPrefix(n.prefix, n.prefixLength, 2), ipv6Dns: ipv6InPrefix(n.prefix, n.prefixLength, 3) }
  }
  for (const [name, field] of [["ipv6-host", "ipv6Host"], ["ipv6-dns", "ipv6Dns"]] as const) {
    const v = one(name)
    if (v === undefined) continue
    const a = parseIpv6(v)
    if (a === undefined) return fail(`--${name}: "${v}" is not an IPv6 address`)
    config = { ...config, [field]: a }
  }

  const tftp = one("tftp")
  if (tftp !== undefined) {
    if (tftp.length === 0 || tftp.includes("\0")) fail("--tftp needs a directory")
    config = { ...config, tftpRoot: tftp }
  }
  const tftpServerName = one("tftp-server-name")
  if (tftpServerName !== undefined) config = { ...config, tftpServerName: bootString("tftp-server-name", tftpServerName, 63) }
  const bootfile = one("bootfile")
  if (bootfile !== undefined) config = { ...config, bootfile: bootString("bootfile", bootfile, 127) }
  const restrict = one("restrict")
  if (restrict !== undefined) config = { ...config, restrict: parseOnOff("restrict", restrict) }
  if (values.has("disable-host-loopback")) config = { ...config, disableHostLoopback: true }
  const hostFwd = (values.get("hostfwd") ?? []).map((r) => {
    const p = parseHostFwd(r)
    return typeof p === "string" ? fail(`--hostfwd: ${p}`) : p
  })
  const guestFwd = (values.get("guestfwd") ?? []).map((r) => {
    const p = parseGuestFwd(r)
    return typeof p === "string" ? fail(`--guestfwd: ${p}`) : p
  })
  const outbound4 = one("outbound-addr")
  if (outbound4 !== undefined && !isIPv4(outbound4)) fail(`--outbound-addr: "${outbound4}" is not an IPv4 address`)
  const outbound6 = one("outbound-addr6")
  if (outbound6 !== undefined && !isIPv6(outbound6)) fail(`--outbound-addr6: "${outbound6}" is not an IPv6 address`)

  const problems = validateConfig(config)
  if (problems.length > 0) fail(`invalid network configuration: ${problems.join("; ")}`)
  for (const g of guestFwd) {
    const server = serverOf(config, g)
    const gp = validateConfig({ ...config, guestFwd: [{ id: 0, server, port: g.port, target: g.target }] })
    if (gp.length > 0) fail(`--guestfwd: ${gp.join("; ")}`)
  }

  const logLevel = one("log-level") ?? "info"
  if (!(LOG_LEVELS as ReadonlyArray<string>).includes(logLevel)) fail(`--log-level: "${logLevel}" must be one of ${LOG_LEVELS.join(", ")}`)
  const pcap = one("pcap")
  if (pcap !== undefined && pcap.length === 0) fail("--pcap needs a file name")
  const record = one("record")
  if (record !== undefined && record.length === 0) fail("--record needs a file name")
  const pcapMaxBytes = byteCount("pcap-max-bytes", one("pcap-max-bytes"))
  if (pcapMaxBytes !== undefined && pcap === undefined) fail("--pcap-max-bytes needs --pcap")
  const recordMaxBytes = byteCount("record-max-bytes", one("record-max-bytes"))
  if (recordMaxBytes !== undefined && record === undefined) fail("--record-max-bytes needs --record")
  const recordEffects = values.has("record-effects")
  if (recordEffects && record === undefined) fail("--record-effects needs --record")

  const apiSocket = one("api-socket")
  if (apiSocket !== undefined) {
    if (apiSocket.length === 0) fail("--api-socket needs a path")
    if (Buffer.byteLength(apiSocket) > 107) fail(`--api-socket: path "${apiSocket}" is longer than a unix socket allows (107 bytes)`)
    if (apiSocket === socket) fail(`--api-socket: "${apiSocket}" is also the --socket path; give each its own`)
  }

  return {
    _tag: "Run",
    options: {
      config,
      links,
      pcap,
      ...(pcapMaxBytes === undefined ? {} : { pcapMaxBytes }),
      ...(record === undefined ? {} : { record }),
      ...(recordMaxBytes === undefined ? {} : { recordMaxBytes }),
      ...(recordEffects ? { recordEffects } : {}),
      logLevel: logLevel as LogLevel,
      apiSocket,
      hostFwd,
      guestFwd,
      outbound4,
      outbound6,
    },
  }
}

export const parseCli = (argv: ReadonlyArray<string>, resolvConf: () => string | undefined): CliResult => {
  try {
    return parseOrThrow(argv, resolvConf)
  } catch (e) {
    if (e instanceof CliError) return { _tag: "Error", message: e.message }
    return { _tag: "Error", message: `cannot parse the command line: ${e instanceof Error ? e.message : String(e)}` }
  }
}

/** For the ready line and logs: `10.0.2.0/24 host 10.0.2.2 dns 10.0.2.3`. */
export const describeNetwork = (c: StackConfig): string =>
  [
    c.ipv4 ? `${formatIpv4(c.network)}/${c.prefixLength} host ${formatIpv4(c.host)} dns ${formatIpv4(c.dns)} dhcp from ${formatIpv4(c.dhcpStart)}` : "ipv4 off",
    c.ipv6 ? `${formatIpv6(c.ipv6Prefix)}/${c.ipv6PrefixLength} host ${formatIpv6(c.ipv6Host)} dns ${formatIpv6(c.ipv6Dns)}` : "ipv6 off",
    `dns upstream ${describeUpstream(c.dnsUpstream)}`,
    ...(c.tftpRoot === undefined ? [] : [`tftp from ${c.tftpRoot}`]),
  ].join(", ")

const bracketed = (host: string): string => (host.includes(":") ? `[${host}]` : host)

/**
 * The QEMU options that join a guest to `spec`, ready to paste (the ready line prints them):
 * the `-netdev` backend and an e1000 on it. `id` names the netdev.
 */
export const qemuOptions = (spec: LinkSpec, id = "n0"): string => {
  const device = `-device e1000,netdev=${id}`
  switch (spec._tag) {
    case "Unix":
      return `-netdev stream,id=${id},server=off,addr.type=unix,addr.path=${spec.path} ${device}`
    case "TcpListen": {
      // A wildcard listener is reached on loopback from this machine.
      const host = spec.host === "0.0.0.0" ? "127.0.0.1" : spec.host === "::" ? "::1" : spec.host
      return `-netdev stream,id=${id},server=off,addr.type=inet,addr.host=${bracketed(host)},addr.port=${spec.port} ${device}`
    }
    case "Udp":
      // QEMU's local is our remote and the other way round.
      return `-netdev dgram,id=${id},local.type=inet,local.host=${spec.remote.host},local.port=${spec.remote.port},remote.type=inet,remote.host=${spec.local.host},remote.port=${spec.local.port} ${device}`
  }
}
