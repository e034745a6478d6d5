/**
 * `--pcap FILE`: every frame both ways, appended to a classic pcap file.
 *
 * Records written during one event-loop turn are copied into the writer's reused chunks and
 * written with one `writev` at the end of the turn (nothing is allocated per frame); `close`
 * flushes what is pending and closes the file. Write errors
 * disable the capture with one log line; they never disturb the guest traffic.
 *
 * With `maxBytes` (`--pcap-max-bytes`) the file rotates: when the next record would take it
 * past the bound, it is renamed to `FILE.1` (replacing an older one) and a fresh `FILE` starts
 * with its own global header, so the capture never takes more than twice the bound on disk
 * and the latest traffic is always in `FILE` and `FILE.1`. A bound below one global header
 * plus one record still writes one record per file.
 */
import { closeSync, openSync, renameSync, writevSync } from "node:fs"
import { performance } from "node:perf_hooks"
import type { Logger } from "../host/ports.ts"
import { ByteWriter } from "../record/bytes.ts"
import { PCAP_SNAPLEN, pcapGlobalHeader } from "./pcap-format.ts"

export interface PcapWriter {
  write(frame: Uint8Array): void
  close(): void
}

export interface PcapFileOptions {
  /** Rotate to `path.1` before the file would grow past this many bytes. */
  readonly maxBytes?: number
}

const wallMicros = (): number => (performance.timeOrigin + performance.now()) * 1000

const GLOBAL_HEADER_BYTES = 24
const RECORD_HEADER_BYTES = 16

export const openPcapFile = (path: string, logger: Logger, clockMicros: () => number = wallMicros, options: PcapFileOptions = {}): PcapWriter => {
  let fd: number | undefined = openSync(path, "w")
  const w = new ByteWriter()
  w.raw(pcapGlobalHeader())
  let scheduled = false
  /** Bytes in the current file, pending ones included. */
  let size = GLOBAL_HEADER_BYTES
  const max = options.maxBytes ?? Number.POSITIVE_INFINITY

  const stop = (err: unknown): void => {
    logger.log("error", `pcap ${path}: ${err instanceof Error ? err.message : String(err)}; capture stopped`)
    try {
      if (fd !== undefined) closeSync(fd)
    } catch {
      // Nothing more to do.
    }
    fd = undefined
  }

  const flush = (): void => {
    scheduled = false
    if (fd === undefined || w.pending === 0) return
    const chunks = w.take()
    try {
      // writev takes at most IOV_MAX (1024) buffers per call.
      for (let i = 0; i < chunks.length; i += 1024) writevSync(fd, chunks.slice(i, i + 1024))
    } catch (err) {
      stop(err)
    }
    w.giveBack(chunks)
  }
  flush()

  const rotate = (): void => {
    flush()
    if (fd === undefined) return
    try {
      closeSync(fd)
      fd = undefined
      renameSync(path, `${path}.1`)
      fd = openSync(path, "w")
      w.raw(pcapGlobalHeader())
      size = GLOBAL_HEADER_BYTES
    } catch (err) {
      stop(err)
    }
  }

  return {
    write(frame) {
      if (fd === undefined) return
      const captured = Math.min(frame.length, PCAP_SNAPLEN)
      if (size + RECORD_HEADER_BYTES + captured > max && size > GLOBAL_HEADER_BYTES) {
        rotate()
        if (fd === undefined) return
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
      size += RECORD_HEADER_BYTES + captured
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    close() {
      flush()
      if (fd !== undefined) closeSync(fd)
      fd = undefined
    },
  }
}
