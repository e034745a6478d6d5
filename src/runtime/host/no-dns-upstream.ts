/**
 * "No DNS upstream" (`dnsUpstream: "none"`, config/network.ts): the session's host ports are
 * wrapped so that what the stack sends to the `NO_DNS_UPSTREAM` marker goes nowhere.
 *
 * Contract: with any other upstream the ports are returned as they are. With the marker, UDP
 * datagrams to it are dropped without a word to the guest (a dead server: the resolver times
 * out), and a TCP connect to it (DNS over TCP) is refused at once, as a host with nothing
 * listening on port 53 refuses it. Nothing else changes.
 */
import type { SocketId } from "../../effects/ids.ts"
import type { StackConfig } from "../../protocol/stack/config.ts"
import { isNoDnsUpstream } from "../config/network.ts"
import type { HostDeps } from "./session.ts"

export const withoutDnsUpstream = (config: StackConfig, deps: HostDeps): HostDeps => {
  if (!isNoDnsUpstream(config.dnsUpstream)) return deps
  const { clock } = deps
  return {
    ...deps,
    udp: (report) => {
      const port = deps.udp(report)
      return {
        open: (sock, family) => port.open(sock, family),
        send: (sock, to, data, ttl) => {
          if (!isNoDnsUpstream(to)) port.send(sock, to, data, ttl)
        },
        close: (sock) => port.close(sock),
        closeAll: () => port.closeAll(),
      }
    },
    tcp: (report) => {
      const port = deps.tcp(report)
      const refused = new Set<SocketId>()
      return {
        connect(sock, to) {
          if (!isNoDnsUpstream(to)) return port.connect(sock, to)
          refused.add(sock)
          // Reported from inside the call: the interpreter queues it (ports.ts).
          report({ _tag: "HostSocketError", now: clock.now(), sock, code: "ECONNREFUSED" })
          report({ _tag: "HostSocketClosed", now: clock.now(), sock })
        },
        write: (sock, data) => (refused.has(sock) ? undefined : port.write(sock, data)),
        shutdownWrite: (sock) => (refused.has(sock) ? undefined : port.shutdownWrite(sock)),
        setReading: (sock, reading) => (refused.has(sock) ? undefined : port.setReading(sock, reading)),
        reset: (sock) => (refused.has(sock) ? undefined : port.reset(sock)),
        close: (sock) => refused.delete(sock) || port.close(sock),
        closeAll: () => {
          refused.clear()
          port.closeAll()
        },
      }
    },
  }
}
