/**
 * The capabilities a stack instance needs from the world, as plain synchronous interfaces.
 *
 * Contract: one set of ports belongs to one stack instance. Calls never throw and never call
 * back synchronously into the caller except through `report`, which the interpreter queues, so
 * an implementation may report from inside a call. Every reported event carries `now`. After
 * `closeAll` a port reports nothing more. These interfaces are the per-frame hot path: plain
 * callbacks, no Effect fibers (Effect gives the structure around them, see `services.ts`).
 */
import type { ConnectTarget, HostBind, HostEndpoint, IpFamily } from "../../effects/address.ts"
import type { StackEvent } from "../../effects/event.ts"
import type { FileId, SocketId, TimerId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import type { LogFlow, LogLevel } from "../../effects/log.ts"

/** Feeds one event back into the stack that owns the port. */
export type Report = (event: StackEvent) => void

export interface TcpPort {
  /** An IP endpoint; a unix socket or a command (guestfwd) where the port supports them (else `HostSocketError`). */
  connect(sock: SocketId, to: ConnectTarget): void
  /** The chunks in order as one write; one `HostTcpWritten` for all of their bytes. */
  write(sock: SocketId, chunks: ReadonlyArray<Uint8Array>): void
  shutdownWrite(sock: SocketId): void
  setReading(sock: SocketId, reading: boolean): void
  reset(sock: SocketId): void
  /** Graceful close after queued data (a listener: stop listening); false when the id is not a TCP socket of this port. */
  close(sock: SocketId): boolean
  closeAll(): void
  /**
   * hostfwd (optional: a port without it answers `TcpListen` with `HostSocketError` EOPNOTSUPP).
   * `listen` reports `HostListening` or `HostSocketError`, then `HostTcpAccepted` per client,
   * holding each client unread until `adopt` (it becomes the connected socket `sock`) or
   * `refuse` (reset).
   */
  listen?(sock: SocketId, bind: HostBind): void
  adopt?(sock: SocketId, accepted: number): void
  refuse?(accepted: number): void
}

export interface UdpPort {
  open(sock: SocketId, family: IpFamily): void
  /** udp hostfwd (optional, as `TcpPort.listen`): a socket bound to `bind`; `HostListening` or `HostSocketError`. */
  bind?(sock: SocketId, bind: HostEndpoint): void
  send(sock: SocketId, to: HostEndpoint, data: Uint8Array, ttl?: number): void
  close(sock: SocketId): boolean
  closeAll(): void
}

export interface IcmpPort {
  open(sock: SocketId, family: IpFamily): void
  send(sock: SocketId, to: string, sequence: number, payload: Uint8Array, ttl?: number): void
  close(sock: SocketId): boolean
  closeAll(): void
}

export interface TimerPort {
  /** Arm or move `timer`; at most one `TimerFired` per arming. */
  set(timer: TimerId, at: Instant): void
  cancel(timer: TimerId): void
  closeAll(): void
}

/**
 * Read-only files for the TFTP server (`FileOpen`, `FileRead`, `FileClose`): `open` answers
 * `HostFileOpened` or `HostFileError` (a path that escapes `root` is `EACCES`), `read` one
 * `HostFileData` or `HostFileError`. `close` of a file still opening closes it once it opens.
 */
export interface FilePort {
  open(file: FileId, root: string, path: string): void
  read(file: FileId, offset: number, length: number): void
  close(file: FileId): void
  closeAll(): void
}

export interface Clock {
  now(): Instant
}

export interface Logger {
  enabled(level: LogLevel): boolean
  /** `flow`: which flow the line is about (the Effect logger adds it as annotations). */
  log(level: LogLevel, message: string, flow?: LogFlow): void
}

/** Makes a fresh port for one stack instance. */
export type PortFactory<P> = (report: Report) => P
