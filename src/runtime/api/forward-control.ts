/**
 * The operations a running tslirp offers to change and inspect forwarding while it runs: the
 * contract between the control socket (`--api-socket`, which speaks slirp4netns's JSON
 * protocol) and whatever implements forwarding (the CLI's guest sessions, `NodeStack` for
 * embedders). Plain data in, plain data out, so the socket server can be tested against a fake.
 *
 * Contract:
 * - Addresses are strings as a user writes them ("127.0.0.1", "::1", "" for "any" on the host
 *   side, "" for "the guest's first DHCP lease" on the guest side); ports are numbers.
 * - `add*` resolves with the new entry once the host socket is bound (so a client may connect
 *   at once), or rejects with an `Error` whose message is one line fit to show the user
 *   (address in use, bad address, duplicate rule).
 * - `remove*` closes the listening socket; connections already forwarded stay up. Rejects with
 *   a one-line `Error` when the id is unknown.
 * - ids are positive integers, never reused within one process.
 */

import type { CounterReport } from "../../protocol/stack/counters.ts"

/** A hostfwd rule, as QEMU's `hostfwd=` and slirp4netns's `add_hostfwd` describe it. */
export interface HostFwdRule {
  readonly proto: "tcp" | "udp"
  /** Host address to bind; "" means any (0.0.0.0). IPv6 addresses without brackets. */
  readonly hostAddr: string
  readonly hostPort: number
  /** Guest address; "" means the guest's first DHCP lease. */
  readonly guestAddr: string
  readonly guestPort: number
}

/** A rule in force; its `guestAddr` is never "" (a rule given without one shows the first DHCP lease). */
export interface HostFwdEntry extends HostFwdRule {
  readonly id: number
}

/** A guestfwd rule: connections from the guest to SERVER:PORT go to TARGET on the host. */
export interface GuestFwdRule {
  readonly proto: "tcp"
  /** Virtual server address inside the guest network; "" means the network's .4 (libslirp's default). */
  readonly serverAddr: string
  readonly serverPort: number
  /** "HOST:PORT", "unix:PATH" or "cmd:COMMAND", as in `--guestfwd`. */
  readonly target: string
}

export interface GuestFwdEntry extends GuestFwdRule {
  readonly id: number
}

/** One connection or flow the stack relays, like a line of QEMU's `info usernet`. */
export interface ConnectionInfo {
  readonly proto: "tcp" | "udp" | "icmp"
  /** Who opened it: the guest (outbound) or the host (hostfwd). */
  readonly origin: "guest" | "host"
  readonly guest: { readonly address: string; readonly port: number }
  readonly host: { readonly address: string; readonly port: number }
  /** TCP: the RFC 9293 state name; UDP/ICMP: "open". */
  readonly state: string
  /** Payload bytes each way: TCP's acknowledged ones; UDP's and ICMP echo's that crossed the host socket. */
  readonly bytesToHost: number
  readonly bytesToGuest: number
}

export interface ForwardControl {
  readonly addHostFwd: (rule: HostFwdRule) => Promise<HostFwdEntry>
  readonly removeHostFwd: (id: number) => Promise<void>
  readonly listHostFwd: () => ReadonlyArray<HostFwdEntry>
  readonly addGuestFwd: (rule: GuestFwdRule) => Promise<GuestFwdEntry>
  readonly removeGuestFwd: (id: number) => Promise<void>
  readonly listConnections: () => ReadonlyArray<ConnectionInfo>
  /** Each running guest's counters (protocol/stack/counters.ts), in the order guests came. */
  readonly guestCounters?: () => ReadonlyArray<CounterReport>
  /** The guestfwd rules in force (the control socket's `list_guestfwd`); optional until forwarding provides it. */
  readonly listGuestFwd?: () => ReadonlyArray<GuestFwdEntry>
}
