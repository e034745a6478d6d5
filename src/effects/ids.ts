/**
 * Identifiers the stack hands out to the runtime. They are allocated deterministically from
 * counters in stack state, so a replay of the same events yields the same ids.
 */

/** A host socket (TCP stream, UDP socket, ICMP echo socket, listener) owned by one stack. */
export type SocketId = number & { readonly __socket: unique symbol }
export const socketId = (n: number): SocketId => n as SocketId

/**
 * A timer owned by one stack. Arming a timer that is already armed moves its deadline; the
 * runtime delivers at most one `TimerFired` per arming, and a reducer treats a `TimerFired`
 * whose deadline is no longer in its state as a no-op (timers may race with cancellation).
 */
export type TimerId = string & { readonly __timer: unique symbol }
export const timerId = (s: string): TimerId => s as TimerId
