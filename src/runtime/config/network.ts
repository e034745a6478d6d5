/**
 * Friendly stack configuration for embedders: addresses as text ("10.0.2.0/24", "10.0.2.2"),
 * the DNS upstream as "127.0.0.1:5353", "[::1]:53" or "none", and the result a `StackConfig`.
 *
 * Contract: `stackConfig` either returns a config that `validateConfig` accepts, or throws one
 * `ConfigError` whose message is one line naming every problem (unknown keys included, so a
 * JavaScript caller's typo is not silently ignored). It never touches the world: no name
 * resolution, no sockets; it runs on any JavaScript runtime.
 *
 * Numeric forms (`host: ipv4(10, 0, 2, 2)`, `dnsUpstream: { family, address, port }`) are still
 * accepted, so `Partial<StackConfig>` callers keep working. Like QEMU's `-netdev user`, a `net`
 * moves the host, DNS and first lease to .2, .3 and .15 of it unless they are given.
 */
import type { HostEndpoint } from "../../effects/address.ts"
import { defaultConfig, type StackConfig, validateConfig } from "../../protocol/stack/config.ts"
import { type Ipv4, parseIpv4, prefixMask } from "../../protocol/wire/ipv4-address.ts"
import { type Ipv6, ipv6Equals, maskPrefix, parseIpv6, withInterfaceId } from "../../protocol/wire/ipv6-address.ts"

/** The fields given as text here; every other `StackConfig` field is passed as it is. */
type TextFields = "host" | "dns" | "dhcpStart" | "dnsUpstream" | "ipv6Host" | "ipv6Dns"

/**
 * What an embedder may pass; every field is optional (QEMU's `-netdev user` defaults). Any
 * `StackConfig` field works as it is (`mtu`, `hostname`, `domainName`, `dnsSearch`, `seed`,
 * `tcpBufferBytes`, ...); these take text as well:
 */
export type StackOptions = Partial<Omit<StackConfig, TextFields>> & {
  /** The virtual network, "10.0.2.0/24" (or "10.0.2.0/255.255.255.0"; a bare address is a /24). */
  readonly net?: string
  /** The gateway, which reaches the host's 127.0.0.1 ("10.0.2.2"). */
  readonly host?: string | Ipv4
  /** The DNS proxy address ("10.0.2.3"). */
  readonly dns?: string | Ipv4
  /** The first DHCP lease ("10.0.2.15"). */
  readonly dhcpStart?: string | Ipv4
  /** Where DNS queries go: "127.0.0.1:5353", "127.0.0.1" (port 53), "[::1]:5353", "::1" or "none". */
  readonly dnsUpstream?: string | HostEndpoint
  /** The IPv6 prefix, "fec0::/64" (QEMU's `ipv6-net`; a bare address is a /64). Moves the IPv6 host and DNS to ::2 and ::3 of it unless given. */
  readonly ipv6Net?: string
  /** The IPv6 gateway, reaching the host's ::1 ("fec0::2"). */
  readonly ipv6Host?: string | Ipv6
  /** The IPv6 DNS proxy address ("fec0::3"). */
  readonly ipv6Dns?: string | Ipv6
}

/** `StackConfig` fields that `defaultConfig` leaves out (optional ones): add new ones here. */
const OPTIONAL_CONFIG_FIELDS: ReadonlyArray<string> = ["tcpBufferBytes", "tftpRoot"]
const FRIENDLY: ReadonlyArray<string> = ["net", "host", "dns", "dhcpStart", "dnsUpstream", "ipv6Net", "ipv6Host", "ipv6Dns"]
const KNOWN: ReadonlySet<string> = new Set([...FRIENDLY, ...Object.keys(defaultConfig), ...OPTIONAL_CONFIG_FIELDS])

export class ConfigError extends Error {
  override readonly name = "ConfigError"
}

/**
 * "A.B.C.D/N", "A.B.C.D/M.M.M.M" (contiguous) or "A.B.C.D" (a /24, as QEMU's `net=`). A refusal
 * is a reason without the option's name, which the caller puts in front (`net`, `--net:`).
 */
export const parseNet = (s: string): { network: Ipv4; prefixLength: number } | string => {
  const [addr, mask, extra] = s.split("/")
  const bad = `"${s}" is not an IPv4 network like 10.0.2.0/24`
  const network = addr === undefined ? undefined : parseIpv4(addr)
  if (network === undefined || extra !== undefined) return bad
  if (mask === undefined) return { network, prefixLength: 24 }
  if (/^\d{1,2}$/.test(mask)) return Number(mask) <= 32 ? { network, prefixLength: Number(mask) } : `prefix length /${mask} must be 0..32`
  const m = parseIpv4(mask)
  if (m === undefined) return bad
  // The leading one bits of the mask; it must be exactly that prefix.
  const prefixLength = Math.clz32(~m >>> 0)
  return prefixMask(prefixLength) === m ? { network, prefixLength } : `mask ${mask} is not contiguous`
}

/**
 * "fec0::/64" or "fec0::" (a /64, QEMU's default length); the length must be 1..126 (QEMU
 * allows 0..126; 0 would make every address ours). A refusal is a reason without the option's name.
 */
export const parseIpv6Net = (s: string): { prefix: Ipv6; prefixLength: number } | string => {
  const [addr, len, extra] = s.split("/")
  const bad = `"${s}" is not an IPv6 prefix like fec0::/64`
  const prefix = addr === undefined ? undefined : parseIpv6(addr)
  if (prefix === undefined || extra !== undefined || (len !== undefined && !/^\d{1,3}$/.test(len))) return bad
  const prefixLength = len === undefined ? 64 : Number(len)
  if (prefixLength < 1 || prefixLength > 126) return `prefix length /${len} must be 1..126`
  if (!ipv6Equals(maskPrefix(prefix, prefixLength), 0, prefix)) return `"${s}" has bits set past /${prefixLength}`
  return { prefix, prefixLength }
}

/** `prefix` with the interface id `n` (::2, ::3): QEMU's placement of the IPv6 host and DNS. */
export const ipv6InPrefix = (prefix: Ipv6, prefixLength: number, n: number): Ipv6 => {
  const iid = new Uint8Array(16)
  iid[15] = n
  return withInterfaceId(prefix, prefixLength, iid)
}

/** RFC 4291 §2.2 text forms (hex groups, one "::", an IPv4 tail); zone ids are not accepted. */
export const isIpv6Text = (s: string): boolean => {
  let text = s
  let groupsNeeded = 8
  const lastColon = text.lastIndexOf(":")
  if (lastColon >= 0 && text.slice(lastColon + 1).includes(".")) {
    if (parseIpv4(text.slice(lastColon + 1)) === undefined) return false
    text = text.slice(0, lastColon + 1) + "0" // stand-in group; the IPv4 tail is two groups
    groupsNeeded = 7
  }
  const halves = text.split("::")
  if (halves.length > 2) return false
  const groups = (h: string): Array<string> | undefined => {
    if (h === "") return []
    const g = h.split(":")
    return g.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x)) ? g : undefined
  }
  const left = groups(halves[0]!)
  const right = halves.length === 2 ? groups(halves[1]!) : []
  if (left === undefined || right === undefined) return false
  const n = left.length + right.length
  return halves.length === 2 ? n < groupsNeeded : n === groupsNeeded
}

/**
 * "none" (null: no upstream, the DNS address answers nothing; StackConfig.dnsUpstream), "ADDR"
 * (port 53) or "ADDR:PORT" ("[V6]:PORT" for IPv6); a refusal as for `parseNet`.
 */
export const parseDnsUpstream = (s: string): HostEndpoint | null | string => {
  if (s === "none") return null
  if (parseIpv4(s) !== undefined) return { family: 4, address: s, port: 53 }
  if (isIpv6Text(s)) return { family: 6, address: s, port: 53 }
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([\d.]+):(\d{1,5})$/.exec(s)
  const bad = `"${s}" is not "none", ADDR or ADDR:PORT (an IP address; IPv6 with a port in brackets: [::1]:53)`
  if (m === null) return bad
  const address = m[1]!
  const port = Number(m[2])
  const family = parseIpv4(address) !== undefined ? 4 : isIpv6Text(address) ? 6 : undefined
  if (family === undefined) return bad
  if (port < 1 || port > 65535) return `port ${m[2]} must be 1..65535`
  return { family, address, port }
}

/** Builds and validates a `StackConfig`; throws one `ConfigError` listing every problem. */
export const stackConfig = (options: StackOptions = {}, seed: number = defaultConfig.seed): StackConfig => {
  const problems: Array<string> = []
  if (typeof options !== "object" || options === null) throw new ConfigError("invalid stack options: expected an object")
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) problems.push(`unknown option "${key}" (known: ${[...KNOWN].join(", ")})`)
  }
  let c: StackConfig = { ...defaultConfig, seed }
  const o = options
  if (o.net !== undefined) {
    const n = typeof o.net === "string" ? parseNet(o.net) : `must be a string like "10.0.2.0/24"`
    if (typeof n === "string") problems.push(`net ${n}`)
    else c = { ...c, network: n.network, prefixLength: n.prefixLength, host: (n.network + 2) >>> 0, dns: (n.network + 3) >>> 0, dhcpStart: (n.network + 15) >>> 0 }
  }
  // Every other known field as given (`network`/`prefixLength` after `net`, so they win).
  for (const [key, value] of Object.entries(o)) {
    if (!FRIENDLY.includes(key) && KNOWN.has(key) && value !== undefined) c = { ...c, [key]: value }
  }
  const address = (name: string, v: string | Ipv4 | undefined): Ipv4 | undefined => {
    if (v === undefined) return undefined
    if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v
    const a = typeof v === "string" ? parseIpv4(v) : undefined
    if (a === undefined) problems.push(`${name} "${String(v)}" is not an IPv4 address`)
    return a
  }
  const host = address("host", o.host)
  if (host !== undefined) c = { ...c, host }
  const dns = address("dns", o.dns)
  if (dns !== undefined) c = { ...c, dns }
  const dhcpStart = address("dhcpStart", o.dhcpStart)
  if (dhcpStart !== undefined) c = { ...c, dhcpStart }
  if (o.dnsUpstream !== undefined) {
    const u = typeof o.dnsUpstream === "string" ? parseDnsUpstream(o.dnsUpstream) : o.dnsUpstream
    if (typeof u === "string") problems.push(`dnsUpstream ${u}`)
    else c = { ...c, dnsUpstream: u ?? undefined }
  }
  if (o.ipv6Net !== undefined) {
    const n = typeof o.ipv6Net === "string" ? parseIpv6Net(o.ipv6Net) : `must be a string like "fec0::/64"`
    if (typeof n === "string") problems.push(`ipv6Net ${n}`)
    else c = { ...c, ipv6Prefix: n.prefix, ipv6PrefixLength: n.prefixLength, ipv6Host: ipv6InPrefix(n.prefix, n.prefixLength, 2), ipv6Dns: ipv6InPrefix(n.prefix, n.prefixLength, 3) }
  }
  const address6 = (name: string, v: string | Ipv6 | undefined): Ipv6 | undefined => {
    if (v === undefined) return undefined
    if (v instanceof Uint8Array && v.length === 16) return v
    const a = typeof v === "string" ? parseIpv6(v) : undefined
    if (a === undefined) problems.push(`${name} "${String(v)}" is not an IPv6 address`)
    return a
  }
  const ipv6Host = address6("ipv6Host", o.ipv6Host)
  if (ipv6Host !== undefined) c = { ...c, ipv6Host }
  const ipv6Dns = address6("ipv6Dns", o.ipv6Dns)
  if (ipv6Dns !== undefined) c = { ...c, ipv6Dns }
  if (problems.length === 0) problems.push(...validateConfig(c))
  if (problems.length > 0) throw new ConfigError(`invalid stack options: ${problems.join("; ")}`)
  return c
}

/** For logs and the CLI's ready line: `10.0.2.0/24 host 10.0.2.2 dns 10.0.2.3 ...`. */
export const describeUpstream = (e: HostEndpoint | undefined): string => (e === undefined ? "none" : e.family === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`)
