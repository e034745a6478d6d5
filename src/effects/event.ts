/**
 * Events: facts the world reports to a stack. Every input to a stack is one of these, so a
 * session can be recorded and replayed. Each carries `now`, the instant it was observed.
 *
 * Socket events name the `SocketId` the stack chose when it asked for the socket; events for
 * a socket the stack no longer knows (a late datagram after close) are ignored by the stack.
 */
import type { ConnectTarget, HostBind, HostEndpoint } from "./address.ts"
import type { FileId, SocketId, TimerId } from "./ids.ts"
import type { Instant } from "./instant.ts"

/**
 * An Ethernet frame the guest sent (no FCS).
 *
 * Ownership: from this event on the frame belongs to the stack, and nobody writes to its bytes
 * again: not the runtime (a runtime that reuses a receive buffer hands over a copy), not the
 * stack. Layers may therefore keep views of it in their state or effects (a UDP payload sent
 * to the host, a queued fragment, TCP payload until the host has it) without copying.
 */
export interface FrameFromGuest {
  readonly _tag: "FrameFromGuest"
  readonly now: Instant
  readonly frame: Uint8Array
}

/** A host TCP connect asked for by `TcpConnect` succeeded. */
export interface HostTcpConnected {
  readonly _tag: "HostTcpConnected"
  readonly now: Instant
  readonly sock: SocketId
}

/** Bytes read from a host TCP socket. The stack owns `data` (the runtime will not reuse it). */
export interface HostTcpData {
  readonly _tag: "HostTcpData"
  readonly now: Instant
  readonly sock: SocketId
  readonly data: Uint8Array
}

/** The host peer half-closed (read side reached end of stream). */
export interface HostTcpEof {
  readonly _tag: "HostTcpEof"
  readonly now: Instant
  readonly sock: SocketId
}

/**
 * `bytes` of data handed over by `TcpWrite` have left the runtime's user-space buffer for the
 * kernel. The stack uses this to reopen the window it advertises to the guest.
 */
export interface HostTcpWritten {
  readonly _tag: "HostTcpWritten"
  readonly now: Instant
  readonly sock: SocketId
  readonly bytes: number
}

/** The host socket is fully closed and its id may be forgotten. */
export interface HostSocketClosed {
  readonly _tag: "HostSocketClosed"
  readonly now: Instant
  readonly sock: SocketId
}

/**
 * A host socket failed: `code` is the errno name Node reports (`ECONNREFUSED`,
 * `ECONNRESET`, `EHOSTUNREACH`, `ENETUNREACH`, `ETIMEDOUT`, `EACCES`, `EPERM`, ...). After an
 * error on a TCP socket the runtime has destroyed it; a `HostSocketClosed` may follow.
 */
export interface HostSocketError {
  readonly _tag: "HostSocketError"
  readonly now: Instant
  readonly sock: SocketId
  readonly code: string
}

/** A datagram arrived on a host UDP socket. */
export interface HostUdpDatagram {
  readonly _tag: "HostUdpDatagram"
  readonly now: Instant
  readonly sock: SocketId
  readonly from: HostEndpoint
  readonly data: Uint8Array
}

/** Why the host network refused a datagram, as reported by an ICMP error to the host. */
export type HostUnreachableReason = "net" | "host" | "port" | "protocol" | "admin" | "fragmentation-needed" | "ttl-exceeded"

/**
 * The host kernel reported an ICMP error for a datagram sent on a host UDP or ICMP socket
 * (Linux `IP_RECVERR`, or `ECONNREFUSED` on send). `to` is the destination that failed.
 */
export interface HostUnreachable {
  readonly _tag: "HostUnreachable"
  readonly now: Instant
  readonly sock: SocketId
  readonly to: HostEndpoint
  readonly reason: HostUnreachableReason
  /** For `fragmentation-needed`: the next-hop MTU, if known. */
  readonly mtu?: number
  /** The router or host that sent the ICMP error, when known (traceroute shows it). */
  readonly from?: string
}

/** An ICMP echo reply arrived on a host ping socket. `ident` is the socket's, not the guest's. */
export interface HostIcmpEchoReply {
  readonly _tag: "HostIcmpEchoReply"
  readonly now: Instant
  readonly sock: SocketId
  readonly from: string
  readonly sequence: number
  readonly payload: Uint8Array
  /** The TTL (hop limit) the reply arrived with, when the host reports it. */
  readonly ttl?: number
}

/** A file asked for by `FileOpen` is open for reading; `size` is its length in bytes then. */
export interface HostFileOpened {
  readonly _tag: "HostFileOpened"
  readonly now: Instant
  readonly file: FileId
  readonly size: number
}

/**
 * The bytes a `FileRead` asked for, from `offset`: `length` of them, fewer at the end of the
 * file. The stack owns `data` (the runtime will not reuse it).
 */
export interface HostFileData {
  readonly _tag: "HostFileData"
  readonly now: Instant
  readonly file: FileId
  readonly offset: number
  readonly data: Uint8Array
}

/**
 * A `FileOpen` or `FileRead` failed: `code` is the errno name (`ENOENT`, `EACCES` also for a
 * path that escapes the root, `EISDIR`, `EIO`, ...; `ENOSYS` when the runtime has no files).
 * The runtime has closed the file; the stack forgets it without a `FileClose`.
 */
export interface HostFileError {
  readonly _tag: "HostFileError"
  readonly now: Instant
  readonly file: FileId
  readonly code: string
}

/** A timer armed by `SetTimer` reached its deadline. */
export interface TimerFired {
  readonly _tag: "TimerFired"
  readonly now: Instant
  readonly timer: TimerId
}

/**
 * A host listener asked for by `TcpListen` or `UdpBind` is bound; `port` is the port it got
 * (the one asked for, or the kernel's choice for 0; 0 for a unix socket).
 */
export interface HostListening {
  readonly _tag: "HostListening"
  readonly now: Instant
  readonly sock: SocketId
  readonly port: number
}

/**
 * A host client connected to a listener (`listener`, from `TcpListen`). The runtime holds the
 * connection, unread, under `accepted` (its own number, unique among its pending ones) until
 * the stack answers `TcpAdopt` or `TcpRefuse`. `peer` is the client's address; absent for a
 * unix socket client.
 */
export interface HostTcpAccepted {
  readonly _tag: "HostTcpAccepted"
  readonly now: Instant
  readonly listener: SocketId
  readonly accepted: number
  readonly peer?: HostEndpoint
}

/**
 * A host forwarding rule (`--hostfwd`, the control socket, the library API): connections or
 * datagrams to `bind` on the host go to `guestPort` of the guest. `guest` undefined: the first
 * DHCP lease (config `dhcpStart`, as QEMU). `id` is the caller's, unique while the rule lives.
 */
export interface HostFwdAdd {
  readonly _tag: "HostFwdAdd"
  readonly now: Instant
  readonly id: number
  readonly proto: "tcp" | "udp"
  readonly bind: HostBind
  /** IPv4 guest address as a uint32, or undefined for the first DHCP lease. */
  readonly guest: number | undefined
  readonly guestPort: number
}

/** Remove a hostfwd rule: its listener closes; connections already forwarded stay. */
export interface HostFwdRemove {
  readonly _tag: "HostFwdRemove"
  readonly now: Instant
  readonly id: number
}

/**
 * A guest forwarding rule (`--guestfwd`): the guest's TCP connections to `server`:`port` (a
 * virtual address, answering ARP) go to `target` on the host, restricted mode or not.
 */
export interface GuestFwdAdd {
  readonly _tag: "GuestFwdAdd"
  readonly now: Instant
  readonly id: number
  /** IPv4 address as a uint32. */
  readonly server: number
  readonly port: number
  readonly target: ConnectTarget
}

export interface GuestFwdRemove {
  readonly _tag: "GuestFwdRemove"
  readonly now: Instant
  readonly id: number
}

/** The guest went away or the embedder stops the stack: close every host socket, drop state. */
export interface Shutdown {
  readonly _tag: "Shutdown"
  readonly now: Instant
}

export type StackEvent =
  | FrameFromGuest
  | HostTcpConnected
  | HostTcpData
  | HostTcpEof
  | HostTcpWritten
  | HostSocketClosed
  | HostSocketError
  | HostUdpDatagram
  | HostUnreachable
  | HostIcmpEchoReply
  | HostFileOpened
  | HostFileData
  | HostFileError
  | TimerFired
  | Shutdown
  | HostListening
  | HostTcpAccepted
  | HostFwdAdd
  | HostFwdRemove
  | GuestFwdAdd
  | GuestFwdRemove
