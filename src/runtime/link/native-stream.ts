/**
 * A stream socket read and written below Node's stream layer, through the tslirp addon
 * (`native/guest_stream.c`, in the same `.node` as the ping and UDP sockets): the guest link
 * (stream-link.ts) and the host TCP sockets (../node/tcp.ts).
 *
 * Why: a guest link sleeps between frames, and each wake-up through `net.Socket` pays for
 * `Readable.push`, the 'data' emission and a `Writable` cork/uncork/writev on top of the system
 * calls (measured in the latency bench, `npm run bench`). Here a poll handle on a duplicate of
 * the socket's descriptor reads and a plain writev(2) writes.
 *
 * Contract:
 * - `openNativeStream(socket, onRead, onEnd, maxRead?)` returns a `NativeStream`, or undefined when the
 *   addon or the socket's descriptor is unavailable (the caller then uses the socket's own
 *   stream). Node must never have read from the socket and never read from it later (accepted
 *   with `pauseOnConnect`, or paused before `connect`, and never resumed): only one reader may
 *   take bytes from the descriptor. The duplicate keeps the connection open until `close()`:
 *   call it when the socket closes. Never throws.
 * - `onRead(bytes)` gets each read, from the event loop: bytes nothing writes to again, the
 *   caller's to hand over (at most `maxRead` bytes, default 256 KiB; a small read is a view of a pool chunk, so keeping it keeps up to
 *   16 KiB alive; guest_stream.c); `onEnd(code)` once when the peer closes (`undefined`) or a read fails (the errno
 *   name); reading has stopped then.
 * - `writev(chunks)` writes what the socket's send buffer takes at once and returns the bytes
 *   written (the caller sends the rest through the socket's own stream, behind which every
 *   later write must then queue), or an errno name.
 * - `close()` is idempotent and closes the duplicate descriptor only.
 */
import type { Socket } from "node:net"
import { errnoName, loadAddon } from "../node/addon.ts"

declare const streamHandle: unique symbol
interface StreamHandle {
  readonly [streamHandle]: true
}

interface StreamAddon {
  streamOpen(fd: number, callback: (kind: number, value: Uint8Array | number) => void, maxRead?: number): StreamHandle | number
  streamWritev(handle: StreamHandle, chunks: ReadonlyArray<Uint8Array>): number
  streamPause(handle: StreamHandle, paused: boolean): void
  streamClose(handle: StreamHandle): void
}

export interface NativeStream {
  writev(chunks: ReadonlyArray<Uint8Array>): number | string
  pause(paused: boolean): void
  close(): void
}

const streamAddon = (): StreamAddon | undefined => {
  const addon = loadAddon()
  if (typeof addon === "string" || typeof addon["streamOpen"] !== "function") return undefined
  return addon as unknown as StreamAddon
}

/** The descriptor of an accepted unix or TCP socket (libuv's, exposed on Node's handle). */
const descriptorOf = (socket: Socket): number | undefined => {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  return typeof fd === "number" && fd >= 0 ? fd : undefined
}

export const openNativeStream = (
  socket: Socket,
  onRead: (bytes: Uint8Array) => void,
  onEnd: (code: string | undefined) => void,
  maxRead?: number,
): NativeStream | undefined => {
  // TSLIRP_NATIVE_LINK=0 keeps the guest link and host TCP on Node's streams (to measure, or to work around).
  if (process.env["TSLIRP_NATIVE_LINK"] === "0") return undefined
  const addon = streamAddon()
  const fd = descriptorOf(socket)
  if (addon === undefined || fd === undefined) return undefined
  const handle = addon.streamOpen(fd, (kind, value) => {
    if (kind === 0) onRead(value as Uint8Array)
    else onEnd(kind === 1 ? undefined : errnoName(value as number))
  }, maxRead)
  if (typeof handle === "number") return undefined
  let closed = false
  return {
    writev(chunks) {
      const n = addon.streamWritev(handle, chunks)
      return n < 0 ? errnoName(-n) : n
    },
    pause: (paused) => addon.streamPause(handle, paused),
    close() {
      if (closed) return
      closed = true
      addon.streamClose(handle)
    },
  }
}
