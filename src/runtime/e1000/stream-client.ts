/**
 * A `-netdev stream` client: connects to a unix socket (or TCP address) served by `tslirp
 * --socket PATH` (or `--listen`) and speaks QEMU's framing, each frame preceded by its length as
 * a 4-byte big-endian number (stream-framing.ts, shared with the server side).
 *
 * Contract: the promise resolves once connected, or rejects with the connect error. Frames sent
 * while the socket's user-space queue is above `queueLimitBytes` are dropped (a NIC's wire does
 * not block; TCP in the guest recovers). A peer that breaks the framing is disconnected with a
 * warning. When the peer closes, `onClose` callbacks run once and nothing more is delivered.
 */
import { createConnection, type Socket } from "node:net"
import type { Logger } from "../host/ports.ts"
import { silentLogger } from "../host/logger.ts"
import { GUEST_QUEUE_LIMIT_BYTES } from "../link/guest-link.ts"
import { encodeFrame, StreamDecoder } from "../link/stream-framing.ts"
import type { FrameLink } from "./frame-link.ts"

export type StreamAddress =
  | { readonly path: string }
  | { readonly host: string; readonly port: number }

export interface StreamLinkOptions {
  readonly logger?: Logger
  readonly queueLimitBytes?: number
}

export const connectStreamLink = (address: StreamAddress, options: StreamLinkOptions = {}): Promise<FrameLink> => {
  const logger = options.logger ?? silentLogger
  const limit = options.queueLimitBytes ?? GUEST_QUEUE_LIMIT_BYTES
  const peer = "path" in address ? `unix:${address.path}` : `tcp:${address.host}:${address.port}`
  return new Promise((resolve, reject) => {
    const socket: Socket = "path" in address ? createConnection(address.path) : createConnection({ host: address.host, port: address.port, noDelay: true })
    socket.once("error", reject)
    socket.once("connect", () => {
      socket.off("error", reject)
      resolve(wrap(socket, peer, logger, limit))
    })
  })
}

const wrap = (socket: Socket, peer: string, logger: Logger, limit: number): FrameLink => {
  const frameCbs = new Set<(frame: Uint8Array) => void>()
  const closeCbs: Array<() => void> = []
  const decoder = new StreamDecoder()
  let closedByUs = false
  let dropped = 0
  const deliver = (frame: Uint8Array): void => {
    for (const cb of frameCbs) cb(frame)
  }
  socket.on("data", (chunk: Buffer) => {
    const problem = decoder.push(chunk, deliver)
    if (problem !== undefined) {
      logger.log("warn", `e1000 link ${peer}: ${problem}; disconnecting`)
      socket.destroy()
    }
  })
  socket.on("error", (err: NodeJS.ErrnoException) => logger.log("debug", `e1000 link ${peer}: ${err.code ?? err.message}`))
  socket.on("close", () => {
    frameCbs.clear()
    if (!closedByUs) for (const cb of closeCbs.splice(0)) cb()
  })
  return {
    send(frame) {
      if (socket.destroyed || socket.writableEnded) return
      if (socket.writableLength > limit) {
        if (dropped++ === 0) logger.log("debug", `e1000 link ${peer}: peer is not reading, dropping frames`)
        return
      }
      dropped = 0
      // One buffer per frame, prefix and copy together (the caller may reuse its frame).
      socket.write(encodeFrame(frame))
    },
    onFrame(cb) {
      frameCbs.add(cb)
      return () => void frameCbs.delete(cb)
    },
    onClose(cb) {
      closeCbs.push(cb)
    },
    close() {
      closedByUs = true
      frameCbs.clear()
      socket.destroy()
    },
  }
}
