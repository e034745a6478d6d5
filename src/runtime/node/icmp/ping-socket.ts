/**
 * Host ICMP echo for the Node runtime: Linux's unprivileged "ping" socket
 * (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`, and the ICMPv6 twin), which Node lacks, through
 * the small N-API addon in `native/`.
 *
 * Contract:
 * - `openPingSocket` throws an Error with `.code` when the socket cannot be had: `EACCES` (or
 *   `EPERM`) when `net.ipv4.ping_group_range` excludes every group of this process (the Linux
 *   default "1 0" excludes even root), `EPROTONOSUPPORT`/`EAFNOSUPPORT` when the kernel lacks
 *   ping sockets or the family, `ENOADDON` when the addon is not built and cannot be built.
 *   Callers fall back (no forwarded echo) with one log line built from `.message`.
 * - With `local` (`--outbound-addr`, `--outbound-addr6`) the socket is bound to that address
 *   before any echo leaves, so every echo carries it as its source; an address this host does
 *   not have makes `openPingSocket` throw `EADDRNOTAVAIL` (`EINVAL` for another family).
 *   Without it the kernel picks the source per route. `localAddress()` reads the bound address
 *   back (getsockname) for tests.
 * - After a successful open nothing throws: `send` reports failures through the handlers,
 *   always asynchronously (never from inside `send`), and never after `close`.
 * - The kernel chooses the echo identifier (one per socket) and computes the checksum; only
 *   replies carrying this socket's identifier are delivered, so `sequence` and `payload` are
 *   what the peer echoed.
 * - `onUnreachable` reports an ICMP error the host received for one of our echoes (or a local
 *   routing refusal at send time). `to` is the echo's destination; the optional third argument
 *   carries the echo's sequence, the next-hop MTU and the address of the router that sent the
 *   error, when known (callers written against the two-argument form are unaffected).
 * - A socket that is garbage collected without `close` is closed by the addon's finalizer.
 *
 * When the addon is missing it is built once, synchronously, by `native/build.sh` (about a
 * second), unless `TSLIRP_PING_ADDON` names a prebuilt `.node` file to load instead.
 */
import { readFileSync } from "node:fs"
import { absurd } from "../../../effects/absurd.ts"
import type { HostUnreachableReason } from "../../../effects/event.ts"
import { errnoName, loadAddon } from "../addon.ts"
import { classifyIcmpError, classifySendError } from "./icmp-error.ts"

export interface UnreachableDetail {
  /** Sequence number of the echo that failed, when the error carried its header. */
  readonly sequence?: number
  /** For `fragmentation-needed`: the next-hop MTU. */
  readonly mtu?: number
  /** The router (or host) that sent the ICMP error. */
  readonly from?: string
}

export interface PingHandlers {
  onReply(from: string, sequence: number, payload: Uint8Array, ttl?: number): void
  onUnreachable(to: string, reason: HostUnreachableReason, detail?: UnreachableDetail): void
  onError(code: string): void
}

export interface PingSocket {
  /** Send an echo request. `ttl` (1..255) defaults to the host's. Never throws. */
  send(to: string, sequence: number, payload: Uint8Array, ttl?: number): void
  /** Close the socket. Idempotent; no handler is called afterwards. */
  close(): void
  /** The socket's local address (getsockname): the `local` it was opened with, else the
   *  wildcard until the kernel binds it. "" once closed. For tests. */
  localAddress(): string
}

/** An Error with an errno-style `.code`, as Node's own errors carry. */
export interface PingSocketError extends Error {
  readonly code: string
}

// ---- the addon's interface (see native/ping_socket.c) -------------------------------------

declare const nativeHandle: unique symbol
interface NativeHandle {
  readonly [nativeHandle]: true
}

/** reply: (0, from, sequence, ttl | -1, payload); error: (1, to, sequence | -1, -1, null,
 *  origin, icmpType, icmpCode, errno, info, offender). */
type NativeCallback = (
  kind: number,
  address: string,
  sequence: number,
  ttl: number,
  payload: Uint8Array | null,
  origin?: number,
  icmpType?: number,
  icmpCode?: number,
  errno?: number,
  info?: number,
  offender?: string,
) => void

interface PingAddon {
  open(family: 4 | 6, callback: NativeCallback, local?: string): NativeHandle | number
  send(handle: NativeHandle, to: string, sequence: number, payload: Uint8Array, ttl: number): number
  close(handle: NativeHandle): void
  localAddress?(handle: NativeHandle): string | number
}

let addon: PingAddon | undefined

const failure = (code: string, message: string): PingSocketError => {
  const err = new Error(message) as Error & { code: string }
  err.code = code
  return err
}

/** The addon's ping functions, loaded (and built) once. Throws `ENOADDON`. */
const pingAddon = (): PingAddon => {
  if (addon !== undefined) return addon
  const m = loadAddon()
  if (typeof m === "string") throw failure("ENOADDON", `ping socket addon unavailable (${m})`)
  if (typeof m["open"] !== "function" || typeof m["send"] !== "function") throw failure("ENOADDON", "ping socket addon lacks its ping functions (rebuild with native/build.sh)")
  addon = m as unknown as PingAddon
  return addon
}

/** Why the host refuses ping sockets, for the single log line the caller prints. */
const explainDenied = (code: string): string => {
  let range = "unknown"
  try {
    range = readFileSync("/proc/sys/net/ipv4/ping_group_range", "utf8").trim().replace(/\s+/g, " ")
  } catch {
    // Not Linux, or /proc not mounted: say what we know.
  }
  const groups = typeof process.getgroups === "function" ? process.getgroups().join(",") : "?"
  return `ping sockets refused (${code}): net.ipv4.ping_group_range is "${range}", our groups are ${groups}`
}

export const openPingSocket = (family: 4 | 6, handlers: PingHandlers, local?: string): PingSocket => {
  const native = pingAddon()
  let closed = false

  const onNative: NativeCallback = (kind, address, sequence, ttl, payload, origin, icmpType, icmpCode, errno, info, offender) => {
    if (closed) return
    if (kind === 0) {
      if (payload === null) return
      if (ttl >= 0) handlers.onReply(address, sequence, payload, ttl)
      else handlers.onReply(address, sequence, payload)
      return
    }
    const verdict = classifyIcmpError(origin ?? 0, icmpType ?? 0, icmpCode ?? 0, errno ?? 0, info ?? 0)
    switch (verdict._tag) {
      case "Unreachable": {
        const detail: { sequence?: number; mtu?: number; from?: string } = {}
        if (sequence >= 0) detail.sequence = sequence
        if (verdict.mtu !== undefined) detail.mtu = verdict.mtu
        if (offender !== undefined && offender !== "") detail.from = offender
        handlers.onUnreachable(address, verdict.reason, detail)
        return
      }
      case "Error":
        handlers.onError(verdict.errno === 0 ? "EIO" : errnoName(verdict.errno))
        return
      default:
        absurd(verdict)
    }
  }

  const opened = native.open(family, onNative, local)
  if (typeof opened === "number") {
    const code = errnoName(opened)
    const message =
      code === "EACCES" || code === "EPERM"
        ? explainDenied(code)
        : local !== undefined && (code === "EADDRNOTAVAIL" || code === "EINVAL")
          ? `cannot bind an IPv${family} ping socket to the outbound address ${local}: ${code}`
          : `cannot open an IPv${family} ping socket: ${code}`
    throw failure(code, message)
  }
  const handle = opened

  /** Report a failure of `send` after the caller's synchronous code has finished. */
  const later = (report: () => void): void => {
    queueMicrotask(() => {
      if (!closed) report()
    })
  }

  return {
    send(to, sequence, payload, ttl) {
      if (closed) return
      const errno = native.send(handle, to, sequence, payload, ttl ?? -1)
      if (errno === 0) return
      const verdict = classifySendError(errnoName(errno))
      switch (verdict._tag) {
        case "Unreachable":
          later(() => handlers.onUnreachable(to, verdict.reason, { sequence }))
          return
        case "Error":
          later(() => handlers.onError(verdict.code))
          return
        default:
          absurd(verdict)
      }
    },
    close() {
      if (closed) return
      closed = true
      native.close(handle)
    },
    localAddress() {
      if (closed || native.localAddress === undefined) return ""
      const got = native.localAddress(handle)
      return typeof got === "string" ? got : ""
    },
  }
}
