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
 * Errors are reported with Node's errno name; Node then emits `close`, reported as
 * `HostSocketClosed`.
 */
import { Socket } from "node:net"
import type { SocketId } from "../../effects/ids.ts"
import type { Clock, Logger, Report, TcpPort } from "../host/ports.ts"

export const nodeTcp =
  (clock: Clock, logger: Logger) =>
  (report: Report): TcpPort => {
    const socks = new Map<SocketId, Socket>()
    let closedAll = false

    const forget = (sock: SocketId, s: Socket): void => {
      if (socks.get(sock) === s) socks.delete(sock)
    }

    return {
      connect(sock, to) {
        const s = new Socket({ allowHalfOpen: true })
        socks.set(sock, s)
        s.setNoDelay(true)
        s.on("connect", () => report({ _tag: "HostTcpConnected", now: clock.now(), sock }))
        s.on("data", (data: Buffer) => report({ _tag: "HostTcpData", now: clock.now(), sock, data }))
        s.on("end", () => report({ _tag: "HostTcpEof", now: clock.now(), sock }))
        s.on("error", (err: NodeJS.ErrnoException) => {
          logger.log("debug", `tcp socket ${sock} to ${to.address}:${to.port}: ${err.code ?? err.message}`)
          report({ _tag: "HostSocketError", now: clock.now(), sock, code: err.code ?? "EIO" })
        })
        s.on("close", () => {
          forget(sock, s)
          if (!closedAll) report({ _tag: "HostSocketClosed", now: clock.now(), sock })
        })
        s.connect({ host: to.address, port: to.port, family: to.family })
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
        // resetAndDestroy needs a connected handle; before that, destroying is the same to the peer.
        if (s.readyState === "opening" || s.pending) s.destroy()
        else s.resetAndDestroy()
      },
      close(sock) {
        const s = socks.get(sock)
        if (s === undefined) return false
        socks.delete(sock)
        if (s.pending) s.destroy()
        else s.destroySoon()
        return true
      },
      closeAll() {
        closedAll = true
        for (const s of socks.values()) s.destroy()
        socks.clear()
      },
    }
  }
