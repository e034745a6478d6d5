/**
 * Host UDP for one stack: one unconnected socket per `UdpOpen`, bound to an ephemeral port of
 * the outbound address of its family (`--outbound-addr`, `--outbound-addr6`) or else of the
 * wildcard address, accepting datagrams from any remote. An outbound address this host lacks
 * fails the open with `HostSocketError` (`EADDRNOTAVAIL`), logged once per process at warn
 * level (later ones at debug); each datagram sent on the socket before that report (the one
 * the stack opened it for) becomes `HostUnreachable` "net" first, so the guest gets ICMP
 * network unreachable for it rather than silence.
 *
 * Two implementations behind one `UdpPort`:
 * - native (the default): the addon's sockets (`./udp-native.ts`) with `IP_RECVERR`, so every
 *   ICMP error the host receives for a forwarded datagram (port/host/net unreachable,
 *   fragmentation needed with the MTU, TTL exceeded) becomes `HostUnreachable` with the failed
 *   destination `to` and the router or host that sent it (`from`);
 * - `node:dgram`, when the addon cannot be loaded (one info line per process says why). Linux
 *   reports ICMP errors on unconnected sockets only through `IP_RECVERR`, so here a silent
 *   remote port stays silent; only send failures become `HostUnreachable`.
 * Send failures map the same way in both (`udpErrorReason`: ECONNREFUSED -> "port",
 * EHOSTUNREACH -> "host", ENETUNREACH -> "net", EACCES/EPERM -> "admin", EMSGSIZE ->
 * "fragmentation-needed"); a datagram lost to a full send queue (ENOBUFS, EAGAIN) is a debug
 * line, as loss on a busy link is; any other failure is `HostSocketError`.
 * The TTL (`UdpSend.ttl`) applies to that one datagram.
 *
 * udp hostfwd listeners (`UdpBind`) are `node:dgram` sockets bound to the rule's address, in
 * either implementation (`withListeners`): datagrams from any peer are reported, `UdpSend`
 * answers from the bound address.
 */
import { createSocket, type Socket } from "node:dgram"
import type { HostEndpoint, IpFamily } from "../../effects/address.ts"
import type { SocketId } from "../../effects/ids.ts"
import type { Clock, Logger, Report, UdpPort } from "../host/ports.ts"
import { loadUdpAddon, openNativeUdpSocket, udpErrorReason, type NativeUdpSocket, type UdpAddon } from "./udp-native.ts"

export { udpErrorReason } from "./udp-native.ts"

export interface NodeUdpOptions {
  /** "auto" (default): the addon when it loads, else node:dgram. */
  readonly backend?: "auto" | "native" | "dgram"
  /** Source addresses of the flows' sockets (`--outbound-addr`, `--outbound-addr6`). */
  readonly outbound4?: string
  readonly outbound6?: string
}

/** Send failures that mean "this datagram was lost", not "this socket is broken". */
const isTransient = (code: string): boolean => code === "ENOBUFS" || code === "EAGAIN" || code === "EWOULDBLOCK"

/** Report a failed send to `to` with its errno name. */
const sendFailure = (clock: Clock, logger: Logger, report: Report, sock: SocketId, to: HostEndpoint, code: string): void => {
  const reason = udpErrorReason(code)
  logger.log("debug", `udp socket ${sock} send to ${to.address}:${to.port}: ${code}`)
  if (reason !== undefined) report({ _tag: "HostUnreachable", now: clock.now(), sock, to, reason })
  else if (!isTransient(code)) report({ _tag: "HostSocketError", now: clock.now(), sock, code })
}

/**
 * A datagram for a socket that could not be opened or bound: the guest hears "network
 * unreachable" for it (libslirp answers a failed sendto the same way), instead of silence.
 */
const unsent = (clock: Clock, logger: Logger, report: Report, sock: SocketId, to: HostEndpoint): void => {
  logger.log("debug", `udp socket ${sock}: datagram to ${to.address}:${to.port} not sent: the socket could not be opened`)
  report({ _tag: "HostUnreachable", now: clock.now(), sock, to, reason: "net" })
}

let openFailureLogged = false

/** A socket that could not be had: a bad outbound address is said once at `level` (warn), then
 *  at debug, so a guest sending to many ports does not flood the log. */
const logOpenFailure = (logger: Logger, level: "warn" | "debug", message: string): void => {
  logger.log(openFailureLogged ? "debug" : level, message)
  if (level === "warn") openFailureLogged = true
}

// ---- native: the addon's sockets with IP_RECVERR ------------------------------------------

/** `addon` as a string (why it is unavailable): every open fails with ENOADDON. */
const nativePort = (clock: Clock, logger: Logger, addon: UdpAddon | string, report: Report, options: NodeUdpOptions = {}): UdpPort => {
  const socks = new Map<SocketId, NativeUdpSocket>()

  /** Sockets whose open failed, with the errno name, until their failure is reported. */
  const failed = new Map<SocketId, string>()
  const failOpen = (sock: SocketId): void => {
    const code = failed.get(sock)
    if (code === undefined) return
    failed.delete(sock)
    report({ _tag: "HostSocketError", now: clock.now(), sock, code })
  }

  const close = (sock: SocketId): boolean => {
    failed.delete(sock)
    const s = socks.get(sock)
    if (s === undefined) return false
    socks.delete(sock)
    s.close()
    return true
  }

  return {
    open(sock, family) {
      close(sock)
      const endpoint = (address: string, port: number): HostEndpoint => ({ family, address, port })
      try {
        const s = openNativeUdpSocket(
          family,
          {
            onMessage: (address, port, data) =>
              report({ _tag: "HostUdpDatagram", now: clock.now(), sock, from: endpoint(address, port), data }),
            onUnreachable: (address, port, reason, detail) => {
              if (logger.enabled("debug")) {
                logger.log("debug", `udp socket ${sock}: ${reason} for ${address}:${port}${detail.from === undefined ? "" : ` from ${detail.from}`}`)
              }
              report({
                _tag: "HostUnreachable",
                now: clock.now(),
                sock,
                to: endpoint(address, port),
                reason,
                ...(detail.mtu === undefined ? {} : { mtu: detail.mtu }),
                ...(detail.from === undefined ? {} : { from: detail.from }),
              })
            },
            onSendError: (address, port, code) => sendFailure(clock, logger, report, sock, endpoint(address, port), code),
            onNotice: (message) => logger.log("debug", `udp socket ${sock}: ${message}`),
          },
          addon,
          family === 6 ? options.outbound6 : options.outbound4,
        )
        socks.set(sock, s)
      } catch (err) {
        const code = (err as { code?: unknown }).code
        const message = `udp socket ${sock}: open failed: ${err instanceof Error ? err.message : String(err)}`
        logOpenFailure(logger, code === "EADDRNOTAVAIL" || code === "EINVAL" ? "warn" : "debug", message)
        // The stack opens a socket for a datagram it is about to send: that send (next, in the
        // same batch of effects) is answered first, then the socket's failure ends the flow.
        failed.set(sock, typeof code === "string" ? code : "EIO")
        queueMicrotask(() => failOpen(sock))
      }
    },
    send(sock, to, data, ttl) {
      const s = socks.get(sock)
      if (s !== undefined) s.send(to.address, to.port, data, ttl)
      else if (failed.has(sock)) unsent(clock, logger, report, sock, to)
    },
    close,
    closeAll() {
      for (const s of socks.values()) s.close()
      socks.clear()
      failed.clear()
    },
  }
}

// ---- fallback: node:dgram ---------------------------------------------------------------

interface DgramEntry {
  readonly socket: Socket
  bound: boolean
  /** The bind failed: datagrams for it are answered as unreachable (`unsent`). */
  failed: boolean
  ttl: number | undefined
  readonly queued: Array<[HostEndpoint, Uint8Array, number | undefined]>
}

const dgramPort = (clock: Clock, logger: Logger, report: Report, options: NodeUdpOptions = {}): UdpPort => {
  const socks = new Map<SocketId, DgramEntry>()

  const sendNow = (sock: SocketId, e: DgramEntry, to: HostEndpoint, data: Uint8Array, ttl: number | undefined): void => {
    if (ttl !== e.ttl) {
      try {
        e.socket.setTTL(ttl ?? 64)
        e.ttl = ttl
      } catch {
        // Unsupported TTL: the datagram goes with the host default.
      }
    }
    e.socket.send(data, to.port, to.address, (err: NodeJS.ErrnoException | null) => {
      if (err != null && socks.get(sock) === e) sendFailure(clock, logger, report, sock, to, err.code ?? "EIO")
    })
  }

  const close = (sock: SocketId): boolean => {
    const e = socks.get(sock)
    if (e === undefined) return false
    socks.delete(sock)
    try {
      e.socket.close()
    } catch {
      // Already closed.
    }
    return true
  }

  return {
    open(sock, family: IpFamily) {
      close(sock)
      const socket = createSocket({ type: family === 6 ? "udp6" : "udp4" })
      const e: DgramEntry = { socket, bound: false, failed: false, ttl: undefined, queued: [] }
      socks.set(sock, e)
      socket.on("message", (data, rinfo) => {
        if (socks.get(sock) !== e) return
        const from: HostEndpoint = { family: rinfo.family === "IPv6" ? 6 : 4, address: rinfo.address, port: rinfo.port }
        report({ _tag: "HostUdpDatagram", now: clock.now(), sock, from, data })
      })
      socket.on("error", (err: NodeJS.ErrnoException) => {
        if (socks.get(sock) !== e) return
        if (!e.bound) {
          logOpenFailure(logger, "warn", `udp socket ${sock}: bind failed: ${err.code ?? err.message}`)
          // The datagrams that waited for the bind are answered before the flow ends.
          e.failed = true
          for (const [to] of e.queued.splice(0)) unsent(clock, logger, report, sock, to)
        }
        report({ _tag: "HostSocketError", now: clock.now(), sock, code: err.code ?? "EIO" })
      })
      const local = family === 6 ? (options.outbound6 ?? "::") : (options.outbound4 ?? "0.0.0.0")
      socket.bind({ port: 0, address: local, exclusive: true }, () => {
        e.bound = true
        for (const [to, data, ttl] of e.queued.splice(0)) sendNow(sock, e, to, data, ttl)
      })
    },
    send(sock, to, data, ttl) {
      const e = socks.get(sock)
      if (e === undefined) return
      if (e.failed) unsent(clock, logger, report, sock, to)
      else if (!e.bound) e.queued.push([to, data, ttl])
      else sendNow(sock, e, to, data, ttl)
    },
    close,
    closeAll() {
      for (const sock of [...socks.keys()]) close(sock)
    },
  }
}

// ---- hostfwd listeners ------------------------------------------------------------------

/** Adds `bind` (udp hostfwd listeners on node:dgram) to a port. */
const withListeners = (clock: Clock, logger: Logger, report: Report, port: UdpPort): UdpPort => {
  const listeners = new Map<SocketId, Socket>()
  const closeListener = (sock: SocketId): boolean => {
    const s = listeners.get(sock)
    if (s === undefined) return false
    listeners.delete(sock)
    try {
      s.close()
    } catch {
      // Already closed.
    }
    return true
  }
  return {
    open: (sock, family) => port.open(sock, family),
    bind(sock, at) {
      closeListener(sock)
      const socket = createSocket({ type: at.family === 6 ? "udp6" : "udp4" })
      listeners.set(sock, socket)
      socket.on("message", (data, rinfo) => {
        if (listeners.get(sock) !== socket) return
        report({ _tag: "HostUdpDatagram", now: clock.now(), sock, from: { family: rinfo.family === "IPv6" ? 6 : 4, address: rinfo.address, port: rinfo.port }, data })
      })
      socket.on("error", (err: NodeJS.ErrnoException) => {
        if (listeners.get(sock) !== socket) return
        listeners.delete(sock)
        logger.log("debug", `udp listener ${sock}: ${err.code ?? err.message}`)
        report({ _tag: "HostSocketError", now: clock.now(), sock, code: err.code ?? "EIO" })
      })
      socket.bind({ port: at.port, address: at.address === "" ? (at.family === 6 ? "::" : "0.0.0.0") : at.address, exclusive: true }, () => {
        if (listeners.get(sock) === socket) report({ _tag: "HostListening", now: clock.now(), sock, port: socket.address().port })
      })
    },
    send(sock, to, data, ttl) {
      const l = listeners.get(sock)
      if (l === undefined) return port.send(sock, to, data, ttl)
      l.send(data, to.port, to.address, (err: NodeJS.ErrnoException | null) => {
        if (err != null && listeners.get(sock) === l) sendFailure(clock, logger, report, sock, to, err.code ?? "EIO")
      })
    },
    close: (sock) => closeListener(sock) || port.close(sock),
    closeAll() {
      for (const sock of [...listeners.keys()]) closeListener(sock)
      port.closeAll()
    },
  }
}

// ---- choosing ---------------------------------------------------------------------------

let fallbackLogged = false

export const nodeUdp =
  (clock: Clock, logger: Logger, options: NodeUdpOptions = {}) =>
  (report: Report): UdpPort =>
    withListeners(clock, logger, report, chooseUdp(clock, logger, options, report))

const chooseUdp = (clock: Clock, logger: Logger, options: NodeUdpOptions, report: Report): UdpPort => {
  const backend = options.backend ?? "auto"
  if (backend === "dgram") return dgramPort(clock, logger, report, options)
  const addon = loadUdpAddon()
  if (typeof addon !== "string") return nativePort(clock, logger, addon, report, options)
  if (backend === "native") {
    // Asked for explicitly: every open fails with the reason, rather than a silent downgrade.
    logger.log("warn", `udp: ${addon}`)
    return nativePort(clock, logger, addon, report, options)
  }
  if (!fallbackLogged) {
    fallbackLogged = true
    logger.log("info", `udp: ${addon}; using node:dgram, so ICMP errors from the host network are not forwarded to guests`)
  }
  return dgramPort(clock, logger, report, options)
}
