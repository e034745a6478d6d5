/**
 * `--pcap FILE`: every frame both ways, appended to a classic pcap file.
 *
 * Records written during one event-loop turn are gathered and written with one `writev` at
 * the end of the turn; `close` flushes what is pending and closes the file. Write errors
 * disable the capture with one log line; they never disturb the guest traffic.
 */
import { closeSync, openSync, writevSync } from "node:fs"
import { performance } from "node:perf_hooks"
import type { Logger } from "../host/ports.ts"
import { PCAP_SNAPLEN, pcapGlobalHeader, pcapRecordHeader } from "./pcap-format.ts"

export interface PcapWriter {
  write(frame: Uint8Array): void
  close(): void
}

const wallMicros = (): number => (performance.timeOrigin + performance.now()) * 1000

export const openPcapFile = (path: string, logger: Logger, clockMicros: () => number = wallMicros): PcapWriter => {
  let fd: number | undefined = openSync(path, "w")
  let pending: Array<Uint8Array> = [pcapGlobalHeader()]
  let scheduled = false

  const flush = (): void => {
    scheduled = false
    if (fd === undefined || pending.length === 0) return
    const chunks = pending
    pending = []
    try {
      // writev takes at most IOV_MAX (1024) buffers per call.
      for (let i = 0; i < chunks.length; i += 1024) writevSync(fd, chunks.slice(i, i + 1024))
    } catch (err) {
      logger.log("error", `pcap ${path}: ${err instanceof Error ? err.message : String(err)}; capture stopped`)
      try {
        closeSync(fd)
      } catch {
        // Nothing more to do.
      }
      fd = undefined
    }
  }
  flush()

  return {
    write(frame) {
      if (fd === undefined) return
      pending.push(pcapRecordHeader(clockMicros(), frame.length))
      // Copy: the frame's buffer may be reused after this call returns.
      pending.push(frame.slice(0, PCAP_SNAPLEN))
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
