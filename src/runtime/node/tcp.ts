/**
 * Host TCP for one stack over `node:net`.
 *
 * - `allowHalfOpen` so the host's FIN is reported (`HostTcpEof`) without closing our side, and
 *   `TcpShutdownWrite` is `end()`: the two directions close independently, as TCP allows.
 * - `TcpSetReading` is pause/resume: flow control toward the guest.
 * - `HostTcpWritten` comes from each write's callback (the bytes reached the kernel); a write of
 *   several chunks is joined into one buffer, written once and reported once, for all its bytes.
 * - `TcpReset` is `resetAndDestroy()` (RST via SO_LINGER 0); `SocketClose` ends after queued
 *   data and destroys once flushed.
 * - Connect targets (guestfwd): an IP endpoint (from the outbound address, when one is set for
 *   its family: `--outbound-addr`), a unix socket path, or `cmd:COMMAND`, run by `/bin/sh -c`
 *   per connection with its stdin/stdout as the stream (reported connected once spawned; killed
 *   when the connection is reset or closed and its output has ended).
 * - Listeners (hostfwd, `TcpListen`): a `net.Server` on an IP endpoint ("" = any) or a unix
 *   path, `pauseOnConnect`, so an accepted client stays unread until the stack adopts it
 *   (`TcpAdopt`: it becomes an ordinary connected socket) or refuses it (`TcpRefuse`: reset).
 *   Its peer address is reported (none for a unix client).
 * Errors are reported with Node's errno name; Node then emits `close`, reported as
 * `HostSocketClosed`.
 */
import { spawn } from "node:child_process"
import { type Server, Socket, createServer } from "node:net"
import { Duplex } from "node:stream"
import type { ConnectTarget, HostBind, HostEndpoint } from "../../effects/address.ts"
import { describeTarget } from "../../effects/address.ts"
import type { SocketId } from "../../effects/ids.ts"
import type { Clock, Logger, Report, TcpPort } from "../host/ports.ts"

export interface NodeTcpOptions {
  /** Source addresses for host connections (`--outbound-addr`, `--outbound-addr6`). */
  readonly outbound4?: string
  readonly outbound6?: string
}

/** A connection's stream: a socket, or a command's stdin/stdout. */
type Stream = Socket | Duplex

const commandStream = (command: string, onSpawn: () => void): Duplex => {
  const child = spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "pipe", "inherit"] })
  const d = Duplex.from({ readable: child.stdout, writable: child.stdin })
  child.once("spawn", onSpawn)
  child.once("error", (err) => d.destroy(err))
  d.once("close", () => {
    if (child.exitCode === null && child.signalCode === null) child.kill()
  })
  return d
}

export const nodeTcp =
  (clock: Clock, logger: Logger, options: NodeTcpOptions = {}) =>
  (report: Report): TcpPort => {
    const socks = new Map<SocketId, Stream>()
    const servers = new Map<SocketId, Server>()
    /** Accepted clients the stack has not adopted or refused yet. */
    const pending = new Map<number, Socket>()
    let nextAccepted = 1
    let closedAll = false

    const forget = (sock: SocketId, s: Stream): void => {
      if (socks.get(sock) === s) socks.delete(sock)
    }

    /** Reports the stream's events as the socket `sock`'s. */
    const wire = (sock: SocketId, s: Stream, what: string): void => {
      socks.set(sock, s)
      if (s instanceof Socket) s.setNoDelay(true)
      s.on("data", (data: Buffer) => report({ _tag: "HostTcpData", now: clock.now(), sock, data }))
      s.on("end", () => report({ _tag: "HostTcpEof", now: clock.now(), sock }))
      s.on("error", (err: NodeJS.ErrnoException) => {
        logger.log("debug", `tcp socket ${sock} ${what}: ${err.code ?? err.message}`)
        report({ _tag: "HostSocketError", now: clock.now(), sock, code: err.code ?? "EIO" })
      })
      s.on("close", () => {
        forget(sock, s)
        if (!closedAll) report({ _tag: "HostSocketClosed", now: clock.now(), sock })
      })
    }

    const connected = (sock: SocketId) => () => report({ _tag: "HostTcpConnected", now: clock.now(), sock })

    const connect = (sock: SocketId, to: ConnectTarget): void => {
      const what = `to ${describeTarget(to)}`
      if (to.family === "cmd") {
        const d = commandStream(to.command, connected(sock))
        wire(sock, d, what)
        return
      }
      const s = new Socket({ allowHalfOpen: true })
      wire(sock, s, what)
      s.on("connect", connected(sock))
      if (to.family === "unix") s.connect({ path: to.path })
      else {
        const local = to.family === 6 ? options.outbound6 : options.outbound4
        s.connect({ host: to.address, port: to.port, family: to.family, ...(local === undefined ? {} : { localAddress: local }) })
      }
    }

    const listen = (sock: SocketId, bind: HostBind): void => {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true })
      servers.set(sock, server)
      server.on("connection", (client) => {
        if (servers.get(sock) !== server) return void client.destroy()
        const accepted = nextAccepted++
        pending.set(accepted, client)
        // A client that goes away before the stack answers is just forgotten.
        client.once("close", () => pending.delete(accepted))
        client.on("error", () => undefined)
        const peer: HostEndpoint | undefined =
          client.remoteAddress === undefined || client.remotePort === undefined
            ? undefined
            : { family: client.remoteFamily === "IPv6" ? 6 : 4, address: client.remoteAddress, port: client.remotePort }
        report({ _tag: "HostTcpAccepted", now: clock.now(), listener: sock, accepted, ...(peer === undefined ? {} : { peer }) })
      })
      server.on("error", (err: NodeJS.ErrnoException) => {
        logger.log("debug", `tcp listener ${sock} on ${describeTarget(bind)}: ${err.code ?? err.message}`)
        if (servers.get(sock) !== server) return
        servers.delete(sock)
        server.close()
        if (!closedAll) report({ _tag: "HostSocketError", now: clock.now(), sock, code: err.code ?? "EIO" })
      })
      server.on("listening", () => {
        const a = server.address()
        const port = a !== null && typeof a === "object" ? a.port : 0
        if (!closedAll) report({ _tag: "HostListening", now: clock.now(), sock, port })
      })
      if (bind.family === "unix") server.listen({ path: bind.path })
      else server.listen({ host: bind.address === "" ? (bind.family === 6 ? "::" : "0.0.0.0") : bind.address, port: bind.port, exclusive: true })
    }

    return {
      connect,
      listen,
      adopt(sock, accepted) {
        const client = pending.get(accepted)
        if (client === undefined || client.destroyed) {
          // Gone before it was adopted: the stack's connection toward the guest is reset.
          queueMicrotask(() => {
            report({ _tag: "HostSocketError", now: clock.now(), sock, code: "ECONNRESET" })
            report({ _tag: "HostSocketClosed", now: clock.now(), sock })
          })
          return
        }
        pending.delete(accepted)
        client.removeAllListeners("close")
        client.removeAllListeners("error")
        wire(sock, client, `from ${client.remoteAddress ?? "a unix client"}`)
        client.resume()
      },
      refuse(accepted) {
        const client = pending.get(accepted)
        if (client === undefined) return
        pending.delete(accepted)
        client.resetAndDestroy()
      },
      write(sock, chunks) {
        const s = socks.get(sock)
        if (s === undefined || s.destroyed || s.writableEnded || chunks.length === 0) return
        let bytes = 0
        for (const c of chunks) bytes += c.byteLength
        const done = (err: Error | null | undefined): void => {
          if (err == null) report({ _tag: "HostTcpWritten", now: clock.now(), sock, bytes })
        }
        // Several chunks are joined into one buffer and written once: each write() through Node's
        // stream layer costs more than copying a segment's payload (measured with iperf3 at MTU
        // 1500, where a TcpWrite carries dozens of 1448-byte views), and one buffer is one
        // allocation where dozens of write requests were garbage.
        s.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as ReadonlyArray<Uint8Array>, bytes), done)
      },
      shutdownWrite(sock) {
        const s = socks.get(sock)
        if (s !== undefined && !s.writableEnded) s.end()
      },
      setReading(sock, reading) {
        const s = socks.get(sock)
        if (s === undefined) return
        if (reading) s.resume()
        else s.pause()
      },
      reset(sock) {
        const s = socks.get(sock)
        if (s === undefined) return
        if (!(s instanceof Socket)) s.destroy()
        // resetAndDestroy needs a connected handle; before that, destroying is the same to the peer.
        else if (s.readyState === "opening" || s.pending) s.destroy()
        else s.resetAndDestroy()
      },
      close(sock) {
        const server = servers.get(sock)
        if (server !== undefined) {
          servers.delete(sock)
          server.close()
          return true
        }
        const s = socks.get(sock)
        if (s === undefined) return false
        socks.delete(sock)
        if (!(s instanceof Socket)) {
          s.end()
          s.once("finish", () => s.destroy())
        } else if (s.pending) s.destroy()
        else s.destroySoon()
        return true
      },
      closeAll() {
        closedAll = true
        for (const s of socks.values()) s.destroy()
        socks.clear()
        for (const server of servers.values()) server.close()
        servers.clear()
        for (const c of pending.values()) c.destroy()
        pending.clear()
      },
    }
  }
