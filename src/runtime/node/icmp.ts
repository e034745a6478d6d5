/**
 * Host ICMP echo for one stack, over the ping sockets of `./icmp/ping-socket.ts`.
 *
 * When the host forbids ping sockets (`ping_group_range`, missing addon) `IcmpOpen` is answered
 * with `HostSocketError` carrying the code, and the reason is logged once per process at warn
 * level (later refusals at debug), so a busy guest pinging away does not flood the log.
 *
 * With an outbound address (`outbound4` / `outbound6`: `--outbound-addr`, `--outbound-addr6`)
 * each ping socket is bound to the one of its family, so forwarded echoes leave from it. An
 * address this host lacks fails the open the same way (`HostSocketError` with
 * `EADDRNOTAVAIL`, the guest sees its echo answered unreachable), logged once like a refusal.
 */
import type { SocketId } from "../../effects/ids.ts"
import type { Clock, IcmpPort, Logger, Report } from "../host/ports.ts"
import { openPingSocket, type PingSocket } from "./icmp/ping-socket.ts"

let refusalLogged = false

/** Source addresses of the ping sockets; default: the kernel's choice per route. */
export interface NodeIcmpOptions {
  readonly outbound4?: string
  readonly outbound6?: string
}

export const nodeIcmp =
  (clock: Clock, logger: Logger, options: NodeIcmpOptions = {}) =>
  (report: Report): IcmpPort => {
    const socks = new Map<SocketId, PingSocket>()
    const close = (sock: SocketId): boolean => {
      const s = socks.get(sock)
      if (s === undefined) return false
      socks.delete(sock)
      s.close()
      return true
    }
    return {
      open(sock, family) {
        close(sock)
        try {
          const s = openPingSocket(family, {
            onReply: (from, sequence, payload, ttl) =>
              report(
                ttl === undefined
                  ? { _tag: "HostIcmpEchoReply", now: clock.now(), sock, from, sequence, payload }
                  : { _tag: "HostIcmpEchoReply", now: clock.now(), sock, from, sequence, payload, ttl },
              ),
            onUnreachable: (to, reason, detail) =>
              report({
                _tag: "HostUnreachable",
                now: clock.now(),
                sock,
                to: { family, address: to, port: 0 },
                reason,
                // The router that answered (traceroute shows it) and the next-hop MTU, when known.
                ...(detail?.mtu === undefined ? {} : { mtu: detail.mtu }),
                ...(detail?.from === undefined ? {} : { from: detail.from }),
              }),
            onError: (code) => report({ _tag: "HostSocketError", now: clock.now(), sock, code }),
          }, family === 6 ? options.outbound6 : options.outbound4)
          socks.set(sock, s)
        } catch (err) {
          const code = (err as { code?: unknown }).code
          const message = err instanceof Error ? err.message : String(err)
          logger.log(refusalLogged ? "debug" : "warn", `ICMP echo to the host network disabled: ${message}`)
          refusalLogged = true
          report({ _tag: "HostSocketError", now: clock.now(), sock, code: typeof code === "string" ? code : "EIO" })
        }
      },
      send(sock, to, sequence, payload, ttl) {
        socks.get(sock)?.send(to, sequence, payload, ttl)
      },
      close,
      closeAll() {
        for (const s of socks.values()) s.close()
        socks.clear()
      },
    }
  }
