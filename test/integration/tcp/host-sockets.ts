/**
 * A minimal host side for the TCP tests: the TCP effects on real Node sockets (127.0.0.1),
 * timers on setTimeout, results reported back as events through `report`. The product's own
 * runtime lives in src/runtime; this one is small on purpose, so a failure here points at the
 * protocol code.
 */
import { connect, type Socket } from "node:net"
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { HostSocketClosed, HostSocketError, HostTcpConnected, HostTcpData, HostTcpEof, HostTcpWritten, TimerFired } from "../../../src/effects/event.ts"
import type { SocketId, TimerId } from "../../../src/effects/ids.ts"
import { instant, type Instant } from "../../../src/effects/instant.ts"

export type HostEvent = HostTcpConnected | HostTcpData | HostTcpEof | HostTcpWritten | HostSocketClosed | HostSocketError | TimerFired

export interface HostSockets {
  readonly now: () => Instant
  /** Carries out a TCP or timer effect; returns false for any other effect. */
  readonly perform: (e: StackEffect) => boolean
  readonly resets: () => number
  readonly close: () => void
}

export const hostSockets = (report: (ev: HostEvent) => void): HostSockets => {
  const t0 = performance.now()
  const now = (): Instant => instant(performance.now() - t0)
  const sockets = new Map<SocketId, Socket>()
  const timers = new Map<TimerId, NodeJS.Timeout>()
  let resets = 0
  const perform = (o: StackEffect): boolean => {
    switch (o._tag) {
      case "TcpConnect": {
        const sock = o.sock
        if (o.to.family === "unix" || o.to.family === "cmd") throw new Error("this harness connects to IP endpoints only")
        const s = connect({ host: o.to.address, port: o.to.port, allowHalfOpen: true })
        s.setNoDelay(true)
        sockets.set(sock, s)
        s.on("connect", () => report({ _tag: "HostTcpConnected", now: now(), sock }))
        s.on("data", (data: Buffer) => report({ _tag: "HostTcpData", now: now(), sock, data }))
        s.on("end", () => report({ _tag: "HostTcpEof", now: now(), sock }))
        s.on("error", (e: NodeJS.ErrnoException) => report({ _tag: "HostSocketError", now: now(), sock, code: e.code ?? "EIO" }))
        s.on("close", () => {
          sockets.delete(sock)
          report({ _tag: "HostSocketClosed", now: now(), sock })
        })
        return true
      }
      case "TcpWrite": {
        const n = o.chunks.reduce((k, c) => k + c.length, 0)
        const sock = o.sock
        const s = sockets.get(sock)
        for (const c of o.chunks.slice(0, -1)) s?.write(c)
        s?.write(o.chunks[o.chunks.length - 1]!, () => report({ _tag: "HostTcpWritten", now: now(), sock, bytes: n }))
        return true
      }
      case "TcpShutdownWrite":
        sockets.get(o.sock)?.end()
        return true
      case "TcpSetReading": {
        const s = sockets.get(o.sock)
        if (o.reading) s?.resume()
        else s?.pause()
        return true
      }
      case "TcpReset":
        resets++
        sockets.get(o.sock)?.resetAndDestroy()
        return true
      case "SocketClose":
        sockets.get(o.sock)?.destroySoon()
        return true
      case "SetTimer": {
        clearTimeout(timers.get(o.timer))
        const timer = o.timer
        timers.set(
          timer,
          setTimeout(() => {
            timers.delete(timer)
            report({ _tag: "TimerFired", now: now(), timer })
          }, Math.max(0, o.at - now())),
        )
        return true
      }
      case "CancelTimer":
        clearTimeout(timers.get(o.timer))
        timers.delete(o.timer)
        return true
      default:
        return false
    }
  }
  const close = (): void => {
    for (const t of timers.values()) clearTimeout(t)
    for (const s of sockets.values()) s.destroy()
  }
  return { now, perform, resets: () => resets, close }
}
