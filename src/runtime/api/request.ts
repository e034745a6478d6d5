/**
 * The control socket's requests (`--api-socket`): reading one request off a connection and
 * turning its JSON into a checked `ApiRequest`. slirp4netns's protocol (its api.c and man page):
 * one JSON object per connection, `{"execute": NAME, "arguments": {...}}`, shorter than 4096
 * bytes; the client shuts down its writing side after it, and gets one reply.
 *
 * Contract: every function here is pure (no I/O, no clock, never throws) and total: any input,
 * however hostile, gives either a request whose fields are all checked or an `Invalid` carrying
 * the `desc` of the error reply. The descs are slirp4netns's own strings where slirp4netns has
 * one (clients and its tests match on them), and follow its `bad request: COMMAND: bad
 * arguments.FIELD` pattern for tslirp's own commands.
 *
 * Where we differ from slirp4netns, on purpose:
 * - Wrong types are errors. slirp4netns reads a non-string `host_addr` as absent (so "any"), a
 *   fractional port or id as its integer part, a port above 65535 as that port modulo 65536, and
 *   crashes on a missing `proto`; we answer `bad arguments.FIELD` for each.
 * - `host_addr` and `guest_addr` may be IPv6 (slirp4netns is IPv4 only). Addresses are given back
 *   in canonical form ("::0001" becomes "::1").
 * - A request is also complete, without waiting for the client's shutdown, as soon as the bytes
 *   so far are a whole JSON object: slirp4netns answers after a single read(2), so clients that
 *   never shut down (several do) get their answer from it, and must from us too.
 */
import type { GuestFwdRule, HostFwdRule } from "./forward-control.ts"
import { formatIpv4, parseIpv4 } from "../../protocol/wire/ipv4-address.ts"
import { formatIpv6, parseIpv6 } from "../../protocol/wire/ipv6-address.ts"

/** slirp4netns's buffer: a request of this many bytes or more is "too large" (its man page: "less than 4096 bytes"). */
export const MAX_REQUEST_BYTES = 4096

export type ApiRequest =
  | { readonly _tag: "AddHostFwd"; readonly rule: HostFwdRule }
  | { readonly _tag: "ListHostFwd" }
  | { readonly _tag: "RemoveHostFwd"; readonly id: number }
  | { readonly _tag: "AddGuestFwd"; readonly rule: GuestFwdRule }
  | { readonly _tag: "ListGuestFwd" }
  | { readonly _tag: "RemoveGuestFwd"; readonly id: number }
  | { readonly _tag: "ListConnections" }
  | { readonly _tag: "GetCounters" }

export type ParsedRequest = { readonly _tag: "Request"; readonly request: ApiRequest } | { readonly _tag: "Invalid"; readonly desc: string }

/** What to do with the bytes received so far on one connection. */
export type ReadStep =
  | { readonly _tag: "NeedMore" }
  | { readonly _tag: "Complete"; readonly text: string }
  | { readonly _tag: "TooLarge" }

/** The error descs slirp4netns uses for a request it cannot read at all. */
export const DESC_TOO_LARGE = "bad request: too large message"
export const DESC_NOT_JSON = "bad request: cannot parse JSON"
export const DESC_NOT_OBJECT = "bad request: json_object() failed"
export const DESC_NO_EXECUTE = "bad request: no execute found"
export const DESC_UNKNOWN_EXECUTE = "bad request: unknown execute"

// Non-fatal: malformed UTF-8 becomes U+FFFD and then, usually, a JSON parse error.
const utf8 = new TextDecoder("utf-8", { fatal: false })

const parseJson = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch {
    return { ok: false }
  }
}

const isObject = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null && !Array.isArray(v)

/**
 * `received` is every byte read so far; `ended` says the client shut down its writing side.
 * Complete when the client has ended, or as soon as the bytes are a whole JSON object (a
 * JSON object cannot be the prefix of a longer valid text, so this never cuts a request short).
 */
export const readStep = (received: Uint8Array, ended: boolean, limit = MAX_REQUEST_BYTES): ReadStep => {
  if (received.length >= limit) return { _tag: "TooLarge" }
  const text = utf8.decode(received)
  if (ended) return { _tag: "Complete", text }
  const parsed = parseJson(text)
  return parsed.ok && isObject(parsed.value) ? { _tag: "Complete", text } : { _tag: "NeedMore" }
}

const invalid = (desc: string): ParsedRequest => ({ _tag: "Invalid", desc })
const request = (r: ApiRequest): ParsedRequest => ({ _tag: "Request", request: r })

/** A port: an integer 1..65535 (0 is what slirp4netns reads for "missing", and refuses too). */
const port = (v: unknown): number | undefined => (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535 ? v : undefined)

/** An id as `add_*` gave it: a positive integer. */
const id = (v: unknown): number | undefined => (typeof v === "number" && Number.isSafeInteger(v) && v >= 1 ? v : undefined)

/** An IPv4 or IPv6 address (no brackets, no zone), in canonical form. */
const address = (s: string): string | undefined => {
  const v4 = parseIpv4(s)
  if (v4 !== undefined) return formatIpv4(v4)
  const v6 = parseIpv6(s)
  return v6 === undefined ? undefined : formatIpv6(v6)
}

/**
 * An optional address argument: absent, null or "" gives `fallback`; a string must be an
 * address; anything else is refused (undefined).
 */
const optionalAddress = (v: unknown, fallback: string): string | undefined => {
  if (v === undefined || v === null || v === "") return fallback
  return typeof v === "string" ? address(v) : undefined
}

/** `guestfwd` targets as `--guestfwd` takes them: `HOST:PORT` (IPv6 in brackets), `unix:PATH`, `cmd:COMMAND`. */
const guestFwdTarget = (v: unknown): string | undefined => {
  if (typeof v !== "string" || v.length === 0 || v.length > 1024 || /[\0\r\n]/.test(v)) return undefined
  if (/^unix:./.test(v) || /^cmd:\S/.test(v)) return v
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(v) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(v)
  if (m === null || port(Number(m[2])) === undefined) return undefined
  if (v.startsWith("[") && parseIpv6(m[1]!) === undefined) return undefined
  return v
}

const addHostFwd = (args: Readonly<Record<string, unknown>>): ParsedRequest => {
  const bad = (field: string): ParsedRequest => invalid(`bad request: add_hostfwd: bad arguments.${field}`)
  const proto = args["proto"]
  if (proto !== "tcp" && proto !== "udp") return bad("proto")
  // slirp4netns: "If host_addr is not specified, then it defaults to 0.0.0.0".
  const hostAddr = optionalAddress(args["host_addr"], "0.0.0.0")
  if (hostAddr === undefined) return bad("host_addr")
  const hostPort = port(args["host_port"])
  if (hostPort === undefined) return bad("host_port")
  // "" is ForwardControl's "the guest's first DHCP lease" (slirp4netns: its --configure address).
  const guestAddr = optionalAddress(args["guest_addr"], "")
  if (guestAddr === undefined) return bad("guest_addr")
  const guestPort = port(args["guest_port"])
  if (guestPort === undefined) return bad("guest_port")
  return request({ _tag: "AddHostFwd", rule: { proto, hostAddr, hostPort, guestAddr, guestPort } })
}

const addGuestFwd = (args: Readonly<Record<string, unknown>>): ParsedRequest => {
  const bad = (field: string): ParsedRequest => invalid(`bad request: add_guestfwd: bad arguments.${field}`)
  // QEMU's guestfwd is TCP only, and its "tcp:" is optional: so is ours.
  const proto = args["proto"] ?? "tcp"
  if (proto !== "tcp") return bad("proto")
  // "" is ForwardControl's "the network's .4", libslirp's default guestfwd server.
  const serverAddr = optionalAddress(args["server_addr"], "")
  if (serverAddr === undefined) return bad("server_addr")
  const serverPort = port(args["server_port"])
  if (serverPort === undefined) return bad("server_port")
  const target = guestFwdTarget(args["target"])
  if (target === undefined) return bad("target")
  return request({ _tag: "AddGuestFwd", rule: { proto, serverAddr, serverPort, target } })
}

const removeById = (command: "remove_hostfwd" | "remove_guestfwd", args: Readonly<Record<string, unknown>>): ParsedRequest => {
  const n = id(args["id"])
  if (n === undefined) return invalid(`bad request: ${command}: bad arguments.id`)
  return request(command === "remove_hostfwd" ? { _tag: "RemoveHostFwd", id: n } : { _tag: "RemoveGuestFwd", id: n })
}

/** One request's text (as `readStep` completed it) to a checked request or the desc of its error reply. */
export const parseApiRequest = (text: string): ParsedRequest => {
  const parsed = parseJson(text)
  if (!parsed.ok) return invalid(DESC_NOT_JSON)
  const root = parsed.value
  if (!isObject(root)) return invalid(DESC_NOT_OBJECT)
  const execute = root["execute"]
  if (typeof execute !== "string") return invalid(DESC_NO_EXECUTE)
  // slirp4netns reads arguments with dotted paths: a missing or non-object "arguments" reads as
  // every argument missing, so the first required one is reported as bad.
  const args = isObject(root["arguments"]) ? root["arguments"] : {}
  switch (execute) {
    case "add_hostfwd":
      return addHostFwd(args)
    case "list_hostfwd":
      return request({ _tag: "ListHostFwd" })
    case "remove_hostfwd":
      return removeById("remove_hostfwd", args)
    case "add_guestfwd":
      return addGuestFwd(args)
    case "list_guestfwd":
      return request({ _tag: "ListGuestFwd" })
    case "remove_guestfwd":
      return removeById("remove_guestfwd", args)
    case "list_connections":
      return request({ _tag: "ListConnections" })
    case "get_counters":
      return request({ _tag: "GetCounters" })
    default:
      return invalid(DESC_UNKNOWN_EXECUTE)
  }
}
