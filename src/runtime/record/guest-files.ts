/**
 * The diagnostic files of each guest (`--pcap`, `--record`): one pcap and one recording per
 * guest session, named from the option's pattern.
 *
 * Naming (`perGuestPath`): `%n` in the name is replaced by the guest's number (1 for the first
 * guest that connects, 2 for the next, ...); without `%n` the first guest writes the name as
 * given and guest n writes it with `.n` before the extension (`cap.pcap`, `cap.2.pcap`, ...),
 * so guests never share a file and a guest that reconnects does not overwrite its first run.
 *
 * A file that cannot be opened is one error line; the guest runs without it.
 */
import { basename, dirname, extname, join } from "node:path"
import type { Instant } from "../../effects/instant.ts"
import type { StackConfig } from "../../protocol/stack/config.ts"
import type { Logger } from "../host/ports.ts"
import { openPcapFile } from "../pcap/pcap-writer.ts"
import type { SessionRecorder } from "./recorder.ts"
import { openRecordFile } from "./record-file.ts"

export interface DiagnosticsOptions {
  readonly pcap?: string | undefined
  readonly pcapMaxBytes?: number | undefined
  readonly record?: string | undefined
  readonly recordMaxBytes?: number | undefined
  /** Also record every effect (`--record-effects`, for `tslirp replay --verify`). */
  readonly recordEffects?: boolean | undefined
  /** This tslirp's version, written in each recording's header. */
  readonly version?: string | undefined
}

export const perGuestPath = (pattern: string, n: number): string => {
  if (pattern.includes("%n")) return pattern.replaceAll("%n", String(n))
  if (n === 1) return pattern
  const ext = extname(pattern)
  const base = basename(pattern, ext)
  return join(dirname(pattern), `${base}.${n}${ext}`)
}

export interface GuestFiles {
  readonly tap: ((frame: Uint8Array) => void) | undefined
  readonly recorder: SessionRecorder | undefined
  /** Closes both; resolves when the last writes of the pcap and the recording are on disk. */
  close(): Promise<void>
}

const wallNow = (): string => new Date().toISOString()

/** Opens guest `n`'s files. `start` is the clock reading the session starts at. */
export const openGuestFiles = (options: DiagnosticsOptions, n: number, peer: string, config: StackConfig, start: Instant, logger: Logger): GuestFiles => {
  const closers: Array<() => void | Promise<void>> = []
  let tap: ((frame: Uint8Array) => void) | undefined
  let recorder: SessionRecorder | undefined
  const why = (e: unknown): string => (e instanceof Error ? e.message : String(e))
  if (options.pcap !== undefined) {
    const path = perGuestPath(options.pcap, n)
    try {
      const w = openPcapFile(path, logger, undefined, options.pcapMaxBytes === undefined ? {} : { maxBytes: options.pcapMaxBytes })
      tap = (frame) => w.write(frame)
      closers.push(() => w.close())
      logger.log("info", `pcap: ${path}`)
    } catch (e) {
      logger.log("error", `cannot open pcap file ${path}: ${why(e)}; this guest is not captured`)
    }
  }
  if (options.record !== undefined) {
    const path = perGuestPath(options.record, n)
    try {
      const r = openRecordFile(path, logger, {
        header: { tslirp: options.version ?? "unknown", config, start, peer, created: wallNow() },
        ...(options.recordEffects === true ? { effects: true } : {}),
        ...(options.recordMaxBytes === undefined ? {} : { maxBytes: options.recordMaxBytes }),
      })
      recorder = r
      closers.push(() => r.close())
      logger.log("info", `recording: ${path}`)
    } catch (e) {
      logger.log("error", `cannot open recording ${path}: ${why(e)}; this guest is not recorded`)
    }
  }
  return {
    tap,
    recorder,
    close: async () => {
      await Promise.all(closers.map((c) => c()))
    },
  }
}
