/**
 * The "trivial relay": the same QEMU tap + hub + stream/dgram path as tslirp, but the Node
 * process in the middle only moves bytes between two namespace guests (no stack). What it
 * reaches is a ceiling for any backend that sits behind one QEMU link in one Node process:
 * it includes the cost of a QEMU tap relay, the link's framing and Node's socket I/O, and
 * leaves out every bit of protocol work. (It has two QEMUs and two guest kernels on the path
 * where tslirp has one of each plus host sockets, so read it as an order of magnitude.)
 *
 * Contract: `startStreamRelay` listens on a unix socket, pairs the first two connections and
 * pipes each into the other (the 4-byte length framing survives a byte pipe unchanged);
 * `startDgramRelay` forwards each datagram from one QEMU to the other. `close` frees everything.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram"
import { createServer, type Socket } from "node:net"
import type { UdpEndpoint } from "../support/netns.ts"
import { freeUdpPort } from "../support/netns.ts"

export interface StreamRelay {
  readonly path: string
  close(): Promise<void>
}

export const startStreamRelay = async (path: string): Promise<StreamRelay> => {
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    sockets.push(socket)
    socket.on("error", () => socket.destroy())
    if (sockets.length === 1) socket.pause() // hold its frames until the other side is there
    if (sockets.length === 2) {
      const [a, b] = sockets
      if (a === undefined || b === undefined) return
      a.pipe(b)
      b.pipe(a)
      a.resume()
    }
    if (sockets.length > 2) socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(path, () => resolve())
  })
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

export interface DgramRelay {
  /** QEMU A's netdev endpoints (its local socket, and the relay socket it sends to). */
  readonly a: { readonly local: UdpEndpoint; readonly remote: UdpEndpoint }
  readonly b: { readonly local: UdpEndpoint; readonly remote: UdpEndpoint }
  close(): Promise<void>
}

const bindUdp = (port: number): Promise<UdpSocket> =>
  new Promise((resolve, reject) => {
    const s = createSocket({ type: "udp4", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 })
    s.once("error", reject)
    s.bind(port, "127.0.0.1", () => resolve(s))
  })

export const startDgramRelay = async (): Promise<DgramRelay> => {
  const host = "127.0.0.1"
  const [qa, qb] = [await freeUdpPort(), await freeUdpPort()]
  const ra = await bindUdp(0)
  const rb = await bindUdp(0)
  ra.on("message", (msg) => rb.send(msg, qb, host))
  rb.on("message", (msg) => ra.send(msg, qa, host))
  ra.on("error", () => undefined)
  rb.on("error", () => undefined)
  return {
    a: { local: { host, port: qa }, remote: { host, port: ra.address().port } },
    b: { local: { host, port: qb }, remote: { host, port: rb.address().port } },
    close: async () => {
      await Promise.all([ra, rb].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    },
  }
}
