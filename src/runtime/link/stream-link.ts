/**
 * Guest links over a stream socket with QEMU's length-prefixed framing: a unix socket
 * (`-netdev stream,server=off,addr.type=unix,addr.path=P`) or a TCP listener
 * (`-netdev stream,server=off,addr.type=inet,...` and the older `-netdev socket,connect=`).
 *
 * Hot path: the frames of one read are decoded in place and handed to the guest's handlers
 * synchronously as one batch; frames for the guest queued during a batch go out corked, as one
 * writev, when the session flushes at the batch's end (same turn, no `nextTick`); frames the stack built carry their length prefix in the headroom
 * before them and adjacent ones leave as one uncopied chunk (ethernet/frame-buffer.ts; the
 * slab allocator is the runtime's `frameSlab`, the one the session passes to the stack).
 * The socket is read and written below Node's stream layer when the addon is there
 * (native-stream.ts: a poll handle on its descriptor, a plain writev; what the kernel does not
 * take at once goes through the socket's own stream), else through `net.Socket` as usual.
 * Backpressure: while the guest's socket is over its high-water mark we stop reading from it;
 * beyond `GUEST_QUEUE_LIMIT_BYTES` queued (host traffic keeps coming) frames are dropped.
 * A stale unix socket file is replaced; a live one (another server accepts on it) is refused
 * (unix-path.ts); the file is removed when the listener closes.
 */
import { lstatSync, unlinkSync } from "node:fs"
import { createServer, type Server, type Socket } from "node:net"
import type { Logger } from "../host/ports.ts"
import { type AcceptGuest, type GuestConnection, type GuestListener, GUEST_QUEUE_LIMIT_BYTES } from "./guest-link.ts"
import { LINK_HEADROOM } from "../../protocol/ethernet/frame-buffer.ts"
import { frameSlab } from "../host/session.ts"
import { StreamDecoder } from "./stream-framing.ts"
import { probeUnixPath } from "./unix-path.ts"
import { type NativeStream, openNativeStream } from "./native-stream.ts"

/** Frames for the guest still queued in this process beyond which we stop reading its frames. */
const PAUSE_QUEUED_BYTES = 256 * 1024

// A whole-slab view for writing prefixes, kept for the slab frames are currently cut from.
let slabBuffer: ArrayBufferLike | undefined
let slabView: Uint8Array<ArrayBufferLike> = new Uint8Array(0)

const serveConnection = (socket: Socket, peer: string, accept: AcceptGuest, logger: Logger): GuestConnection => {
  // Frames for the guest queued during the session's current batch; flushed as one writev.
  let queued: Array<Uint8Array> = []
  let queuedBytes = 0
  let dropped = 0
  // The chunks of one flush (prefixed runs and copied frames), reused between flushes.
  const out: Array<Uint8Array> = []
  let native: NativeStream | undefined
  // Why the link failed, for `onClose` (undefined: the guest simply closed its end).
  let failure: string | undefined
  let readingPaused = false
  const pauseReading = (): void => {
    // The guest is not keeping up with what we send it: stop reading its frames until it
    // drains ours (QEMU then holds its NIC's transmit queue), instead of dropping.
    if (readingPaused) return
    readingPaused = true
    if (native !== undefined) native.pause(true)
    else socket.pause()
    socket.once("drain", () => {
      readingPaused = false
      if (native !== undefined) native.pause(false)
      else socket.resume()
    })
  }
  /** Writes `out` through the socket's own stream, corked: one writev. */
  const writeStream = (from: number, skip: number): boolean => {
    socket.cork()
    let ok = true
    for (let i = from; i < out.length; i++) ok = socket.write(i === from && skip > 0 ? out[i]!.subarray(skip) : out[i]!)
    socket.uncork()
    return ok
  }
  const flush = (): void => {
    const frames = queued
    queued = []
    queuedBytes = 0
    if (socket.destroyed || socket.writableEnded) return
    // Frames the stack built have room for the prefix in front (ethernet/frame-buffer.ts):
    // the prefix is written there and runs of adjacent frames go out as one uncopied chunk.
    // Other frames (ARP, tests) are copied behind their prefix.
    let runBuffer: ArrayBufferLike | undefined
    let runStart = 0
    let runEnd = 0
    out.length = 0
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!
      const n = f.length
      // One read of `f.buffer` per frame (a call into the engine); the allocator's slab check
      // only when the frame is in another slab than the one before.
      const b = f.buffer
      if (!(b === slabBuffer ? f.byteOffset >= LINK_HEADROOM : frameSlab.hasLinkHeadroom(f, b))) {
        if (runBuffer !== undefined) out.push(new Uint8Array(runBuffer, runStart, runEnd - runStart))
        runBuffer = undefined
        const copy = Buffer.allocUnsafe(4 + n)
        copy.writeUInt32BE(n, 0)
        copy.set(f, 4)
        out.push(copy)
        continue
      }
      const at = f.byteOffset - LINK_HEADROOM
      if (b !== slabBuffer) {
        slabBuffer = b
        slabView = new Uint8Array(b)
      }
      slabView[at] = n >>> 24
      slabView[at + 1] = (n >>> 16) & 0xff
      slabView[at + 2] = (n >>> 8) & 0xff
      slabView[at + 3] = n & 0xff
      if (runBuffer === b && runEnd === at) {
        runEnd = at + 4 + n
        continue
      }
      if (runBuffer !== undefined) out.push(new Uint8Array(runBuffer, runStart, runEnd - runStart))
      runBuffer = b
      runStart = at
      runEnd = at + 4 + n
    }
    if (runBuffer !== undefined) out.push(new Uint8Array(runBuffer, runStart, runEnd - runStart))
    let ok: boolean
    if (native !== undefined && socket.writableLength === 0) {
      // Nothing waits in the socket's stream: write directly; what the kernel does not take
      // now goes to the stream, and later flushes queue behind it there until it drains.
      const written = native.writev(out)
      if (typeof written === "string") {
        failure ??= written
        logger.log("debug", `guest ${peer}: ${written}; dropping the connection`)
        out.length = 0
        socket.destroy()
        return
      }
      let i = 0
      let skip = written
      while (i < out.length && skip >= out[i]!.length) skip -= out[i++]!.length
      ok = i === out.length ? true : writeStream(i, skip)
    } else {
      ok = writeStream(0, 0)
    }
    out.length = 0
    // `write` reports false for any batch over the high-water mark even when the kernel took
    // it all at once; only bytes still queued here mean the guest is behind.
    if (!ok && socket.writableLength >= PAUSE_QUEUED_BYTES) pauseReading()
  }
  const conn: GuestConnection = {
    peer,
    send(frame) {
      if (socket.destroyed || socket.writableEnded) return
      if (socket.writableLength + queuedBytes > GUEST_QUEUE_LIMIT_BYTES) {
        if (dropped++ === 0) logger.log("debug", `guest ${peer} is not reading: dropping frames`)
        return
      }
      dropped = 0
      // Kept by reference until the flush: a delivered frame is handed over, the (pure) stack
      // never writes to it again, and the guest's own buffers are fresh per read.
      queued.push(frame)
      queuedBytes += 4 + frame.length
    },
    flush() {
      if (queued.length > 0) flush()
    },
    close() {
      socket.destroy()
    },
  }
  const handlers = accept(conn)
  const decoder = new StreamDecoder()
  const onFrame = (frame: Uint8Array): void => handlers.onFrame(frame)
  let chunk: Uint8Array | undefined
  let problem: string | undefined
  const decode = (): void => {
    problem = decoder.push(chunk!, onFrame)
  }
  const onData = (data: Uint8Array): void => {
    chunk = data
    handlers.batch(decode)
    chunk = undefined
    if (problem !== undefined) {
      failure ??= problem
      logger.log("warn", `guest ${peer}: ${problem}; dropping the connection`)
      socket.destroy()
    }
  }
  native = openNativeStream(socket, onData, (code) => {
    if (code !== undefined) {
      failure ??= code
      logger.log("debug", `guest ${peer}: ${code}`)
    }
    socket.destroy()
  })
  if (native === undefined) {
    socket.on("data", onData)
    // Accepted paused (`pauseOnConnect`, for the native reader): start the stream's own.
    socket.resume()
  }
  socket.on("error", (err: NodeJS.ErrnoException) => {
    failure ??= err.code ?? err.message
    logger.log("debug", `guest ${peer}: ${failure}`)
  })
  socket.on("close", () => {
    native?.close()
    handlers.onClose(failure)
  })
  return conn
}

/** Removes the socket file at `path`, if a socket is there (the control socket uses it too). */
export const removeStaleSocket = (path: string): void => {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path)
  } catch {
    // Does not exist: nothing to remove. Anything else (a regular file) makes listen fail clearly.
  }
}

const listenServer = (server: Server, listen: (cb: () => void) => void): Promise<void> =>
  new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err)
    server.once("error", onError)
    listen(() => {
      server.off("error", onError)
      resolve()
    })
  })

const startServer = async (
  kind: "unix" | "tcp",
  listen: (server: Server, cb: () => void) => void,
  describe: (server: Server) => string,
  accept: AcceptGuest,
  logger: Logger,
  cleanup: () => void,
): Promise<GuestListener> => {
  const sockets = new Set<Socket>()
  let next = 0
  const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
    const peer = kind === "unix" ? `${address}#${++next}` : `tcp:${socket.remoteAddress}:${socket.remotePort}`
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    serveConnection(socket, peer, accept, logger)
  })
  await listenServer(server, (cb) => listen(server, cb))
  const address = describe(server)
  server.on("error", (err) => logger.log("error", `listener ${address}: ${err.message}`))
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          cleanup()
          resolve()
        })
        for (const s of sockets) s.destroy()
      }),
  }
}

export const listenUnix = async (path: string, accept: AcceptGuest, logger: Logger): Promise<GuestListener> => {
  const state = await probeUnixPath(path)
  if (state._tag === "Refused") throw new Error(state.message)
  if (state._tag === "Stale") removeStaleSocket(path)
  return startServer(
    "unix",
    (server, cb) => server.listen(path, cb),
    () => `unix:${path}`,
    accept,
    logger,
    () => removeStaleSocket(path),
  )
}

export const listenTcp = (host: string, port: number, accept: AcceptGuest, logger: Logger): Promise<GuestListener> =>
  startServer(
    "tcp",
    (server, cb) => server.listen({ host, port, exclusive: true }, cb),
    (server) => {
      const a = server.address()
      if (a === null || typeof a === "string") return `tcp:${host}:${port}`
      return a.family === "IPv6" ? `tcp:[${a.address}]:${a.port}` : `tcp:${a.address}:${a.port}`
    },
    accept,
    logger,
    () => undefined,
  )
