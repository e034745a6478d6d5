/**
 * The control socket (`--api-socket PATH`): a unix stream socket speaking slirp4netns's protocol
 * (request.ts, reply.ts), one request and one reply per connection, run against a
 * `ForwardControl` (execute.ts).
 *
 * Contract:
 * - Nothing a client does stops the network or another client: every connection is handled on
 *   its own, asynchronously (slirp4netns "stops the world" per request; we do not). A request
 *   must arrive within `requestTimeoutMs` of connecting, be answered by forwarding within that
 *   same time from connecting, and its reply be taken within as long again; otherwise the
 *   client gets an error reply saying which (when it can still take one) and is dropped. At most
 *   `maxClients` connections are open at once, more are closed on arrival (logged). Requests of
 *   `MAX_REQUEST_BYTES` or more get slirp4netns's "too large message" and are cut off. After
 *   its reply a client has `CLOSE_GRACE_MS` to shut down its side before we close.
 * - Every request and its outcome is logged at debug, every refused connection at warn; a
 *   client's socket errors are logged at debug and close only that client.
 * - The socket file: a live one (another server accepts there) is refused, a stale one replaced
 *   (unix-path.ts, as for `--socket`); ours is made owner-only (0600: a client can expose guest
 *   ports on the host); `close()` stops listening, drops every client and removes the file.
 */
import { chmodSync } from "node:fs"
import { createServer, type Socket } from "node:net"
import type { Logger } from "../host/ports.ts"
import { removeStaleSocket } from "../link/stream-link.ts"
import { probeUnixPath } from "../link/unix-path.ts"
import { commandName, executeRequest } from "./execute.ts"
import type { ForwardControl } from "./forward-control.ts"
import { errorReply } from "./reply.ts"
import { DESC_TOO_LARGE, MAX_REQUEST_BYTES, parseApiRequest, readStep } from "./request.ts"

export interface ApiServerOptions {
  readonly path: string
  readonly control: ForwardControl
  readonly logger: Logger
  /** How long a client has to send its request, and then to take its reply (10 s). */
  readonly requestTimeoutMs?: number
  /** Connections open at once (32); slirp4netns serves one at a time. */
  readonly maxClients?: number
}

export interface ApiServer {
  readonly path: string
  readonly close: () => Promise<void>
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
const DEFAULT_MAX_CLIENTS = 32
/** How long a client that has its reply may take to shut down its side before we close. */
const CLOSE_GRACE_MS = 1_000

/** What a log line shows of a request: its text, cut short and on one line. */
const shown = (text: string): string => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > 300 ? `${line.slice(0, 300)}...` : line
}

const serveClient = (socket: Socket, name: string, options: ApiServerOptions, timeoutMs: number): void => {
  const { logger, control } = options
  const chunks: Array<Buffer> = []
  let size = 0
  // Reading the request, waiting for forwarding to run it, then writing the reply.
  let phase: "Reading" | "Executing" | "Replying" = "Reading"
  let executing = ""

  const send = (reply: string, flooding = false): void => {
    phase = "Replying"
    clearTimeout(deadline)
    if (socket.destroyed) return
    // The reply must be taken within the same bound; a client that never reads is dropped.
    const writeDeadline = setTimeout(() => {
      logger.log("debug", `api ${name}: reply not taken within ${timeoutMs} ms, dropped`)
      socket.destroy()
    }, timeoutMs)
    let grace: ReturnType<typeof setTimeout> | undefined
    socket.on("close", () => {
      clearTimeout(writeDeadline)
      clearTimeout(grace)
    })
    // Once written, the reply waits in the client's receive queue. Closing while bytes the
    // client sent after its request (a trailing newline) are still unread here would make
    // Linux report ECONNRESET to it after the reply instead of a clean end; so the client's own
    // shutdown is awaited (reads go on, discarded), for a moment. A flooding client is cut off
    // at once, as slirp4netns does.
    socket.end(reply, () => {
      if (flooding || socket.readableEnded) socket.destroy()
      else grace = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS)
    })
  }

  const answer = (text: string): void => {
    const parsed = parseApiRequest(text)
    if (parsed._tag === "Invalid") {
      logger.log("debug", `api ${name}: ${shown(text)} -> ${parsed.desc}`)
      send(errorReply(parsed.desc))
      return
    }
    phase = "Executing"
    executing = commandName(parsed.request)
    void executeRequest(control, parsed.request).then((reply) => {
      const late = phase === "Replying" ? " (too late: the client was told it timed out)" : ""
      logger.log(late === "" ? "debug" : "warn", `api ${name}: ${shown(text)} -> ${shown(reply)}${late}`)
      if (late === "") send(reply)
    })
  }

  const step = (ended: boolean): void => {
    if (phase !== "Reading") return
    const s = readStep(Buffer.concat(chunks, size), ended, MAX_REQUEST_BYTES)
    switch (s._tag) {
      case "NeedMore":
        return
      case "TooLarge":
        logger.log("debug", `api ${name}: ${size} bytes read, no request under ${MAX_REQUEST_BYTES} -> ${DESC_TOO_LARGE}`)
        return send(errorReply(DESC_TOO_LARGE), true)
      case "Complete":
        // Stop reading: one request per connection; the rest is the client's business.
        return answer(s.text)
    }
  }

  const deadline = setTimeout(() => {
    if (phase === "Executing") {
      // Forwarding has not answered (it should: a bind is quick). The client is told, and its
      // place freed; the change may still happen, which a list shows.
      logger.log("warn", `api ${name}: ${executing} not answered by forwarding within ${timeoutMs} ms`)
      return send(errorReply(`bad request: ${executing}: no answer within ${timeoutMs} ms (it may still take effect)`))
    }
    if (phase !== "Reading") return
    // What arrived is answered as slirp4netns's single read would answer it (usually "cannot
    // parse JSON"); nothing at all gets a reply saying why the connection ends.
    if (size > 0) step(true)
    else {
      logger.log("debug", `api ${name}: no request within ${timeoutMs} ms`)
      send(errorReply(`bad request: no request within ${timeoutMs} ms`))
    }
  }, timeoutMs)

  socket.on("data", (chunk: Buffer) => {
    if (phase !== "Reading") return
    chunks.push(chunk)
    size += chunk.length
    step(false)
  })
  socket.on("end", () => step(true))
  socket.on("error", (e) => logger.log("debug", `api ${name}: ${e.message}`))
  socket.on("close", () => clearTimeout(deadline))
}

/** Listens on `options.path`; rejects with a one-line `Error` when the path cannot be used. */
export const listenApiSocket = async (options: ApiServerOptions): Promise<ApiServer> => {
  const { path, logger } = options
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const state = await probeUnixPath(path)
  if (state._tag === "Refused") throw new Error(state.message)
  if (state._tag === "Stale") removeStaleSocket(path)
  const clients = new Set<Socket>()
  let next = 0
  // Half-open: a client shuts down its writing side to end its request (as slirp4netns asks),
  // and must still get the reply, written later.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const name = `#${++next}`
    clients.add(socket)
    socket.on("close", () => clients.delete(socket))
    serveClient(socket, name, options, timeoutMs)
  })
  server.maxConnections = options.maxClients ?? DEFAULT_MAX_CLIENTS
  server.on("drop", () => logger.log("warn", `api ${path}: ${server.maxConnections} clients already connected, one more refused`))
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(path, () => {
      server.off("error", reject)
      resolve()
    })
  })
  server.on("error", (e) => logger.log("error", `api ${path}: ${e.message}`))
  // Whoever can connect can expose guest ports on the host: the owner only, whatever the umask.
  try {
    chmodSync(path, 0o600)
  } catch (e) {
    logger.log("warn", `api ${path}: cannot make it owner-only: ${e instanceof Error ? e.message : String(e)}`)
  }
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          removeStaleSocket(path)
          resolve()
        })
        for (const c of clients) c.destroy()
      }),
  }
}
