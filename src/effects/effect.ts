/**
 * Effects: commands a stack asks the runtime to carry out. A reducer returns them in order;
 * the runtime executes them in that order. Results come back as events (see `event.ts`).
 */
import type { ConnectTarget, HostBind, HostEndpoint, IpFamily } from "./address.ts"
import type { FileId, SocketId, TimerId } from "./ids.ts"
import type { Instant } from "./instant.ts"
import type { LogFlow, LogLevel } from "./log.ts"

/** Send an Ethernet frame to the guest. The runtime may drop it if the guest link is full. */
export interface DeliverFrame {
  readonly _tag: "DeliverFrame"
  readonly frame: Uint8Array
}

/**
 * Open a TCP connection to `to` (an IP endpoint; a unix socket or a command for guestfwd).
 * Answered by `HostTcpConnected` or `HostSocketError`.
 */
export interface TcpConnect {
  readonly _tag: "TcpConnect"
  readonly sock: SocketId
  readonly to: ConnectTarget
}

/**
 * Listen for TCP connections on `bind` (hostfwd). Answered by `HostListening` or
 * `HostSocketError` (`EADDRINUSE`, ...); each client is reported as `HostTcpAccepted`.
 */
export interface TcpListen {
  readonly _tag: "TcpListen"
  readonly sock: SocketId
  readonly bind: HostBind
}

/**
 * Take the accepted connection `accepted` as the connected socket `sock`: from now on it is an
 * ordinary host TCP socket (data, EOF, writes, close), reading paused until `TcpSetReading`.
 */
export interface TcpAdopt {
  readonly _tag: "TcpAdopt"
  readonly sock: SocketId
  readonly accepted: number
}

/** Refuse the accepted connection `accepted`: reset it (the client sees ECONNRESET). */
export interface TcpRefuse {
  readonly _tag: "TcpRefuse"
  readonly accepted: number
}

/**
 * Bind a UDP socket to `bind` (udp hostfwd). Answered by `HostListening` or `HostSocketError`;
 * datagrams arrive as `HostUdpDatagram`, `UdpSend` sends from it.
 */
export interface UdpBind {
  readonly _tag: "UdpBind"
  readonly sock: SocketId
  readonly bind: HostEndpoint
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

/**
 * Open `path` for reading, relative to the directory `root` (the TFTP root). Answered by
 * `HostFileOpened` (with its size) or `HostFileError`. The runtime refuses (`EACCES`) any path
 * that is absolute, has a `..` component or a NUL byte, or whose real path (symlinks resolved)
 * is not inside the real path of `root`; a path that is not a regular file is `EISDIR` or
 * `EACCES`. The reducer checks the name too: the runtime's check is the one that sees symlinks.
 */
export interface FileOpen {
  readonly _tag: "FileOpen"
  readonly file: FileId
  readonly root: string
  readonly path: string
}

/**
 * Read up to `length` bytes at byte `offset` of an opened file. Answered by one `HostFileData`
 * (fewer bytes at the end of the file, none past it) or `HostFileError`. At most one read per
 * file is outstanding at a time (the TFTP server waits for each block).
 */
export interface FileRead {
  readonly _tag: "FileRead"
  readonly file: FileId
  readonly offset: number
  readonly length: number
}

/** Close an opened file (or abandon one still opening). Nothing answers it; later events of it are ignored. */
export interface FileClose {
  readonly _tag: "FileClose"
  readonly file: FileId
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
  | TcpListen
  | TcpAdopt
  | TcpRefuse
  | UdpBind
  | UdpOpen
  | UdpSend
  | IcmpOpen
  | IcmpEchoSend
  | SocketClose
  | SetTimer
  | CancelTimer
  | FileOpen
  | FileRead
  | FileClose
  | Log
