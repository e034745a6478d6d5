/**
 * Identifiers the stack hands out to the runtime: host sockets and timers. Both are plain
 * data, allocated deterministically from state, so a replay of the same events yields the
 * same ids and a cloned state keeps working.
 *
 * Contract:
 * - A `SocketId` is a number from the stack's one socket counter (protocol/stack/sockets.ts);
 *   the stack records which layer owns each live id and routes host events by that record.
 *   Numbers carry no meaning: there are no ranges per layer.
 * - A `TimerId` is a tagged pair `{ layer, key }`: the stack dispatches `TimerFired` on
 *   `layer` and the layer finds its record by `key`. Nobody builds or parses a string form;
 *   a runtime that needs a map key uses `timerKey`, which it never parses back.
 */

/** A host socket (TCP stream, UDP socket, ICMP echo socket, later a listener) of one stack. */
export type SocketId = number & { readonly __socket: unique symbol }
export const socketId = (n: number): SocketId => n as SocketId

/**
 * A file the stack asked the runtime to open (`FileOpen`), for the TFTP server. Numbered by the
 * TFTP layer's own counter (protocol/tftp/server.ts), not from the socket allocator: files are
 * not sockets and their events name them as `file`.
 */
export type FileId = number & { readonly __file: unique symbol }
export const fileId = (n: number): FileId => n as FileId

/**
 * Who owns a host socket: the stack routes the socket's events there. `tcp-listener` and
 * `udp-listener` are hostfwd's listening sockets (protocol/forward/hostfwd.ts).
 */
export type SocketOwner = "tcp" | "udp" | "icmp" | "tcp-listener" | "udp-listener"

/**
 * The layer a timer belongs to and what it times, by the layer's own integer key:
 * `tcp`: the connection's socket id; `arp`: the IPv4 address being resolved; `reassembly`:
 * the partial datagram's serial number; `flows`: 0, the one sweep of the NAPT flow table;
 * `ndp`: a 32-bit hash of the IPv6 address being resolved (a collision only makes a timer
 * look at two queues); `ra`: 0, the periodic router advertisement; `reassembly6`: the partial
 * IPv6 datagram's serial number; `tftp`: the transfer's server port (its TID); `hostfwd`: 0,
 * the one expiry sweep of UDP hostfwd peers.
 */
export type TimerLayer = "tcp" | "arp" | "reassembly" | "reassembly6" | "flows" | "ndp" | "ra" | "tftp" | "hostfwd"

/**
 * A timer owned by one stack. Arming a timer that is already armed moves its deadline; the
 * runtime delivers at most one `TimerFired` per arming, and a reducer treats a `TimerFired`
 * whose deadline is no longer in its state as a no-op (timers may race with cancellation).
 * Two ids with the same layer and key are the same timer.
 */
export interface TimerId {
  readonly layer: TimerLayer
  readonly key: number
}

export const timerId = (layer: TimerLayer, key: number): TimerId => ({ layer, key })

/** A string naming the timer, for a runtime's own table; equal for equal ids, never parsed. */
export const timerKey = (t: TimerId): string => `${t.layer}/${t.key}`

export const sameTimer = (a: TimerId, b: TimerId): boolean => a.layer === b.layer && a.key === b.key
