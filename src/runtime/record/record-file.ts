/**
 * `--record FILE`: a recorder (recorder.ts) whose bytes go to a file.
 *
 * What is encoded during one turn of the event loop is handed to the file at the end of the
 * turn (and at once when more than `FLUSH_BYTES` are waiting), so a crash loses at most the
 * last turns' events. Writes are asynchronous (`fs.writev` on libuv's thread pool, each at its
 * own file offset, so their order of completion does not matter): the event loop that moves
 * the guest's frames does not wait for the disk. The memory of a write is reused once it is
 * done. When more than `BACKLOG_BYTES` wait for the disk, writes become synchronous: the
 * recording slows the guest down rather than growing without bound. `close` writes the rest
 * synchronously; the file is closed, and its promise resolved, when the last write in flight
 * completes (the guest's session waits for it, so a stopped tslirp leaves whole recordings). The header is
 * written when the file opens. A write error stops the recording with one error line; it
 * never disturbs the guest.
 */
import { closeSync, openSync, writev, writevSync } from "node:fs"
import type { Logger } from "../host/ports.ts"
import { createRecorder, type Recorder, type RecorderOptions } from "./recorder.ts"

/** Handed to the file at once beyond this, so memory stays bounded during a long batch. */
const FLUSH_BYTES = 4 * 1024 * 1024
/** Bytes in flight to the disk beyond which writes wait (synchronous). */
const BACKLOG_BYTES = 64 * 1024 * 1024
/** writev takes at most IOV_MAX buffers per call. */
const IOV_MAX = 1024

export interface RecordFile extends Recorder {
  /** Writes the rest and closes the file; resolves once the writes in flight are done too. */
  close(): Promise<void>
}

export const openRecordFile = (path: string, logger: Logger, options: RecorderOptions): RecordFile => {
  let fd: number | undefined = openSync(path, "w")
  /** Where the next write goes. */
  let position = 0
  let inFlight = 0
  let backlog = 0
  let closing = false
  let failed = false
  let whenClosed: (() => void) | undefined
  const closed = new Promise<void>((resolve) => (whenClosed = resolve))

  const closeFd = (): void => {
    if (fd !== undefined) {
      try {
        closeSync(fd)
      } catch {
        // Nothing more to do.
      }
      fd = undefined
    }
    if (closing) whenClosed?.()
  }
  const fail = (err: unknown): void => {
    if (failed) return
    failed = true
    logger.log("error", `record ${path}: ${err instanceof Error ? err.message : String(err)}; recording stopped`)
    if (inFlight === 0) closeFd()
  }
  const writeSync = (chunks: ReadonlyArray<Uint8Array>, at: number): void => {
    for (let i = 0; i < chunks.length; i += IOV_MAX) {
      const part = chunks.slice(i, i + IOV_MAX)
      writevSync(fd!, part, at)
      for (const c of part) at += c.length
    }
  }
  const write = (chunks: ReadonlyArray<Uint8Array>, release: () => void): void => {
    if (fd === undefined || failed) return release()
    let bytes = 0
    for (const c of chunks) bytes += c.length
    const at = position
    position += bytes
    if (closing || backlog + bytes > BACKLOG_BYTES || chunks.length > IOV_MAX) {
      try {
        writeSync(chunks, at)
      } catch (err) {
        fail(err)
      }
      return release()
    }
    inFlight++
    backlog += bytes
    writev(fd, chunks, at, (err) => {
      inFlight--
      backlog -= bytes
      release()
      if (err !== null) fail(err)
      if (inFlight === 0 && (closing || failed)) closeFd()
    })
  }
  const rec = createRecorder(
    { write, schedule: (flush) => setImmediate(flush) },
    {
      ...options,
      onStop: (written) => {
        logger.log("warn", `record ${path}: ${written} bytes reached --record-max-bytes, recording stopped`)
        options.onStop?.(written)
      },
    },
  )
  let sinceFlush = rec.written
  const flushIfLarge = (): void => {
    if (rec.written - sinceFlush >= FLUSH_BYTES) {
      sinceFlush = rec.written
      rec.flush()
    }
  }
  return {
    event(e) {
      rec.event(e)
      flushIfLarge()
    },
    ...(rec.effects === undefined
      ? {}
      : {
          effects(fx) {
            rec.effects!(fx)
            flushIfLarge()
          },
        }),
    flush: () => rec.flush(),
    get written() {
      return rec.written
    },
    get stopped() {
      return rec.stopped
    },
    close() {
      if (closing) return closed
      closing = true
      rec.flush()
      if (inFlight === 0) closeFd()
      return closed
    },
  }
}
