/**
 * The recorder: encodes a session's input events (and, on request, the effects the stack
 * returned for each) into the recording format (format.ts) and hands the bytes to a sink.
 *
 * Contract:
 * - Neutral: the sink decides where bytes go and when (`tslirp/node`'s `openRecordFile`
 *   writes a file at the end of each event-loop turn; a browser could keep them in memory).
 * - `event` is called before the stack reduces the event (so an event the stack fails on is in
 *   the recording), `effects` after, in the session's order (session.ts). Both copy the bytes
 *   they encode: the runtime may reuse its buffers afterwards.
 * - With `maxBytes`, the recording never grows past it: the first record that would cross it
 *   is replaced by a stop record (13 bytes, reserved), `onStop` is told once, and nothing more
 *   is written. The header counts toward the bound.
 */
import type { ConnectTarget } from "../../effects/address.ts"
import type { StackEffect } from "../../effects/effect.ts"
import type { StackEvent } from "../../effects/event.ts"
import { ByteWriter, type InPlace } from "./bytes.ts"
import {
  bulkRecordBytes,
  encodeEffects,
  encodeEvent,
  encodeHeader,
  encodeStopped,
  FLAG_EFFECTS,
  STOP_MAX_BYTES,
  type RecordingHeader,
  writeBulkRecord,
} from "./format.ts"

/** What a session calls (session.ts `SessionOptions.recorder`). */
export interface SessionRecorder {
  /** An input event, before the stack reduces it. */
  event(event: StackEvent): void
  /** The effects the stack returned for the event just recorded. */
  effects?(effects: ReadonlyArray<StackEffect>): void
}

export interface RecordSink {
  /**
   * Bytes to append, in order. The sink owns the arrays until it calls `release` (once it has
   * written them: at once for a synchronous write, from the callback of an asynchronous one);
   * then the recorder writes over that memory again. A sink that never calls it may keep them.
   */
  write(chunks: ReadonlyArray<Uint8Array>, release: () => void): void
  /**
   * Memory to encode records into where they stay (a file's O_DIRECT staging buffer), instead
   * of the recorder's own chunks and then `write`: one copy of each frame, not two. Optional.
   */
  readonly inPlace?: InPlace | undefined
  /** Asks for `flush` to be called soon (once per turn of the event loop, typically). */
  schedule(flush: () => void): void
}

export interface RecorderOptions {
  readonly header: Omit<RecordingHeader, "version" | "flags">
  /** Also record the effects of each event (bigger files; `tslirp replay --verify` compares). */
  readonly effects?: boolean
  readonly maxBytes?: number
  /** Recording stopped at `maxBytes` (once). */
  readonly onStop?: (written: number) => void
}

export interface Recorder extends SessionRecorder {
  /** Hands everything encoded so far to the sink. */
  flush(): void
  /** Bytes encoded so far, header included. */
  readonly written: number
  readonly stopped: boolean
}

/** A record's header: tag, body length, time. */
const RECORD_OVERHEAD = 13
/** Room for the short fields of any record (socket, endpoint, timer, codes). */
const FIELDS_BOUND = 160

/** The UTF-8 bytes a target's text may take beyond FIELDS_BOUND (paths and commands are unbounded). */
const targetBound = (t: ConnectTarget): number => 3 * (t.family === "unix" ? t.path.length : t.family === "cmd" ? t.command.length : t.address.length)

/** An upper bound of an event's encoded size, so the size bound is checked before writing. */
const eventBound = (e: StackEvent): number => {
  switch (e._tag) {
    case "FrameFromGuest":
      return FIELDS_BOUND + e.frame.length
    case "HostTcpData":
    case "HostUdpDatagram":
    case "HostFileData":
      return FIELDS_BOUND + e.data.length
    case "HostFwdAdd":
      return FIELDS_BOUND + targetBound(e.bind)
    case "GuestFwdAdd":
      return FIELDS_BOUND + targetBound(e.target)
    case "HostIcmpEchoReply":
      return FIELDS_BOUND + e.payload.length + e.from.length * 3
    default:
      return FIELDS_BOUND
  }
}

const effectsBound = (fx: ReadonlyArray<StackEffect>): number => {
  let n = RECORD_OVERHEAD + 4
  for (const e of fx) {
    n += FIELDS_BOUND
    if (e._tag === "DeliverFrame") n += e.frame.length
    else if (e._tag === "TcpWrite") for (const c of e.chunks) n += c.length + 4
    else if (e._tag === "UdpSend") n += e.data.length
    else if (e._tag === "IcmpEchoSend") n += e.payload.length
    else if (e._tag === "Log") n += e.message.length * 3
    else if (e._tag === "TcpConnect") n += targetBound(e.to)
    else if (e._tag === "TcpListen") n += targetBound(e.bind)
    else if (e._tag === "FileOpen") n += (e.root.length + e.path.length) * 3
  }
  return n
}

export const createRecorder = (sink: RecordSink, options: RecorderOptions): Recorder => {
  const w = new ByteWriter()
  const withEffects = options.effects === true
  const max = options.maxBytes ?? Number.POSITIVE_INFINITY
  encodeHeader(w, { ...options.header, flags: withEffects ? FLAG_EFFECTS : 0 })
  let written = w.pending
  let stopped = false
  let scheduled = false
  let lastNow = options.header.start

  const flush = (): void => {
    scheduled = false
    if (w.pending === 0) return
    const chunks = w.take()
    sink.write(chunks, () => w.giveBack(chunks))
  }
  /**
   * Starts a record of at most `bound` bytes after its header: in the sink's memory when it
   * offers room (what waits here goes first, to keep the order). Returns `w.pending` for `wrote`.
   */
  const begin = (bound: number): number => {
    if (sink.inPlace !== undefined) {
      if (w.pending > 0) flush()
      w.beginInPlace(sink.inPlace, bound + RECORD_OVERHEAD)
    }
    return w.pending
  }
  /** The record begun when `w.pending` was `before` is written. */
  const wrote = (before: number): void => {
    written += w.pending - before
    w.endInPlace()
    if (w.pending > 0 && !scheduled) {
      scheduled = true
      sink.schedule(flush)
    }
  }
  /** Whether `bound` more bytes fit; if not, writes the stop record and stops. */
  const fits = (bound: number): boolean => {
    if (stopped) return false
    if (written + bound + RECORD_OVERHEAD + 1 <= max) return true
    const before = w.pending
    encodeStopped(w, lastNow, STOP_MAX_BYTES)
    wrote(before)
    stopped = true
    options.onStop?.(written)
    return false
  }
  flush()

  return {
    event(e) {
      const bound = eventBound(e)
      if (!fits(bound)) return
      lastNow = e.now
      const place = sink.inPlace
      if (place !== undefined && (e._tag === "FrameFromGuest" || e._tag === "HostTcpData")) {
        // The bulk of a session, straight into the sink's memory (format.ts writeBulkRecord).
        if (w.pending > 0) flush()
        const n = bulkRecordBytes(e)
        const at = place.reserve(n)
        if (at >= 0) {
          written += writeBulkRecord(place.view, place.buffer, at, e, place.streamCopy)
          place.commit(n)
          return
        }
      }
      const before = begin(bound)
      encodeEvent(w, e)
      wrote(before)
    },
    ...(withEffects
      ? {
          effects(fx: ReadonlyArray<StackEffect>) {
            const bound = effectsBound(fx)
            if (!fits(bound)) return
            const before = begin(bound)
            encodeEffects(w, fx)
            wrote(before)
          },
        }
      : {}),
    flush,
    get written() {
      return written
    },
    get stopped() {
      return stopped
    },
  }
}
