/**
 * A file that is only appended to, written asynchronously: the sink under `--record`
 * (record-file.ts) and `--pcap` (pcap/pcap-writer.ts).
 *
 * Each `write` is given the next file offset at once and goes out with `fs.writev` at that
 * offset on libuv's thread pool, so the order in which writes complete does not matter and the
 * event loop that moves the guest's frames does not wait for the disk. `release` is called
 * when the write's memory may be reused (the caller's chunks are neither copied nor kept).
 * When more than `backlogBytes` already wait for the disk, a write is synchronous instead:
 * a slow disk slows the guest down rather than letting memory grow without bound. After
 * `close`, writes are synchronous; the file is closed, and `close`'s promise resolved, when
 * the last write in flight completes, so a caller that awaits it finds a whole file.
 *
 * A write error is reported once through `onError`; later writes are dropped (released at
 * once) and the file is closed when nothing is in flight.
 *
 * Where the file system and the addon allow it, the file is written with O_DIRECT instead
 * (append-direct.ts says why and how), and `inPlace` offers its staging buffer to writers that
 * can encode straight into it (one copy instead of two); `direct: false`, or TSLIRP_DIRECT_IO=0,
 * writes through the page cache as described here, and `inPlace` is undefined.
 */
import { closeSync, openSync, writev, writevSync } from "node:fs"
import { openDirectAppendFile } from "./append-direct.ts"
import type { InPlace } from "./bytes.ts"

/** What a writer batches during one event-loop turn is handed over at once beyond this, so
 * memory stays bounded during a long batch. */
export const FLUSH_BYTES = 4 * 1024 * 1024
/** Bytes in flight to the disk beyond which writes wait (synchronous). */
export const BACKLOG_BYTES = 64 * 1024 * 1024
/** writev takes at most IOV_MAX buffers per call. */
const IOV_MAX = 1024

export interface AppendFile {
  /** Appends `chunks` after everything written before; `release` once their memory is free. */
  write(chunks: ReadonlyArray<Uint8Array>, release: () => void): void
  /**
   * With O_DIRECT, the staging buffer to write records into in place (bytes.ts `InPlace`;
   * what is committed there follows everything written before, as with `write`).
   */
  readonly inPlace: InPlace | undefined
  /** Whether a write failed (then nothing more is written). */
  readonly failed: boolean
  /** Closes the file once the writes in flight are done; resolves then. */
  close(): Promise<void>
}

export interface AppendFileOptions {
  readonly backlogBytes?: number
  /** Try O_DIRECT first (default true). */
  readonly direct?: boolean
}

/** Opens (creates or truncates) `path`; throws if it cannot be opened. */
export const openAppendFile = (path: string, onError: (err: unknown) => void, options: AppendFileOptions = {}): AppendFile => {
  if (options.direct !== false && process.env["TSLIRP_DIRECT_IO"] !== "0") {
    const direct = openDirectAppendFile(path, onError, options)
    if (direct !== undefined) return direct
  }
  let fd: number | undefined = openSync(path, "w")
  const backlogMax = options.backlogBytes ?? BACKLOG_BYTES
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
    onError(err)
    if (inFlight === 0) closeFd()
  }
  const writeSync = (chunks: ReadonlyArray<Uint8Array>, at: number): void => {
    for (let i = 0; i < chunks.length; i += IOV_MAX) {
      const part = chunks.slice(i, i + IOV_MAX)
      writevSync(fd!, part, at)
      for (const c of part) at += c.length
    }
  }
  return {
    write(chunks, release) {
      if (fd === undefined || failed) return release()
      let bytes = 0
      for (const c of chunks) bytes += c.length
      const at = position
      position += bytes
      if (closing || backlog + bytes > backlogMax || chunks.length > IOV_MAX) {
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
    },
    inPlace: undefined,
    get failed() {
      return failed
    },
    close() {
      if (closing) return closed
      closing = true
      if (inFlight === 0) closeFd()
      return closed
    },
  }
}
