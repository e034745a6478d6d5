/**
 * Bytes each way of one session's UDP and ICMP echo flows, for `listConnections`, counted where
 * datagrams cross the host ports. The stack itself keeps no per-datagram counts on purpose: its
 * flow tables copy a flow at most once a second (flow-table.ts `touch`), and a count in the flow
 * would copy it, and a path of the table, on every datagram (measured: about 0.25-0.7 us on a
 * 6-9 us datagram). A TCP connection needs none of this: its counts come from its sequence
 * numbers.
 *
 * Contract:
 * - `toHost`: payload bytes handed to a host socket's `send` (UDP data, echo payload);
 *   `toGuest`: payload bytes a host socket reported (`HostUdpDatagram`, `HostIcmpEchoReply`).
 *   UDP and ICMP headers are not counted, as TCP's counts leave out its headers.
 * - An outbound flow is counted by its socket; a udp hostfwd peer by its listener socket and
 *   the peer's endpoint exactly as the port reported it (the stack sends back to that same
 *   endpoint object's address and port).
 * - A socket's counts go when the stack closes it. At most `MAX_PEERS` hostfwd peers are kept
 *   (the oldest first forgotten: a peer counted again starts from 0), so a listener flooded
 *   from many sources costs bounded memory.
 * Runtime side (mutable maps), but nothing from Node: `EmbeddedStack` uses it on any runtime.
 */
import type { HostEndpoint } from "../../effects/address.ts"
import type { SocketId } from "../../effects/ids.ts"
import type { IcmpPort, Report, UdpPort } from "../host/ports.ts"
import type { HostDeps } from "../host/session.ts"

export const MAX_PEERS = 4096

export interface Bytes {
  toHost: number
  toGuest: number
}

const peerKey = (listener: SocketId, peer: HostEndpoint): string => `${listener} ${peer.address} ${peer.port}`

export class DatagramBytes {
  private readonly flows = new Map<SocketId, Bytes>()
  private readonly peers = new Map<string, Bytes>()
  /** Sockets bound by udp hostfwd rules (their datagrams are counted per peer). */
  private readonly listeners = new Set<SocketId>()

  /** An outbound flow's counts (zeros when nothing crossed yet). */
  flow(sock: SocketId): Bytes {
    return this.flows.get(sock) ?? { toHost: 0, toGuest: 0 }
  }

  /** A udp hostfwd peer's counts. */
  peer(listener: SocketId, peer: HostEndpoint): Bytes {
    return this.peers.get(peerKey(listener, peer)) ?? { toHost: 0, toGuest: 0 }
  }

  private entry(sock: SocketId, peer: HostEndpoint | undefined): Bytes {
    if (peer === undefined || !this.listeners.has(sock)) {
      let b = this.flows.get(sock)
      if (b === undefined) this.flows.set(sock, (b = { toHost: 0, toGuest: 0 }))
      return b
    }
    const key = peerKey(sock, peer)
    let b = this.peers.get(key)
    if (b === undefined) {
      if (this.peers.size >= MAX_PEERS) this.peers.delete(this.peers.keys().next().value!)
      this.peers.set(key, (b = { toHost: 0, toGuest: 0 }))
    }
    return b
  }

  private forget(sock: SocketId): void {
    this.flows.delete(sock)
    if (!this.listeners.delete(sock)) return
    const prefix = `${sock} `
    for (const key of this.peers.keys()) if (key.startsWith(prefix)) this.peers.delete(key)
  }

  private clear(): void {
    this.flows.clear()
    this.peers.clear()
    this.listeners.clear()
  }

  /** A port's `close` and `closeAll`, forgetting the counts of what they close. */
  private closing(port: Pick<UdpPort, "close" | "closeAll">): Pick<UdpPort, "close" | "closeAll"> {
    return {
      close: (sock) => {
        this.forget(sock)
        return port.close(sock)
      },
      closeAll: () => {
        this.clear()
        port.closeAll()
      },
    }
  }

  /** `deps` whose UDP and ICMP ports count into this object; everything else untouched. */
  wrap(deps: HostDeps): HostDeps {
    return {
      ...deps,
      udp: (report: Report) => {
        const port = deps.udp((event) => {
          if (event._tag === "HostUdpDatagram") this.entry(event.sock, event.from).toGuest += event.data.length
          report(event)
        })
        const counted: UdpPort = {
          open: (sock, family) => port.open(sock, family),
          send: (sock, to, data, ttl) => {
            this.entry(sock, to).toHost += data.length
            port.send(sock, to, data, ttl)
          },
          ...this.closing(port),
        }
        const bind = port.bind?.bind(port)
        return bind === undefined
          ? counted
          : {
              ...counted,
              bind: (sock, at) => {
                this.listeners.add(sock)
                bind(sock, at)
              },
            }
      },
      icmp: (report: Report) => {
        const port = deps.icmp((event) => {
          if (event._tag === "HostIcmpEchoReply") this.entry(event.sock, undefined).toGuest += event.payload.length
          report(event)
        })
        const counted: IcmpPort = {
          open: (sock, family) => port.open(sock, family),
          send: (sock, to, sequence, payload, ttl) => {
            this.entry(sock, undefined).toHost += payload.length
            port.send(sock, to, sequence, payload, ttl)
          },
          ...this.closing(port),
        }
        return counted
      },
    }
  }
}
