/**
 * The control socket's replies, as slirp4netns writes them: `{"return":{...}}` on success,
 * `{"error":{"desc":"..."}}` on failure, compact JSON with no trailing newline, field names in
 * snake_case (`host_addr`, `guest_port`).
 *
 * Contract: pure functions from plain data to the reply's text; a desc is always one line.
 *
 * `list_hostfwd` carries its entries twice, on purpose: slirp4netns's man page documents
 * `{"return":{"entries":[...]}}`, but its api.c has always written `{"entries":[...]}` (its own
 * test reads `.return.entries` and only passes because an earlier `set set -e` turned errexit
 * off), so clients exist for both shapes. Giving both keys serves every one of them.
 */
import type { ConnectionInfo, GuestFwdEntry, HostFwdEntry } from "./forward-control.ts"

export const errorReply = (desc: string): string => JSON.stringify({ error: { desc: oneLine(desc) } })

export const returnReply = (value: Readonly<Record<string, unknown>>): string => JSON.stringify({ return: value })

/** Messages from elsewhere (an `Error` from forwarding) folded onto one line. */
export const oneLine = (s: string): string => s.replace(/\s*[\r\n]+\s*/g, " ").trim()

export const hostFwdJson = (e: HostFwdEntry): Record<string, unknown> => ({
  id: e.id,
  proto: e.proto,
  host_addr: e.hostAddr,
  host_port: e.hostPort,
  guest_addr: e.guestAddr,
  guest_port: e.guestPort,
})

export const guestFwdJson = (e: GuestFwdEntry): Record<string, unknown> => ({
  id: e.id,
  proto: e.proto,
  server_addr: e.serverAddr,
  server_port: e.serverPort,
  target: e.target,
})

/** One line of QEMU's `info usernet`, as JSON. */
export const connectionJson = (c: ConnectionInfo): Record<string, unknown> => ({
  proto: c.proto,
  origin: c.origin,
  guest_addr: c.guest.address,
  guest_port: c.guest.port,
  host_addr: c.host.address,
  host_port: c.host.port,
  state: c.state,
  bytes_to_host: c.bytesToHost,
  bytes_to_guest: c.bytesToGuest,
})

/** `list_hostfwd`: the documented `return.entries` and the top-level `entries` slirp4netns actually sends. */
export const listHostFwdReply = (entries: ReadonlyArray<HostFwdEntry>): string => {
  const json = entries.map(hostFwdJson)
  return JSON.stringify({ return: { entries: json }, entries: json })
}

export const listGuestFwdReply = (entries: ReadonlyArray<GuestFwdEntry>): string => returnReply({ entries: entries.map(guestFwdJson) })

export const listConnectionsReply = (entries: ReadonlyArray<ConnectionInfo>): string => returnReply({ entries: entries.map(connectionJson) })
