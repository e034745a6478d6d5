/**
 * `--pcap FILE`: every frame both ways, appended to a classic pcap file.
 *
 * Each frame is copied, with its record header, once (the runtime may reuse a frame's buffer
 * once `write` returns; nothing is allocated per frame): with O_DIRECT straight into the file's
 * staging buffer (append-file.ts `inPlace`), which writes it out when full or quiet; through the
 * page cache into the writer's reused chunks, handed to the file at the end of the event-loop
 * turn, and at once when more than `FLUSH_BYTES` wait. The file is a record/append-file.ts
 * sink, as for `--record`: asynchronous writes at explicit offsets, so the event loop does not
 * wait for the disk, synchronous beyond a bounded backlog; chunks are reused once their write
 * is done.
 * `close` hands over the rest and resolves when every write, to this file and to any file it
 * rotated away from, is done, so a caller that awaits it reads whole files. Write errors
 * disable the capture with one log line; they never disturb the guest traffic.
 *
 * With `maxBytes` (`--pcap-max-bytes`) the file rotates: when the next record would take it
 * past the bound, what is pending goes to the current file, which is closed (its writes in
 * flight still land: they hold its descriptor) and renamed to `FILE.1` (replacing an older
 * one), and a fresh `FILE` starts with its own global header, so the capture never takes more
 * than twice the bound on disk and the latest traffic is always in `FILE` and `FILE.1`. A
 * bound below one global header plus one record still writes one record per file.
 */
import { renameSync } from "node:fs"
import { performance } from "node:perf_hooks"
import type { Logger } from "../host/ports.ts"
import { type AppendFile, FLUSH_BYTES, openAppendFile } from "../record/append-file.ts"
import { ByteWriter } from "../record/bytes.ts"
import { PCAP_SNAPLEN, pcapGlobalHeader } from "./pcap-format.ts"

export interface PcapWriter {
  /** Appends `frame` (copied: its buffer may be reused after the call). */
  write(frame: Uint8Array): void
  /** Writes the rest and closes the file; resolves once every write is on disk. */
  close(): Promise<void>
}

export interface PcapFileOptions {
  /** Rotate to `path.1` before the file would grow past this many bytes. */
  readonly maxBytes?: number
}

const wallMicros = (): number => (performance.timeOrigin + performance.now()) * 1000

const GLOBAL_HEADER_BYTES = 24
const RECORD_HEADER_BYTES = 16

export const openPcapFile = (path: string, logger: Logger, clockMicros: () => number = wallMicros, options: PcapFileOptions = {}): PcapWriter => {
  let stopped = false
  const onError = (err: unknown): void => {
    if (stopped) return
    stopped = true
    logger.log("error", `pcap ${path}: ${err instanceof Error ? err.message : String(err)}; capture stopped`)
  }
  let file: AppendFile = openAppendFile(path, onError)
  /** Files rotated away from whose last writes are still in flight. */
  const retiring = new Set<Promise<void>>()
  const w = new ByteWriter()
  w.raw(pcapGlobalHeader())
  let scheduled = false
  let closing: Promise<void> | undefined
  /** Bytes in the current file, pending ones included. */
  let size = GLOBAL_HEADER_BYTES
  const max = options.maxBytes ?? Number.POSITIVE_INFINITY

  const flush = (): void => {
    scheduled = false
    if (w.pending === 0) return
    const chunks = w.take()
    file.write(chunks, () => w.giveBack(chunks))
  }
  flush()

  const rotate = (): void => {
    flush()
    const done = file.close()
    retiring.add(done)
    void done.then(() => retiring.delete(done))
    try {
      renameSync(path, `${path}.1`)
      file = openAppendFile(path, onError)
      w.raw(pcapGlobalHeader())
      size = GLOBAL_HEADER_BYTES
    } catch (err) {
      onError(err)
    }
  }

  return {
    write(frame) {
      if (stopped || closing !== undefined) return
      const captured = Math.min(frame.length, PCAP_SNAPLEN)
      if (size + RECORD_HEADER_BYTES + captured > max && size > GLOBAL_HEADER_BYTES) {
        rotate()
        if (stopped) return
      }
      // In the file's staging buffer when it offers one; what waits in the writer goes first.
      if (file.inPlace !== undefined) {
        if (w.pending > 0) flush()
        w.beginInPlace(file.inPlace, RECORD_HEADER_BYTES + captured)
      }
      // The record header (pcap-format.ts's pcapRecordHeader, written in place), then a copy of
      // the frame: its buffer may be reused after this call returns.
      const micros = clockMicros()
      const seconds = Math.floor(micros / 1e6)
      w.u32(seconds)
      w.u32(Math.floor(micros - seconds * 1e6))
      w.u32(captured)
      w.u32(frame.length)
      w.raw(captured === frame.length ? frame : frame.subarray(0, captured))
      w.endInPlace()
      size += RECORD_HEADER_BYTES + captured
      if (w.pending >= FLUSH_BYTES) flush()
      else if (w.pending > 0 && !scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    close() {
      if (closing === undefined) {
        flush()
        closing = Promise.all([file.close(), ...retiring]).then(() => undefined)
      }
      return closing
    },
  }
}
