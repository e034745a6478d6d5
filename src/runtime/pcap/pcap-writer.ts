/**
 * `--pcap FILE`: every frame both ways, appended to a classic pcap file.
 *
 * Each frame is copied, with its record header, once (the runtime may reuse a frame's buffer
 * once `write` returns; nothing is allocated per frame): with O_DIRECT straight into the file's
 * staging buffer (append-file.ts `inPlace`), which writes it out when full or quiet; where the
 * stage offers `streamCopy` (bytes.ts `InPlace`: the addon's, record/stream-copy.ts), first
 * into a 256 KiB gather buffer that stays in the CPU's cache, moved into the staging buffer
 * with non-temporal stores when full and at the end of the event-loop turn (why: the staging
 * buffers take a GB per GB of traffic and the CPU never reads them again; copied the ordinary
 * way they pass through the cache and evict the stack's own data: host to guest at MTU 1500,
 * 8 backends each, the event loop took 1.79 CPU s/GB with it against 1.90 without it, and the
 * link ran 3% faster); through the page cache into the writer's reused chunks, handed to the file at the end of the event-loop
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
import { PCAP_RECORD_HEADER_BYTES as RECORD_HEADER_BYTES, PCAP_SNAPLEN, pcapGlobalHeader, setPcapRecordHeader } from "./pcap-format.ts"

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

/** Read once: Node's `performance.timeOrigin` getter checks its receiver on every read. */
const TIME_ORIGIN = performance.timeOrigin
const readWallMicros = (): number => (TIME_ORIGIN + performance.now()) * 1000

/** Frames of one synchronous run that may share one reading of the clock. */
const FRAMES_PER_READING = 16
const settled = Promise.resolve()

/**
 * The capture's default clock: the wall clock in microseconds, read once for the frames one
 * synchronous run of the stack writes (a batch of frames leaves within microseconds) and again
 * every FRAMES_PER_READING frames of a long run, instead of once per frame: at a million frames
 * a second the clock call was a tenth of the capture's own CPU. A frame written in a later task
 * or microtask always reads the clock afresh, so sparse traffic gets exact times.
 */
export const batchedWallMicros = (read: () => number = readWallMicros): (() => number) => {
  let reading = 0
  let uses = 0
  const expire = (): void => {
    uses = 0
  }
  return () => {
    if (uses === 0) {
      reading = read()
      void settled.then(expire)
    }
    uses = uses + 1 === FRAMES_PER_READING ? 0 : uses + 1
    return reading
  }
}

const GLOBAL_HEADER_BYTES = 24
/** The gather buffer: small enough to stay in a core's cache, large enough that moving it is one call per ~170 frames. */
const GATHER_BYTES = 256 * 1024

export const openPcapFile = (path: string, logger: Logger, clockMicros: () => number = batchedWallMicros(), options: PcapFileOptions = {}): PcapWriter => {
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
  /** `turnEnded` is queued: what waits (gathered records, the writer's chunks) goes at the end of the turn. */
  let scheduled = false
  /** A record header on its way into the writer's chunks (when the file offers no stage). */
  const header = new Uint8Array(RECORD_HEADER_BYTES)
  const headerView = new DataView(header.buffer)
  let closing: Promise<void> | undefined
  /** Bytes in the current file, pending ones included. */
  let size = GLOBAL_HEADER_BYTES
  const max = options.maxBytes ?? Number.POSITIVE_INFINITY
  /** Records not yet in the file's stage (only where the stage takes non-temporal moves). */
  const gather = file.inPlace?.streamCopy === undefined ? undefined : new Uint8Array(GATHER_BYTES)
  const gatherView = gather === undefined ? undefined : new DataView(gather.buffer)
  let gathered = 0

  const flush = (): void => {
    if (w.pending === 0) return
    const chunks = w.take()
    file.write(chunks, () => w.giveBack(chunks))
  }
  flush()

  /** The gathered records go to the file: into its stage, or the ordinary way if it offers none now. */
  const moveGathered = (): void => {
    if (gathered === 0) return
    const n = gathered
    gathered = 0
    const place = file.inPlace
    const copy = place?.streamCopy
    const at = copy !== undefined ? place!.reserve(n) : -1
    // `reserve` may have moved to a fresh stage: the buffer is read after it.
    if (at >= 0 && copy!(place!.buffer, at, gather!, n) === 0) place!.commit(n)
    else file.write([gather!.slice(0, n)], () => {})
  }
  /** At the end of the event-loop turn, what either path holds goes to the file. */
  const turnEnded = (): void => {
    scheduled = false
    moveGathered()
    flush()
  }
  const atTurnEnd = (): void => {
    if (!scheduled) {
      scheduled = true
      setImmediate(turnEnded)
    }
  }

  const rotate = (): void => {
    moveGathered()
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
      const need = RECORD_HEADER_BYTES + captured
      if (size + need > max && size > GLOBAL_HEADER_BYTES) {
        rotate()
        if (stopped) return
      }
      const micros = clockMicros()
      const body = captured === frame.length ? frame : frame.subarray(0, captured)
      // Straight into the file's staging buffer when it offers one (what waits in the writer
      // goes first): the record header and a copy of the frame, whose buffer may be reused
      // after this call.
      const place = file.inPlace
      if (place !== undefined && w.pending > 0) flush()
      if (gather !== undefined && place !== undefined && need <= GATHER_BYTES) {
        if (gathered + need > GATHER_BYTES) moveGathered()
        setPcapRecordHeader(gatherView!, gathered, micros, frame.length)
        gather.set(body, gathered + RECORD_HEADER_BYTES)
        gathered += need
        size += need
        atTurnEnd()
        return
      }
      moveGathered()
      const at = place !== undefined ? place.reserve(need) : -1
      if (at >= 0) {
        setPcapRecordHeader(place!.view, at, micros, frame.length)
        place!.buffer.set(body, at + RECORD_HEADER_BYTES)
        place!.commit(need)
        size += need
        return
      }
      // Otherwise into the writer's chunks, handed to the file at the end of the turn.
      setPcapRecordHeader(headerView, 0, micros, frame.length)
      w.raw(header)
      w.raw(body)
      size += need
      if (w.pending >= FLUSH_BYTES) flush()
      else atTurnEnd()
    },
    close() {
      if (closing === undefined) {
        moveGathered()
        flush()
        closing = Promise.all([file.close(), ...retiring]).then(() => undefined)
      }
      return closing
    },
  }
}
