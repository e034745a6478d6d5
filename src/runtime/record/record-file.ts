/**
 * `--record FILE`: a recorder (recorder.ts) whose bytes go to a file.
 *
 * What the recorder encodes in its own chunks during one turn of the event loop is handed to
 * the file at the end of the turn (and at once when more than `FLUSH_BYTES` are waiting). The
 * file is an append-file.ts sink: asynchronous writes at explicit offsets, synchronous beyond a
 * bounded backlog; with O_DIRECT (append-direct.ts) it gathers 4 MiB per disk write and writes
 * what it holds after 200 ms without more, so a crash loses at most that much, and the
 * recorder encodes records straight into its staging buffer (`inPlace`: each frame copied
 * once, and nothing waits for the end of the turn). `close` hands over the rest; its promise
 * resolves when the last write in flight completes (the guest's session waits for it, so a
 * stopped tslirp leaves whole recordings). The header is written when the file opens. A write
 * error stops the recording with one error line; it never disturbs the guest.
 */
import type { Logger } from "../host/ports.ts"
import { FLUSH_BYTES, openAppendFile } from "./append-file.ts"
import { createRecorder, type Recorder, type RecorderOptions } from "./recorder.ts"

export interface RecordFile extends Recorder {
  /** Writes the rest and closes the file; resolves once the writes in flight are done too. */
  close(): Promise<void>
}

export const openRecordFile = (path: string, logger: Logger, options: RecorderOptions): RecordFile => {
  const file = openAppendFile(path, (err) =>
    logger.log("error", `record ${path}: ${err instanceof Error ? err.message : String(err)}; recording stopped`),
  )
  let closing: Promise<void> | undefined
  const rec = createRecorder(
    { write: (chunks, release) => file.write(chunks, release), inPlace: file.inPlace, schedule: (flush) => setImmediate(flush) },
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
      if (closing === undefined) {
        rec.flush()
        closing = file.close()
      }
      return closing
    },
  }
}
