/**
 * Host UDP for one stack over `node:dgram`: one unconnected socket per `UdpOpen`, bound to an
 * ephemeral port of the wildcard address, accepting datagrams from any remote.
 *
 * Errors the host reports for a send become `HostUnreachable` (ECONNREFUSED -> "port",
 * EHOSTUNREACH -> "host", ENETUNREACH -> "net", EACCES/EPERM -> "admin", EMSGSIZE ->
 * "fragmentation-needed"); any other error is `HostSocketError`. Linux only reports ICMP errors
 * on unconnected sockets through IP_RECVERR, which Node does not expose, so a silent remote
 * port stays silent (documented gap).
 * Sends issued before the bind completes are queued; the TTL is set per send when it differs.
 */
import { createSocket, type Socket } from "node:dgram"
import type { HostEndpoint } from "../../effects/address.ts"
import type { HostUnreachableReason } from "../../effects/event.ts"
import type { SocketId } from "../../effects/ids.ts"
import type { Clock, Logger, Report, UdpPort } from "../host/ports.ts"

interface Entry {
  readonly socket: Socket
  bound: boolean
  ttl: number | undefined
  readonly queued: Array<[HostEndpoint, Uint8Array, number | undefined]>
}

export const udpErrorReason = (code: string): HostUnreachableReason | undefined => {
  switch (code) {
    case "ECONNREFUSED":
      return "port"
    case "EHOSTUNREACH":
      return "host"
    case "ENETUNREACH":
      return "net"
    case "EACCES":
    case "EPERM":
      return "admin"
    case "EMSGSIZE":
      return "fragmentation-needed"
    default:
      return undefined
  }
}

export const nodeUdp =
  (clock: Clock, logger: Logger) =>
  (report: Report): UdpPort => {
    const socks = new Map<SocketId, Entry>()

    const failed = (sock: SocketId, to: HostEndpoint, err: NodeJS.ErrnoException): void => {
      const code = err.code ?? "EIO"
      const reason = udpErrorReason(code)
      logger.log("debug", `udp socket ${sock} send to ${to.address}:${to.port}: ${code}`)
      if (reason !== undefined) report({ _tag: "HostUnreachable", now: clock.now(), sock, to, reason })
      else report({ _tag: "HostSocketError", now: clock.now(), sock, code })
    }

    const sendNow = (sock: SocketId, e: Entry, to: HostEndpoint, data: Uint8Array, ttl: number | undefined): void => {
      if (ttl !== e.ttl) {
        try {
          e.socket.setTTL(ttl ?? 64)
          e.ttl = ttl
        } catch {
          // Unsupported TTL: the datagram goes with the host default.
        }
      }
      e.socket.send(data, to.port, to.address, (err) => {
        if (err != null && socks.get(sock) === e) failed(sock, to, err)
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
      open(sock, family) {
        close(sock)
        const socket = createSocket({ type: family === 6 ? "udp6" : "udp4" })
        const e: Entry = { socket, bound: false, ttl: undefined, queued: [] }
        socks.set(sock, e)
        socket.on("message", (data, rinfo) => {
          if (socks.get(sock) !== e) return
          const from: HostEndpoint = { family: rinfo.family === "IPv6" ? 6 : 4, address: rinfo.address, port: rinfo.port }
          report({ _tag: "HostUdpDatagram", now: clock.now(), sock, from, data })
        })
        socket.on("error", (err: NodeJS.ErrnoException) => {
          if (socks.get(sock) !== e) return
          report({ _tag: "HostSocketError", now: clock.now(), sock, code: err.code ?? "EIO" })
        })
        socket.bind({ port: 0, address: family === 6 ? "::" : "0.0.0.0", exclusive: true }, () => {
          e.bound = true
          for (const [to, data, ttl] of e.queued.splice(0)) sendNow(sock, e, to, data, ttl)
        })
      },
      send(sock, to, data, ttl) {
        const e = socks.get(sock)
        if (e === undefined) return
        if (!e.bound) e.queued.push([to, data, ttl])
        else sendNow(sock, e, to, data, ttl)
      },
      close,
      closeAll() {
        for (const sock of [...socks.keys()]) close(sock)
      },
    }
  }
