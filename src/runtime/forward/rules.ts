/**
 * Forwarding rules as users write them, parsed into the stack's vocabulary (`HostFwdAdd`,
 * `GuestFwdAdd` fields). One parser for the CLI (`--hostfwd`, `--guestfwd`), the library API and
 * the control socket's JSON (`HostFwdRule`, `GuestFwdRule` of api/forward-control.ts).
 *
 * Syntax (QEMU's, with IPv6 host addresses in brackets):
 * - hostfwd `[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT` (no protocol = tcp; empty
 *   HOSTADDR = any IPv4 address; `[::]` any IPv6 one; empty GUESTADDR = the first DHCP lease),
 *   or `unix:PATH-[GUESTADDR]:GUESTPORT`. HOSTPORT may be 0 (the host picks one).
 * - guestfwd `[tcp]:[SERVER]:PORT-TARGET`, TARGET `HOST:PORT` (an IP address, IPv6 in brackets),
 *   `unix:PATH` or `cmd:COMMAND`; empty SERVER = the network's .4 (libslirp's default).
 *
 * Contract: never throws; a refusal is one line without the option's name (the caller puts
 * `--hostfwd:` or its API's prefix in front). No name resolution: addresses are literals.
 * Neutral: nothing from Node (`EmbeddedStack` uses it on any runtime).
 */
import type { ConnectTarget, HostBind } from "../../effects/address.ts"
import { describeTarget } from "../../effects/address.ts"
import type { StackConfig } from "../../protocol/stack/config.ts"
import { type Ipv4, formatIpv4, parseIpv4 } from "../../protocol/wire/ipv4-address.ts"
import { parseIpv6 } from "../../protocol/wire/ipv6-address.ts"
import type { GuestFwdRule, HostFwdRule } from "../api/forward-control.ts"

export interface HostFwdSpec {
  readonly proto: "tcp" | "udp"
  readonly bind: HostBind
  /** undefined: the first DHCP lease. */
  readonly guest: Ipv4 | undefined
  readonly guestPort: number
}

export interface GuestFwdSpec {
  /** undefined: the network's .4. */
  readonly server: Ipv4 | undefined
  readonly port: number
  readonly target: ConnectTarget
}

const UNIX_PATH_MAX = 107

const port = (s: string, min: number, what: string): number | string => {
  if (!/^\d{1,5}$/.test(s)) return `${what} "${s}" is not a number`
  const n = Number(s)
  return n < min || n > 65535 ? `${what} ${n} must be ${min}..65535` : n
}

const unixPath = (path: string): string | undefined =>
  path.length === 0 ? "the unix socket path is empty" : new TextEncoder().encode(path).length > UNIX_PATH_MAX ? `unix socket path "${path}" is longer than ${UNIX_PATH_MAX} bytes` : undefined

/** `[GUESTADDR]:GUESTPORT`. */
const parseGuestSide = (s: string): { guest: Ipv4 | undefined; guestPort: number } | string => {
  const m = /^([^:]*):([^:]*)$/.exec(s)
  if (m === null) return `"${s}" is not [GUESTADDR]:GUESTPORT`
  const guest = m[1] === "" ? undefined : parseIpv4(m[1]!)
  if (m[1] !== "" && guest === undefined) return `guest address "${m[1]}" is not an IPv4 address`
  const p = port(m[2]!, 1, "guest port")
  return typeof p === "string" ? p : { guest, guestPort: p }
}

/** `HOSTADDR:HOSTPORT` where HOSTADDR is empty, IPv4 or a bracketed IPv6 address. */
const parseHostSide = (s: string, minPort: number): { family: 4 | 6; address: string; port: number } | string => {
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(s) ?? /^([^:[\]]*):([^:]*)$/.exec(s)
  if (m === null) return `"${s}" is not [HOSTADDR]:HOSTPORT (IPv6 addresses in brackets: [::1]:8080)`
  const bracketed = s.startsWith("[")
  const address = m[1]!
  if (bracketed ? parseIpv6(address) === undefined : address !== "" && parseIpv4(address) === undefined) return `host address "${address}" is not an ${bracketed ? "IPv6" : "IPv4"} address`
  const p = port(m[2]!, minPort, "host port")
  if (typeof p === "string") return p
  // "[::]" is IPv6's any address; "" IPv4's.
  return { family: bracketed ? 6 : 4, address: bracketed && address === "::" ? "" : address, port: p }
}

/** One `--hostfwd` rule. */
export const parseHostFwd = (text: string): HostFwdSpec | string => {
  const dash = text.lastIndexOf("-")
  const colon = text.indexOf(":")
  const bad = `"${text}" is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT or unix:PATH-[GUESTADDR]:GUESTPORT`
  if (dash < 0 || colon < 0 || colon > dash) return bad
  const proto = text.slice(0, colon)
  const guestSide = parseGuestSide(text.slice(dash + 1))
  if (typeof guestSide === "string") return guestSide
  const hostSide = text.slice(colon + 1, dash)
  if (proto === "unix") {
    const problem = unixPath(hostSide)
    return problem ?? { proto: "tcp", bind: { family: "unix", path: hostSide }, ...guestSide }
  }
  if (proto !== "" && proto !== "tcp" && proto !== "udp") return `protocol "${proto}" must be tcp, udp or unix`
  const h = parseHostSide(hostSide, 0)
  if (typeof h === "string") return h
  return { proto: proto === "udp" ? "udp" : "tcp", bind: h, ...guestSide }
}

/** guestfwd TARGET: `HOST:PORT`, `unix:PATH`, `cmd:COMMAND`. */
export const parseTarget = (s: string): ConnectTarget | string => {
  if (s.startsWith("unix:")) {
    const path = s.slice(5)
    return unixPath(path) ?? { family: "unix", path }
  }
  if (s.startsWith("cmd:")) return s.length > 4 ? { family: "cmd", command: s.slice(4) } : "cmd: needs a command"
  const h = parseHostSide(s, 1)
  if (typeof h === "string") return `target ${h.replace("[HOSTADDR]:HOSTPORT", "HOST:PORT, unix:PATH or cmd:COMMAND")}`
  if (h.address === "") return `target "${s}" needs a host address`
  return h
}

/** One `--guestfwd` rule. */
export const parseGuestFwd = (text: string): GuestFwdSpec | string => {
  const m = /^([^:]*):([^:]*):(\d{1,5})-(.+)$/.exec(text)
  if (m === null) return `"${text}" is not [tcp]:[SERVER]:PORT-TARGET (TARGET: HOST:PORT, unix:PATH or cmd:COMMAND)`
  if (m[1] !== "" && m[1] !== "tcp") return `protocol "${m[1]}" must be tcp (guestfwd forwards TCP only)`
  const server = m[2] === "" ? undefined : parseIpv4(m[2]!)
  if (m[2] !== "" && server === undefined) return `server address "${m[2]}" is not an IPv4 address`
  const p = port(m[3]!, 1, "port")
  if (typeof p === "string") return p
  const target = parseTarget(m[4]!)
  return typeof target === "string" ? target : { server, port: p, target }
}

/** The guestfwd server address of a rule: its own, or the network's .4. */
export const serverOf = (c: StackConfig, g: GuestFwdSpec): Ipv4 => g.server ?? (c.network + 4) >>> 0

// ---- the control API's plain-data rules (api/forward-control.ts) --------------------------

export const hostFwdFromRule = (r: HostFwdRule): HostFwdSpec | string => {
  if (r.proto !== "tcp" && r.proto !== "udp") return `proto "${String(r.proto)}" must be tcp or udp`
  const v6 = r.hostAddr.includes(":")
  const host = parseHostSide(`${v6 ? `[${r.hostAddr}]` : r.hostAddr}:${r.hostPort}`, 0)
  if (typeof host === "string") return host
  if (r.guestAddr.includes(":")) return `guest address "${r.guestAddr}" is not an IPv4 address (hostfwd reaches IPv4 guests)`
  const guest = parseGuestSide(`${r.guestAddr}:${r.guestPort}`)
  return typeof guest === "string" ? guest : { proto: r.proto, bind: host, ...guest }
}

export const guestFwdFromRule = (r: GuestFwdRule): GuestFwdSpec | string => {
  if (r.proto !== "tcp") return `proto "${String(r.proto)}" must be tcp`
  return parseGuestFwd(`tcp:${r.serverAddr}:${r.serverPort}-${r.target}`)
}

/** The control API's view of a rule. */
export const ruleOfHostFwd = (s: HostFwdSpec): HostFwdRule => ({
  proto: s.proto,
  hostAddr: s.bind.family === "unix" ? `unix:${s.bind.path}` : s.bind.address === "" && s.bind.family === 6 ? "::" : s.bind.address,
  hostPort: s.bind.family === "unix" ? 0 : s.bind.port,
  guestAddr: s.guest === undefined ? "" : formatIpv4(s.guest),
  guestPort: s.guestPort,
})

export const ruleOfGuestFwd = (c: StackConfig, s: GuestFwdSpec): GuestFwdRule => ({
  proto: "tcp",
  serverAddr: formatIpv4(serverOf(c, s)),
  serverPort: s.port,
  target: describeTarget(s.target),
})
