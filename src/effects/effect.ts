/**
 * Effects: commands a stack asks the runtime to carry out. A reducer returns them in order;
 * the runtime executes them in that order. Results come back as events (see `event.ts`).
 */
import type { HostEndpoint, IpFamily } from "./address.ts"
import type { SocketId, TimerId } from "./ids.ts"
import type { Instant } from "./instant.ts"
import type { LogFlow, LogLevel } from "./log.ts"

/** Send an Ethernet frame to the guest. The runtime may drop it if the guest link is full. */
export interface DeliverFrame {
  readonly _tag: "DeliverFrame"
  readonly frame: Uint8Array
}

/** Open a TCP connection to `to`. Answered by `HostTcpConnected` or `HostSocketError`. */
export interface TcpConnect {
  readonly _tag: "TcpConnect"
  readonly sock: SocketId
  readonly to: HostEndpoint
}

/**
 * Queue bytes on a connected host TCP socket: the chunks in order, as one write (views of the
 * guest's payload; nobody writes them afterwards). One `HostTcpWritten` reports all of their
 * bytes flushed.
 */
export interface TcpWrite {
  readonly _tag: "TcpWrite"
  readonly sock: SocketId
  readonly chunks: ReadonlyArray<Uint8Array>
}

/** Half-close: send FIN to the host peer after the queued data. */
export interface TcpShutdownWrite {
  readonly _tag: "TcpShutdownWrite"
  readonly sock: SocketId
}

/** Stop (`paused: true`) or resume reading from a host TCP socket: flow control toward the guest. */
export interface TcpSetReading {
  readonly _tag: "TcpSetReading"
  readonly sock: SocketId
  readonly reading: boolean
}

/** Abort a host TCP connection with RST (`SO_LINGER` 0), discarding queued data. */
export interface TcpReset {
  readonly _tag: "TcpReset"
  readonly sock: SocketId
}

/** Open an unconnected UDP socket bound to an ephemeral port of the wildcard address. */
export interface UdpOpen {
  readonly _tag: "UdpOpen"
  readonly sock: SocketId
  readonly family: IpFamily
}

/** Send one datagram from a UDP socket. */
export interface UdpSend {
  readonly _tag: "UdpSend"
  readonly sock: SocketId
  readonly to: HostEndpoint
  readonly data: Uint8Array
  /** IP TTL / hop limit to send with, when the guest's differs from the host default. */
  readonly ttl?: number
}

/**
 * Open an unprivileged ICMP echo socket (Linux `SOCK_DGRAM`/`IPPROTO_ICMP`). If the host
 * forbids it the runtime answers `HostSocketError` with `EACCES`/`EPERM`/`EPROTONOSUPPORT`.
 */
export interface IcmpOpen {
  readonly _tag: "IcmpOpen"
  readonly sock: SocketId
  readonly family: IpFamily
}

/** Send an ICMP echo request on a ping socket; the kernel chooses the identifier. */
export interface IcmpEchoSend {
  readonly _tag: "IcmpEchoSend"
  readonly sock: SocketId
  readonly to: string
  readonly sequence: number
  readonly payload: Uint8Array
  readonly ttl?: number
}

/** Close any host socket (TCP gracefully after queued data, UDP, ICMP). */
export interface SocketClose {
  readonly _tag: "SocketClose"
  readonly sock: SocketId
}

/** Arm (or re-arm) a timer; the runtime reports `TimerFired` at or after `at`. */
export interface SetTimer {
  readonly _tag: "SetTimer"
  readonly timer: TimerId
  readonly at: Instant
}

export interface CancelTimer {
  readonly _tag: "CancelTimer"
  readonly timer: TimerId
}

export interface Log {
  readonly _tag: "Log"
  readonly level: LogLevel
  readonly message: string
  /** The flow the line is about, if any (shown as log annotations). */
  readonly flow?: LogFlow
}

export type StackEffect =
  | DeliverFrame
  | TcpConnect
  | TcpWrite
  | TcpShutdownWrite
  | TcpSetReading
  | TcpReset
  | UdpOpen
  | UdpSend
  | IcmpOpen
  | IcmpEchoSend
  | SocketClose
  | SetTimer
  | CancelTimer
  | Log
