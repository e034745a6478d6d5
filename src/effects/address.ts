/**
 * Host-side socket addresses, as the runtime needs them: a textual IP (v4 dotted quad or v6)
 * and a port. Inside the stack IPv4 addresses are plain uint32 numbers (see
 * `src/protocol/wire/ipv4-address.ts`); only host-facing effects use text. Forwarding adds the
 * other ends a host socket can have: a unix socket path (hostfwd listeners, guestfwd targets)
 * and a command (guestfwd `cmd:`), and `describeTarget`, their one text form for logs.
 */
export type IpFamily = 4 | 6

export interface HostEndpoint {
  readonly family: IpFamily
  readonly address: string
  readonly port: number
}

/** A unix socket on the host, by path (hostfwd `unix:PATH`, guestfwd `unix:PATH`). */
export interface UnixEndpoint {
  readonly family: "unix"
  readonly path: string
}

/** A command whose stdin/stdout are one end of a connection (guestfwd `cmd:COMMAND`). */
export interface CommandEndpoint {
  readonly family: "cmd"
  readonly command: string
}

/** Where a host listener binds (hostfwd): an IP endpoint (address "" = any) or a unix socket. */
export type HostBind = HostEndpoint | UnixEndpoint

/**
 * Where a host TCP connection goes: an IP endpoint, or, for guestfwd only, a unix socket or a
 * command started for this connection.
 */
export type ConnectTarget = HostEndpoint | UnixEndpoint | CommandEndpoint

/** One line for logs: `127.0.0.1:80`, `[::1]:80`, `unix:/tmp/s`, `cmd:cat`. */
export const describeTarget = (t: ConnectTarget): string => {
  switch (t.family) {
    case "unix":
      return `unix:${t.path}`
    case "cmd":
      return `cmd:${t.command}`
    case 4:
      return `${t.address === "" ? "0.0.0.0" : t.address}:${t.port}`
    case 6:
      return `[${t.address === "" ? "::" : t.address}]:${t.port}`
  }
}
