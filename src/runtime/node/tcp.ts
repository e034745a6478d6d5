/**
 * Host TCP for one stack over `node:net`.
 *
 * - `allowHalfOpen` so the host's FIN is reported (`HostTcpEof`) without closing our side, and
 *   `TcpShutdownWrite` is `end()`: the two directions close independently, as TCP allows.
 * - `TcpSetReading` is pause/resume: flow control toward the guest.
 * - `HostTcpWritten` once per write, for all its bytes, when they reached the kernel.
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
 * - Below Node's streams when the addon is there (TSLIRP_NATIVE_TCP=0 turns it off for host TCP,
 *   TSLIRP_NATIVE_LINK=0 with the guest link's), for IP sockets only: those of `connect` and
 *   adopted clients of IP listeners. Unix sockets and commands stay on Node's streams (a unix
 *   target is rare and a command is pipes, not a socket). Node connects, shuts down, resets and
 *   closes the socket, but never reads it (it is paused before `connect`; an accepted client is
 *   paused from the start); a poll handle on a duplicate of its descriptor reads (its own until
 *   the peer's FIN, an error, a reset or `close`), at most 64 KiB per read as Node's streams
 *   do, and writes go straight to writev(2) while nothing waits in the socket's own stream (what
 *   the kernel does not take goes there, and later writes queue behind it until it drains). Once
 *   a socket is read natively Node never reads it, even after the native reader has stopped (so
 *   the peer's FIN is reported once). Why: a request/response exchange crosses a host socket
 *   twice, and Node's stream layer (Readable push and 'data', Writable, a write request object,
 *   the callback's tick) cost more than the system calls themselves (measured with `npm run
 *   bench`'s request/response rate). A write the kernel took whole is reported `HostTcpWritten`
 *   at once (queued by the interpreter, so reduced in the same batch), not a tick later. It was
 *   opt-in while it read 256 KiB at a time: each such read became one burst of 180 segments
 *   that overflowed the guest link's socket buffer and filled the connection's send bound at
 *   once, and bulk host->guest fell to 0.60x libslirp's. With 64 KiB reads the same transfer
 *   ran faster than on Node's streams, on less CPU (2.41 against 2.16 Gbit/s, 0.58 against 0.61
 *   CPUs, one run each, 2026-12-07).
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
import { type NativeStream, openNativeStream } from "../link/native-stream.ts"

export interface NodeTcpOptions {
  /** Source addresses for host connections (`--outbound-addr`, `--outbound-addr6`). */
  readonly outbound4?: string
  readonly outbound6?: string
}

/**
 * One native read of a host socket at most, as Node's streams read: each read becomes one burst
 * of segments to the guest (guest_stream.c says why larger reads cost more).
 */
const HOST_READ_BYTES = 64 * 1024

/** A connection's stream: a socket, or a command's stdin/stdout. */
type Stream = Socket | Duplex

/**
 * One host connection. `reader` says who reads it: "pending" until an IP socket is connected
 * (or adopted), then "native" (the addon's reader, `native` while it still reads) or "node"
 * (the stream's own 'data'); unix sockets and commands are "node" from the start.
 */
interface Conn {
  readonly s: Stream
  reader: "pending" | "native" | "node"
  native: NativeStream | undefined
  /** The stack's last `TcpSetReading` (true until it says otherwise). */
  reading: boolean
}

/** The bytes of `chunks` after the first `skip`, as one buffer. */
const rest = (chunks: ReadonlyArray<Uint8Array>, skip: number, bytes: number): Uint8Array => {
  const out = Buffer.allocUnsafe(bytes - skip)
  let at = 0
  for (const c of chunks) {
    if (skip >= c.length) {
      skip -= c.length
      continue
    }
    out.set(skip === 0 ? c : c.subarray(skip), at)
    at += c.length - skip
    skip = 0
  }
  return out
}

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
    const socks = new Map<SocketId, Conn>()
    const servers = new Map<SocketId, Server>()
    /** Accepted clients the stack has not adopted or refused yet. */
    const pending = new Map<number, Socket>()
    let nextAccepted = 1
    let closedAll = false
    const wantNative = process.env["TSLIRP_NATIVE_LINK"] !== "0" && process.env["TSLIRP_NATIVE_TCP"] !== "0"

    const forget = (sock: SocketId, c: Conn): void => {
      if (socks.get(sock) === c) socks.delete(sock)
    }
    /** Stop reading natively; the connection itself lives on in Node's descriptor. */
    const dropNative = (c: Conn): void => {
      c.native?.close()
      c.native = undefined
    }

    /**
     * Reports the stream's events as the socket `sock`'s. With `native`, nobody reads yet: the
     * reader is chosen by `startReading` once the socket is connected.
     */
    const wire = (sock: SocketId, s: Stream, what: string, native: boolean): Conn => {
      const c: Conn = { s, reader: native ? "pending" : "node", native: undefined, reading: true }
      socks.set(sock, c)
      if (s instanceof Socket) s.setNoDelay(true)
      // Paused before anything arrives, Node's stream never starts reading on its own.
      if (native) s.pause()
      else s.on("data", (data: Buffer) => report({ _tag: "HostTcpData", now: clock.now(), sock, data }))
      s.on("end", () => report({ _tag: "HostTcpEof", now: clock.now(), sock }))
      s.on("error", (err: NodeJS.ErrnoException) => {
        logger.log("debug", `tcp socket ${sock} ${what}: ${err.code ?? err.message}`)
        report({ _tag: "HostSocketError", now: clock.now(), sock, code: err.code ?? "EIO" })
      })
      s.on("close", () => {
        dropNative(c)
        forget(sock, c)
        if (!closedAll) report({ _tag: "HostSocketClosed", now: clock.now(), sock })
      })
      return c
    }

    /** A read or write below Node failed: reported like Node's own errors, then the socket goes. */
    const fail = (sock: SocketId, c: Conn, what: string, code: string): void => {
      logger.log("debug", `tcp socket ${sock} ${what}: ${code}`)
      dropNative(c)
      report({ _tag: "HostSocketError", now: clock.now(), sock, code })
      c.s.destroy()
    }

    /** A connected IP socket Node has never read: the addon's reader, or else Node's stream. */
    const startReading = (sock: SocketId, c: Conn, s: Socket, what: string): void => {
      if (c.reader !== "pending") return
      const onData = (data: Uint8Array): void => report({ _tag: "HostTcpData", now: clock.now(), sock, data })
      c.native = openNativeStream(s, onData, (code) => {
        if (code !== undefined) return fail(sock, c, what, code)
        dropNative(c)
        report({ _tag: "HostTcpEof", now: clock.now(), sock })
      }, HOST_READ_BYTES)
      if (c.native !== undefined) {
        c.reader = "native"
        if (!c.reading) c.native.pause(true)
        return
      }
      // No addon (or no descriptor): Node's own stream reads.
      c.reader = "node"
      s.on("data", onData)
      if (c.reading) s.resume()
    }

    const connected = (sock: SocketId) => () => report({ _tag: "HostTcpConnected", now: clock.now(), sock })

    const connect = (sock: SocketId, to: ConnectTarget): void => {
      const what = `to ${describeTarget(to)}`
      if (to.family === "cmd") {
        const d = commandStream(to.command, connected(sock))
        wire(sock, d, what, false)
        return
      }
      const s = new Socket({ allowHalfOpen: true })
      const c = wire(sock, s, what, wantNative && to.family !== "unix")
      s.on("connect", () => {
        startReading(sock, c, s, what)
        connected(sock)()
      })
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
        // Accepted with pauseOnConnect, Node has never read it: an IP client may be read natively.
        const what = `from ${client.remoteAddress ?? "a unix client"}`
        const ip = client.remoteAddress !== undefined
        const c = wire(sock, client, what, wantNative && ip)
        if (c.reader === "pending") startReading(sock, c, client, what)
        else client.resume()
      },
      refuse(accepted) {
        const client = pending.get(accepted)
        if (client === undefined) return
        pending.delete(accepted)
        client.resetAndDestroy()
      },
      write(sock, chunks) {
        const c = socks.get(sock)
        if (c === undefined) return
        const s = c.s
        if (s.destroyed || s.writableEnded || chunks.length === 0) return
        let bytes = 0
        for (const x of chunks) bytes += x.byteLength
        const done = (err: Error | null | undefined): void => {
          if (err == null) report({ _tag: "HostTcpWritten", now: clock.now(), sock, bytes })
        }
        const native = c.native
        if (native !== undefined && s.writableLength === 0) {
          // Nothing waits in Node's stream: the kernel first, the views as they are (no copy).
          const written = native.writev(chunks)
          if (typeof written === "string") return fail(sock, c, "write", written)
          if (written === bytes) return report({ _tag: "HostTcpWritten", now: clock.now(), sock, bytes })
          s.write(rest(chunks, written, bytes), done)
          return
        }
        // Several chunks are joined into one buffer and written once: each write() through Node's
        // stream layer costs more than copying a segment's payload (measured with iperf3 at MTU
        // 1500, where a TcpWrite carries dozens of 1448-byte views), and one buffer is one
        // allocation where dozens of write requests were garbage.
        s.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as ReadonlyArray<Uint8Array>, bytes), done)
      },
      shutdownWrite(sock) {
        const s = socks.get(sock)?.s
        if (s !== undefined && !s.writableEnded) s.end()
      },
      setReading(sock, reading) {
        const c = socks.get(sock)
        if (c === undefined) return
        c.reading = reading
        // Pending: applied when the reader is chosen. Native: Node's stream stays paused for good.
        if (c.reader === "native") c.native?.pause(!reading)
        else if (c.reader === "node") {
          if (reading) c.s.resume()
          else c.s.pause()
        }
      },
      reset(sock) {
        const c = socks.get(sock)
        if (c === undefined) return
        // Our duplicate descriptor first: the RST goes out when the last one closes.
        dropNative(c)
        const s = c.s
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
        const c = socks.get(sock)
        if (c === undefined) return false
        socks.delete(sock)
        // The stack has forgotten the socket: nothing more to read. Node's descriptor keeps the
        // connection until its queued data is out.
        dropNative(c)
        const s = c.s
        if (!(s instanceof Socket)) {
          s.end()
          s.once("finish", () => s.destroy())
        } else if (s.pending) s.destroy()
        else s.destroySoon()
        return true
      },
      closeAll() {
        closedAll = true
        for (const c of socks.values()) {
          dropNative(c)
          c.s.destroy()
        }
        socks.clear()
        for (const server of servers.values()) server.close()
        servers.clear()
        for (const c of pending.values()) c.destroy()
        pending.clear()
      },
    }
  }
