/**
 * Guest link over UDP datagrams, one Ethernet frame each (QEMU
 * `-netdev dgram,id=n,local.type=inet,local.host=H,local.port=P,remote.type=inet,...`).
 * We bind `local` and connect the socket to `remote` (QEMU's local address): one guest, one
 * stack, from start to close. Datagrams from any other address never reach us (the kernel
 * filters a connected socket; the sender is checked again here, debug log), so a stray sender
 * cannot inject frames. An ICMP error for a frame we sent (QEMU not listening yet) is an
 * `error` on a connected socket: logged at debug, the link carries on.
 */
import { createSocket } from "node:dgram"
import { lookup } from "node:dns/promises"
import { isIPv6 } from "node:net"
import type { Logger } from "../host/ports.ts"
import type { AcceptGuest, GuestListener } from "./guest-link.ts"
import { MAX_FRAME_LENGTH } from "./stream-framing.ts"

export interface UdpAddress {
  readonly host: string
  readonly port: number
}

const show = (a: UdpAddress): string => (isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)

/** Names are resolved once at start, so the sender check compares addresses. */
export const openUdpLink = async (local: UdpAddress, named: UdpAddress, accept: AcceptGuest, logger: Logger): Promise<GuestListener> => {
  const remote: UdpAddress = { host: (await lookup(named.host, { family: isIPv6(local.host) ? 6 : 4 })).address, port: named.port }
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: isIPv6(local.host) ? "udp6" : "udp4" })
    let closed = false
    const onBindError = (err: Error): void => reject(err)
    socket.once("error", onBindError)
    socket.bind({ address: local.host, port: local.port, exclusive: true }, () => {
      // Connected to QEMU's address: each send skips the per-datagram address lookup that
      // `send(frame, port, host)` does (a turn of the event loop per frame), and the kernel
      // itself drops datagrams from anyone else.
      socket.connect(remote.port, remote.host, () => {
        socket.off("error", onBindError)
        ready()
      })
    })
    const ready = (): void => {
      const bound = socket.address()
      const address = `udp:${show({ host: bound.address, port: bound.port })}->${show(remote)}`
      const handlers = accept({
        peer: `udp:${show(remote)}`,
        send(frame) {
          if (!closed) socket.send(frame)
        },
        flush() {
          // Each frame is its own datagram, sent at once.
        },
        close() {
          // The UDP link has no per-guest connection to drop; closing is the listener's job.
        },
      })
      socket.on("message", (frame, rinfo) => {
        if (rinfo.port !== remote.port || rinfo.address !== remote.host) {
          logger.log("debug", `udp link: dropping a datagram from ${rinfo.address}:${rinfo.port}, not the guest`)
          return
        }
        if (frame.length === 0 || frame.length > MAX_FRAME_LENGTH) return
        handlers.onFrame(frame)
      })
      // ECONNREFUSED etc. when QEMU is not (yet) listening: the guest is just not there.
      socket.on("error", (err: NodeJS.ErrnoException) => logger.log("debug", `udp link: ${err.code ?? err.message}`))
      resolve({
        address,
        close: () =>
          new Promise<void>((done) => {
            if (closed) return done()
            closed = true
            handlers.onClose()
            socket.close(() => done())
          }),
      })
    }
  })
}
