/**
 * `Log` effects about a flow, built in one place so every layer names a flow the same way: the
 * protocol, the guest's end and (when the line is about one) the far end as the guest addressed
 * it. Endpoints are `address:port`, IPv6 in brackets; an ICMP echo flow's guest end is
 * `address id N` (the echo identifier plays the port). The runtime shows the flow as log
 * annotations (effects/log.ts). Pure: strings are built only for the line being logged.
 */
import type { Log } from "../../effects/effect.ts"
import type { LogFlow, LogLevel } from "../../effects/log.ts"
import { type IpAddress, formatIp } from "../wire/ip-address.ts"

export const endpointText = (a: IpAddress, port: number): string => (typeof a === "number" ? `${formatIp(a)}:${port}` : `[${formatIp(a)}]:${port}`)

/** A TCP or UDP flow: the guest's address and port, and the far end's if the line is about one. */
export const portFlow = (protocol: "tcp" | "udp", guest: IpAddress, guestPort: number, host?: IpAddress, hostPort?: number): LogFlow =>
  host === undefined || hostPort === undefined
    ? { protocol, guest: endpointText(guest, guestPort) }
    : { protocol, guest: endpointText(guest, guestPort), host: endpointText(host, hostPort) }

/** An ICMP echo flow: the guest's address and echo identifier, and the address it pings if known. */
export const echoFlow = (guest: IpAddress, ident: number, host?: IpAddress): LogFlow =>
  host === undefined ? { protocol: "icmp", guest: `${formatIp(guest)} id ${ident}` } : { protocol: "icmp", guest: `${formatIp(guest)} id ${ident}`, host: formatIp(host) }

/** A `Log` effect, with its flow when it has one. */
export const logLine = (level: LogLevel, message: string, flow?: LogFlow): Log =>
  flow === undefined ? { _tag: "Log", level, message } : { _tag: "Log", level, message, flow }
