/**
 * `--record FILE`: a recorder (recorder.ts) whose bytes go to a file.
 *
 * What is encoded during one turn of the event loop is written with one `writev` at the end of
 * the turn (and at once when more than `FLUSH_BYTES` are waiting), so a crash loses at most the
 * last turn's events. The header is written when the file opens. A write error stops the
 * recording with one error line; it never disturbs the guest.
 */
import { closeSync, openSync, writevSync } from "node:fs"
import type { Logger } from "../host/ports.ts"
import { createRecorder, type Recorder, type RecorderOptions } from "./recorder.ts"

/** Written at once beyond this, so memory stays bounded during a long synchronous batch. */
const FLUSH_BYTES = 4 * 1024 * 1024

export interface RecordFile extends Recorder {
  close(): void
}

export const openRecordFile = (path: string, logger: Logger, options: RecorderOptions): RecordFile => {
  let fd: number | undefined = openSync(path, "w")
  const write = (chunks: ReadonlyArray<Uint8Array>): void => {
    if (fd === undefined) return
    try {
      // writev takes at most IOV_MAX (1024) buffers per call.
      for (let i = 0; i < chunks.length; i += 1024) writevSync(fd, chunks.slice(i, i + 1024))
    } catch (err) {
      logger.log("error", `record ${path}: ${err instanceof Error ? err.message : String(err)}; recording stopped`)
      try {
        closeSync(fd)
      } catch {
        // Nothing more to do.
      }
      fd = undefined
    }
  }
  const rec = createRecorder(
    { write, schedule: (flush) => setImmediate(flush), consumesAtOnce: true },
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
      rec.flush()
      if (fd !== undefined) closeSync(fd)
      fd = undefined
    },
  }
}
