/**
 * Unconnected host UDP sockets that report ICMP errors, through the tslirp addon in `native/`
 * (`udp_socket.c`, in the same `.node` as the ping sockets).
 *
 * Why not `node:dgram`: Linux reports ICMP errors for an unconnected UDP socket (port, host or
 * net unreachable, fragmentation needed, TTL exceeded) only through `IP_RECVERR` and the
 * socket's error queue, which Node does not expose.
 *
 * Contract:
 * - `loadUdpAddon()` returns the addon, or a reason it is unavailable (`ENOADDON`: not built
 *   and not buildable, or a prebuilt `.node` without the UDP half). It never throws. The
 *   addon is built once by `native/build.sh` when missing, unless `TSLIRP_PING_ADDON` names a
 *   prebuilt `.node` to load instead (the same override as the ping sockets: one addon).
 * - `openNativeUdpSocket` throws an Error with `.code` when the socket cannot be had
 *   (`ENOADDON`, `EMFILE`, ...). The socket is bound to an ephemeral port of `local`
 *   (`--outbound-addr`: `EADDRNOTAVAIL` when this host lacks it, `EINVAL` for another family),
 *   or of the wildcard address without it. After a successful open nothing throws, and no handler runs from inside a call:
 *   datagrams and ICMP errors come from the event loop, send failures in a microtask.
 * - `onUnreachable` reports an ICMP error the host received for a datagram sent to `to:port`
 *   (the original destination, from the error queue's `msg_name`); `detail.from` is the node
 *   that sent the ICMP error (`SO_EE_OFFENDER`), `detail.mtu` the next-hop MTU. A failed send
 *   that means the same (a local `unreachable` route) is reported the same way, without `from`.
 * - `onSendError` reports a send that failed for another reason, with its errno name
 *   (`ENOBUFS` when the bounded queue behind a full send buffer overflows: the datagram is lost).
 * - `onNotice` gets a short text for an error-queue report that is neither (ICMP parameter
 *   problem): worth a debug line, not an event.
 * - `close` is idempotent; nothing is reported after it. A socket that is garbage collected
 *   without `close` is closed by the addon's finalizer.
 */
import { absurd } from "../../effects/absurd.ts"
import type { HostUnreachableReason } from "../../effects/event.ts"
import { errnoName, loadAddon } from "./addon.ts"
import { classifyIcmpError, classifySendError } from "./icmp/icmp-error.ts"

export interface UdpUnreachableDetail {
  /** For `fragmentation-needed`: the next-hop MTU. */
  readonly mtu?: number
  /** The router (or host) that sent the ICMP error. */
  readonly from?: string
}

export interface NativeUdpHandlers {
  onMessage(from: string, fromPort: number, data: Uint8Array): void
  onUnreachable(to: string, toPort: number, reason: HostUnreachableReason, detail: UdpUnreachableDetail): void
  onSendError(to: string, toPort: number, code: string): void
  onNotice(message: string): void
}

export interface NativeUdpSocket {
  /** The bound port (0 once closed). */
  readonly localPort: number
  /** Send one datagram; `ttl` (1..255) for this datagram only, else the host default. Never throws. */
  send(to: string, port: number, data: Uint8Array, ttl?: number): void
  /** Close the socket. Idempotent; no handler is called afterwards. */
  close(): void
}

// ---- the addon's interface (see native/udp_socket.c) ---------------------------------------

declare const nativeHandle: unique symbol
interface NativeHandle {
  readonly [nativeHandle]: true
}

/** datagram: (0, from, port, data); ICMP error: (1, to, port, null, origin, type, code, errno,
 *  info, offender); queued send failed: (2, to, port, null, 0, 0, 0, errno, 0, ""). */
type NativeCallback = (
  kind: number,
  address: string,
  port: number,
  data: Uint8Array | null,
  origin?: number,
  icmpType?: number,
  icmpCode?: number,
  errno?: number,
  info?: number,
  offender?: string,
) => void

export interface UdpAddon {
  udpOpen(family: 4 | 6, callback: NativeCallback, local?: string): NativeHandle | number
  udpSend(handle: NativeHandle, to: string, port: number, data: Uint8Array, ttl: number): number
  udpLocalPort(handle: NativeHandle): number
  udpClose(handle: NativeHandle): void
}

let loaded: UdpAddon | string | undefined

/** The addon's UDP functions, or why they are unavailable. Loaded (and built) once. */
export const loadUdpAddon = (): UdpAddon | string => {
  if (loaded !== undefined) return loaded
  const m = loadAddon()
  if (typeof m === "string") loaded = `UDP socket addon unavailable (${m})`
  else if (typeof m["udpOpen"] !== "function" || typeof m["udpSend"] !== "function") {
    loaded = "UDP socket addon unavailable (the addon was built before udp_socket.c existed; rebuild with native/build.sh)"
  } else loaded = m as unknown as UdpAddon
  return loaded
}

/**
 * What the errno name of a failed UDP send means for the guest: routing refusals (see
 * `classifySendError`), a pending "port unreachable" (ECONNREFUSED; node:dgram reports it this
 * way) and a datagram larger than the path allows (EMSGSIZE). Anything else is not an
 * unreachability.
 */
export const udpErrorReason = (code: string): HostUnreachableReason | undefined => {
  switch (code) {
    case "ECONNREFUSED":
      return "port"
    case "EMSGSIZE":
      return "fragmentation-needed"
    default: {
      const verdict = classifySendError(code)
      return verdict._tag === "Unreachable" ? verdict.reason : undefined
    }
  }
}

const failure = (code: string, message: string): Error & { readonly code: string } => {
  const err = new Error(message) as Error & { code: string }
  err.code = code
  return err
}

export const openNativeUdpSocket = (family: 4 | 6, handlers: NativeUdpHandlers, addon: UdpAddon | string = loadUdpAddon(), local?: string): NativeUdpSocket => {
  if (typeof addon === "string") throw failure("ENOADDON", addon)
  let closed = false

  const onNative: NativeCallback = (kind, address, port, data, origin, icmpType, icmpCode, errno, info, offender) => {
    if (closed) return
    if (kind === 0) {
      if (data !== null) handlers.onMessage(address, port, data)
      return
    }
    if (kind === 2) {
      sendFailed(address, port, errnoName(errno ?? 0))
      return
    }
    const verdict = classifyIcmpError(origin ?? 0, icmpType ?? 0, icmpCode ?? 0, errno ?? 0, info ?? 0)
    switch (verdict._tag) {
      case "Unreachable": {
        const detail: { mtu?: number; from?: string } = {}
        if (verdict.mtu !== undefined) detail.mtu = verdict.mtu
        if (offender !== undefined && offender !== "") detail.from = offender
        handlers.onUnreachable(address, port, verdict.reason, detail)
        return
      }
      case "Error":
        handlers.onNotice(
          `ICMP error for ${address}:${port} from ${offender || "?"} ignored (type ${icmpType}, code ${icmpCode}, ${errnoName(verdict.errno)})`,
        )
        return
      default:
        absurd(verdict)
    }
  }

  /** A send failed: an unreachability when a router's ICMP error would have said the same. */
  const sendFailed = (to: string, port: number, code: string): void => {
    const reason = udpErrorReason(code)
    if (reason !== undefined) handlers.onUnreachable(to, port, reason, {})
    else handlers.onSendError(to, port, code)
  }

  const opened = addon.udpOpen(family, onNative, local)
  if (typeof opened === "number") {
    const code = errnoName(opened)
    throw failure(code, local === undefined ? `cannot open an IPv${family} UDP socket: ${code}` : `cannot open an IPv${family} UDP socket on the outbound address ${local}: ${code}`)
  }
  const handle = opened
  const port = addon.udpLocalPort(handle)
  const localPort = port > 0 ? port : 0

  return {
    get localPort() {
      return closed ? 0 : localPort
    },
    send(to, toPort, data, ttl) {
      if (closed) return
      const errno = addon.udpSend(handle, to, toPort, data, ttl ?? -1)
      if (errno === 0) return
      const code = errnoName(errno)
      queueMicrotask(() => {
        if (!closed) sendFailed(to, toPort, code)
      })
    },
    close() {
      if (closed) return
      closed = true
      addon.udpClose(handle)
    },
  }
}
