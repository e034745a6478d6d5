/**
 * The recording format (docs/record-format.md is its description for people): a header with the
 * stack's configuration and seed, then one record per input event, in the order the stack
 * reduced them, each with its time; optionally the effects the stack returned live; and a
 * closing record when recording stopped at its bound.
 *
 * Contract:
 * - Neutral and pure apart from the writer's own buffer: no `node:*`, no clock, usable in a
 *   browser. Encoding copies every byte array (frames, host data): a recording never aliases
 *   memory a runtime may reuse.
 * - `decodeEvent(encodeEvent(e))` equals `e` field for field (optional fields absent stay
 *   absent), and times are stored as f64, exactly as the stack saw them.
 * - Reading never throws on a damaged file: `readRecording` reports a bad magic, another format
 *   version, or a record cut short, as data the caller prints in one line.
 * - Adding an event or effect kind is a new tag; changing what an existing tag means is a new
 *   `RECORD_FORMAT_VERSION`, and older files are then refused with one clear line.
 */
import type { ConnectTarget, HostBind, HostEndpoint, IpFamily } from "../../effects/address.ts"
import { absurd } from "../../effects/absurd.ts"
import type { StackEffect } from "../../effects/effect.ts"
import type { HostUnreachableReason, StackEvent } from "../../effects/event.ts"
import { fileId, socketId, type TimerId, type TimerLayer } from "../../effects/ids.ts"
import { instant, type Instant } from "../../effects/instant.ts"
import type { LogLevel } from "../../effects/log.ts"
import type { StackConfig } from "../../protocol/stack/config.ts"
import { ByteReader, ByteWriter, concatBytes, Truncated } from "./bytes.ts"
import type { StreamCopy } from "./stream-copy.ts"

/** "\x89TSLREC\n": the PNG trick, so a file mangled by a text-mode transfer is recognised. */
export const RECORD_MAGIC = Uint8Array.of(0x89, 0x54, 0x53, 0x4c, 0x52, 0x45, 0x43, 0x0a)
// Version 2: TcpConnect's `to` became a target (unix socket, command), and the forwarding and
// TFTP events and effects have tags; a version 1 reader would stop at the first of them.
export const RECORD_FORMAT_VERSION = 2

/** Header flag: effect records follow each event (`--record-effects`). */
export const FLAG_EFFECTS = 1

export interface RecordingHeader {
  readonly version: number
  readonly flags: number
  /** The tslirp that wrote it (package version). */
  readonly tslirp: string
  /** The stack's configuration, its `seed` included: `createStack(config)` is where replay starts. */
  readonly config: StackConfig
  /** The clock's reading when the stack was created (the session's first `now`). */
  readonly start: Instant
  /** Who the guest was (its link's peer), for people reading the summary. */
  readonly peer: string
  /** Wall-clock time of the start, ISO 8601, for people (replay never reads it). */
  readonly created: string
}

// Record tags: events 1..63 (appended, never renumbered), the effects of the event before 0x40, the stop record 0x7f.
const EVENT_TAGS = [
  "FrameFromGuest",
  "HostTcpConnected",
  "HostTcpData",
  "HostTcpEof",
  "HostTcpWritten",
  "HostSocketClosed",
  "HostSocketError",
  "HostUdpDatagram",
  "HostUnreachable",
  "HostIcmpEchoReply",
  "TimerFired",
  "Shutdown",
  "HostFileOpened",
  "HostFileData",
  "HostFileError",
  "HostListening",
  "HostTcpAccepted",
  "HostFwdAdd",
  "HostFwdRemove",
  "GuestFwdAdd",
  "GuestFwdRemove",
] as const satisfies ReadonlyArray<StackEvent["_tag"]>
const EVENT_TAG = new Map<string, number>(EVENT_TAGS.map((t, i) => [t, i + 1]))
export const TAG_EFFECTS = 0x40
export const TAG_STOPPED = 0x7f

const EFFECT_TAGS = [
  "DeliverFrame",
  "TcpConnect",
  "TcpWrite",
  "TcpShutdownWrite",
  "TcpSetReading",
  "TcpReset",
  "UdpOpen",
  "UdpSend",
  "IcmpOpen",
  "IcmpEchoSend",
  "SocketClose",
  "SetTimer",
  "CancelTimer",
  "Log",
  "TcpListen",
  "TcpAdopt",
  "TcpRefuse",
  "UdpBind",
  "FileOpen",
  "FileRead",
  "FileClose",
] as const satisfies ReadonlyArray<StackEffect["_tag"]>
const EFFECT_TAG = new Map<string, number>(EFFECT_TAGS.map((t, i) => [t, i + 1]))

// ---- header ----------------------------------------------------------------------------

/** JSON with byte arrays as `{ "$hex": "..." }` (IPv6 addresses in the config). */
const toJson = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? { $hex: Array.from(x, (b) => b.toString(16).padStart(2, "0")).join("") } : x))

const fromJson = (text: string): unknown =>
  JSON.parse(text, (_k, x: unknown) => {
    if (x !== null && typeof x === "object" && Object.keys(x).length === 1 && typeof (x as { $hex?: unknown }).$hex === "string") {
      const hex = (x as { $hex: string }).$hex
      return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16))
    }
    return x
  })

export const encodeHeader = (w: ByteWriter, h: Omit<RecordingHeader, "version">): void => {
  w.raw(RECORD_MAGIC)
  w.u16(RECORD_FORMAT_VERSION)
  w.u16(h.flags)
  w.str(toJson({ tslirp: h.tslirp, config: h.config, start: h.start, peer: h.peer, created: h.created }))
}

// ---- events ----------------------------------------------------------------------------

const endpoint = (w: ByteWriter, e: HostEndpoint): void => {
  w.u8(e.family)
  w.str(e.address)
  w.u16(e.port)
}

const readEndpoint = (r: ByteReader): HostEndpoint => {
  const family = r.u8()
  if (family !== 4 && family !== 6) throw new Error(`unknown address family ${family}`)
  const address = r.str()
  return { family, address, port: r.u16() }
}

const optEndpoint = (w: ByteWriter, e: HostEndpoint | undefined): void => {
  if (e === undefined) return w.u8(0)
  w.u8(1)
  endpoint(w, e)
}

const readOptEndpoint = (r: ByteReader): HostEndpoint | undefined => (r.u8() === 0 ? undefined : readEndpoint(r))

// A target's kind byte: 4 and 6 are an IP endpoint (the same bytes as `endpoint`), then these.
const TARGET_UNIX = 1
const TARGET_CMD = 2

/** A `ConnectTarget` or `HostBind`: an endpoint, or kind 1 + path, or kind 2 + command. */
const target = (w: ByteWriter, t: ConnectTarget): void => {
  switch (t.family) {
    case "unix":
      w.u8(TARGET_UNIX)
      w.str(t.path)
      return
    case "cmd":
      w.u8(TARGET_CMD)
      w.str(t.command)
      return
    case 4:
    case 6:
      endpoint(w, t)
      return
    default:
      absurd(t)
  }
}

const readTarget = (r: ByteReader): ConnectTarget => {
  const kind = r.u8()
  if (kind === TARGET_UNIX) return { family: "unix", path: r.str() }
  if (kind === TARGET_CMD) return { family: "cmd", command: r.str() }
  if (kind !== 4 && kind !== 6) throw new Error(`unknown target kind ${kind}`)
  const address = r.str()
  return { family: kind, address, port: r.u16() }
}

const readBind = (r: ByteReader): HostBind => {
  const t = readTarget(r)
  if (t.family === "cmd") throw new Error("a command is not a listener address")
  return t
}

const timer = (w: ByteWriter, t: TimerId): void => {
  w.str(t.layer)
  w.f64(t.key)
}

const readTimer = (r: ByteReader): TimerId => {
  const layer = r.str() as TimerLayer
  return { layer, key: r.f64() }
}

/** One event record: tag, body length, time, the event's fields. */
export const encodeEvent = (w: ByteWriter, e: StackEvent): void => {
  w.u8(EVENT_TAG.get(e._tag)!)
  w.openLength()
  w.f64(e.now)
  switch (e._tag) {
    case "FrameFromGuest":
      w.bytes(e.frame)
      break
    case "HostTcpConnected":
    case "HostTcpEof":
    case "HostSocketClosed":
      w.u32(e.sock)
      break
    case "HostTcpData":
      w.u32(e.sock)
      w.bytes(e.data)
      break
    case "HostTcpWritten":
      w.u32(e.sock)
      w.f64(e.bytes)
      break
    case "HostSocketError":
      w.u32(e.sock)
      w.str(e.code)
      break
    case "HostUdpDatagram":
      w.u32(e.sock)
      endpoint(w, e.from)
      w.bytes(e.data)
      break
    case "HostUnreachable":
      w.u32(e.sock)
      endpoint(w, e.to)
      w.str(e.reason)
      w.optF64(e.mtu)
      w.optStr(e.from)
      break
    case "HostIcmpEchoReply":
      w.u32(e.sock)
      w.str(e.from)
      w.u16(e.sequence)
      w.bytes(e.payload)
      w.optF64(e.ttl)
      break
    case "TimerFired":
      timer(w, e.timer)
      break
    case "Shutdown":
      break
    case "HostFileOpened":
      w.u32(e.file)
      w.f64(e.size)
      break
    case "HostFileData":
      w.u32(e.file)
      w.f64(e.offset)
      w.bytes(e.data)
      break
    case "HostFileError":
      w.u32(e.file)
      w.str(e.code)
      break
    case "HostListening":
      w.u32(e.sock)
      w.u16(e.port)
      break
    case "HostTcpAccepted":
      w.u32(e.listener)
      w.f64(e.accepted)
      optEndpoint(w, e.peer)
      break
    case "HostFwdAdd":
      w.f64(e.id)
      w.str(e.proto)
      target(w, e.bind)
      // The guest address: 0 none (the first lease), 4 and a u32, or 6 and its 16 bytes.
      if (e.guest === undefined) w.u8(0)
      else if (typeof e.guest === "number") {
        w.u8(4)
        w.u32(e.guest)
      } else {
        w.u8(6)
        w.bytes(e.guest)
      }
      w.u16(e.guestPort)
      break
    case "HostFwdRemove":
    case "GuestFwdRemove":
      w.f64(e.id)
      break
    case "GuestFwdAdd":
      w.f64(e.id)
      w.u32(e.server)
      w.u16(e.port)
      target(w, e.target)
      break
    default:
      absurd(e)
  }
  w.closeLength()
}

/**
 * The two events that carry the session's bulk (the guest's frames, the host's TCP data),
 * written straight into memory a file offers (its O_DIRECT stage, recorder.ts) with a DataView
 * the caller keeps, instead of through ByteWriter: at a million records a second its per-field
 * calls were most of the recorder's own cost. The bytes are exactly `encodeEvent`'s (tested
 * against it): tag, body length, time, then the socket (HostTcpData) and the payload with its
 * length. `bulkRecordBytes` says how many; the caller has reserved them at `at`.
 */
export type BulkEvent = Extract<StackEvent, { readonly _tag: "FrameFromGuest" | "HostTcpData" }>

const TAG_FRAME_FROM_GUEST = EVENT_TAG.get("FrameFromGuest")!
const TAG_HOST_TCP_DATA = EVENT_TAG.get("HostTcpData")!

export const bulkRecordBytes = (e: BulkEvent): number => (e._tag === "FrameFromGuest" ? 17 + e.frame.length : 21 + e.data.length)

/**
 * Payloads from this size go in with the place's `streamCopy` when it has one (bytes.ts
 * `InPlace`): host TCP reads, up to 64 KiB, which with ordinary stores pull every line of the
 * O_DIRECT stage through the cache (host to guest with --record, 3 x 3 runs: 0.99 of the
 * throughput without, against 0.96, and 3.02 main-thread CPU s/GB against 3.19). Guest frames
 * stay below it: one addon call per 1514-byte frame cost --pcap more than it spared (7.05
 * against 6.66 s/GB); the pcap writer gathers frames first instead.
 */
const STREAM_MIN = 4096

/** Writes `e` at `at` in `buf` (whose DataView is `view`); returns its size (bulkRecordBytes). */
export const writeBulkRecord = (view: DataView, buf: Uint8Array, at: number, e: BulkEvent, stream?: StreamCopy): number => {
  const frame = e._tag === "FrameFromGuest"
  const payload = frame ? e.frame : e.data
  const total = bulkRecordBytes(e)
  view.setUint8(at, frame ? TAG_FRAME_FROM_GUEST : TAG_HOST_TCP_DATA)
  view.setUint32(at + 1, total - 5, true)
  view.setFloat64(at + 5, e.now, true)
  let p = at + 13
  if (!frame) {
    view.setUint32(p, e.sock >>> 0, true)
    p += 4
  }
  view.setUint32(p, payload.length, true)
  if (stream === undefined || payload.length < STREAM_MIN || stream(buf, p + 4, payload, payload.length) !== 0) buf.set(payload, p + 4)
  return total
}

const decodeEventBody = (tag: string, r: ByteReader): StackEvent => {
  const now = instant(r.f64())
  switch (tag) {
    case "FrameFromGuest":
      return { _tag: "FrameFromGuest", now, frame: r.bytes() }
    case "HostTcpConnected":
    case "HostTcpEof":
    case "HostSocketClosed":
      return { _tag: tag, now, sock: socketId(r.u32()) }
    case "HostTcpData": {
      const sock = socketId(r.u32())
      return { _tag: "HostTcpData", now, sock, data: r.bytes() }
    }
    case "HostTcpWritten": {
      const sock = socketId(r.u32())
      return { _tag: "HostTcpWritten", now, sock, bytes: r.f64() }
    }
    case "HostSocketError": {
      const sock = socketId(r.u32())
      return { _tag: "HostSocketError", now, sock, code: r.str() }
    }
    case "HostUdpDatagram": {
      const sock = socketId(r.u32())
      const from = readEndpoint(r)
      return { _tag: "HostUdpDatagram", now, sock, from, data: r.bytes() }
    }
    case "HostUnreachable": {
      const sock = socketId(r.u32())
      const to = readEndpoint(r)
      const reason = r.str() as HostUnreachableReason
      const mtu = r.optF64()
      const from = r.optStr()
      return { _tag: "HostUnreachable", now, sock, to, reason, ...(mtu === undefined ? {} : { mtu }), ...(from === undefined ? {} : { from }) }
    }
    case "HostIcmpEchoReply": {
      const sock = socketId(r.u32())
      const from = r.str()
      const sequence = r.u16()
      const payload = r.bytes()
      const ttl = r.optF64()
      return { _tag: "HostIcmpEchoReply", now, sock, from, sequence, payload, ...(ttl === undefined ? {} : { ttl }) }
    }
    case "TimerFired":
      return { _tag: "TimerFired", now, timer: readTimer(r) }
    case "Shutdown":
      return { _tag: "Shutdown", now }
    case "HostFileOpened": {
      const file = fileId(r.u32())
      return { _tag: tag, now, file, size: r.f64() }
    }
    case "HostFileData": {
      const file = fileId(r.u32())
      const offset = r.f64()
      return { _tag: tag, now, file, offset, data: r.bytes() }
    }
    case "HostFileError": {
      const file = fileId(r.u32())
      return { _tag: tag, now, file, code: r.str() }
    }
    case "HostListening": {
      const sock = socketId(r.u32())
      return { _tag: tag, now, sock, port: r.u16() }
    }
    case "HostTcpAccepted": {
      const listener = socketId(r.u32())
      const accepted = r.f64()
      const peer = readOptEndpoint(r)
      return { _tag: tag, now, listener, accepted, ...(peer === undefined ? {} : { peer }) }
    }
    case "HostFwdAdd": {
      const id = r.f64()
      const proto = r.str()
      if (proto !== "tcp" && proto !== "udp") throw new Error(`unknown hostfwd protocol ${proto}`)
      const bind = readBind(r)
      const kind = r.u8()
      if (kind !== 0 && kind !== 4 && kind !== 6) throw new Error(`unknown hostfwd guest address kind ${kind}`)
      const guest = kind === 0 ? undefined : kind === 4 ? r.u32() : r.bytes()
      if (guest instanceof Uint8Array && guest.length !== 16) throw new Error(`hostfwd guest address of ${guest.length} bytes`)
      return { _tag: tag, now, id, proto, bind, guest, guestPort: r.u16() }
    }
    case "HostFwdRemove":
    case "GuestFwdRemove":
      return { _tag: tag, now, id: r.f64() }
    case "GuestFwdAdd": {
      const id = r.f64()
      const server = r.u32()
      const port = r.u16()
      return { _tag: tag, now, id, server, port, target: readTarget(r) }
    }
    default:
      throw new Error(`unknown event ${tag}`)
  }
}

// ---- effects ---------------------------------------------------------------------------

const encodeEffect = (w: ByteWriter, e: StackEffect): void => {
  w.u8(EFFECT_TAG.get(e._tag)!)
  switch (e._tag) {
    case "DeliverFrame":
      w.bytes(e.frame)
      return
    case "TcpConnect":
      w.u32(e.sock)
      target(w, e.to)
      return
    case "TcpListen":
      w.u32(e.sock)
      target(w, e.bind)
      return
    case "TcpAdopt":
      w.u32(e.sock)
      w.f64(e.accepted)
      return
    case "TcpRefuse":
      w.f64(e.accepted)
      return
    case "UdpBind":
      w.u32(e.sock)
      endpoint(w, e.bind)
      return
    case "FileOpen":
      w.u32(e.file)
      w.str(e.root)
      w.str(e.path)
      return
    case "FileRead":
      w.u32(e.file)
      w.f64(e.offset)
      w.f64(e.length)
      return
    case "FileClose":
      w.u32(e.file)
      return
    case "TcpWrite":
      w.u32(e.sock)
      w.u32(e.chunks.length)
      for (const c of e.chunks) w.bytes(c)
      return
    case "TcpShutdownWrite":
    case "TcpReset":
    case "SocketClose":
      w.u32(e.sock)
      return
    case "TcpSetReading":
      w.u32(e.sock)
      w.u8(e.reading ? 1 : 0)
      return
    case "UdpOpen":
    case "IcmpOpen":
      w.u32(e.sock)
      w.u8(e.family)
      return
    case "UdpSend":
      w.u32(e.sock)
      endpoint(w, e.to)
      w.bytes(e.data)
      w.optF64(e.ttl)
      return
    case "IcmpEchoSend":
      w.u32(e.sock)
      w.str(e.to)
      w.u16(e.sequence)
      w.bytes(e.payload)
      w.optF64(e.ttl)
      return
    case "SetTimer":
      timer(w, e.timer)
      w.f64(e.at)
      return
    case "CancelTimer":
      timer(w, e.timer)
      return
    case "Log":
      w.str(e.level)
      w.str(e.message)
      return
    default:
      absurd(e)
  }
}

const decodeEffect = (r: ByteReader): StackEffect => {
  const tag = EFFECT_TAGS[r.u8() - 1]
  switch (tag) {
    case "DeliverFrame":
      return { _tag: tag, frame: r.bytes() }
    case "TcpConnect": {
      const sock = socketId(r.u32())
      return { _tag: tag, sock, to: readTarget(r) }
    }
    case "TcpListen": {
      const sock = socketId(r.u32())
      return { _tag: tag, sock, bind: readBind(r) }
    }
    case "TcpAdopt": {
      const sock = socketId(r.u32())
      return { _tag: tag, sock, accepted: r.f64() }
    }
    case "TcpRefuse":
      return { _tag: tag, accepted: r.f64() }
    case "UdpBind": {
      const sock = socketId(r.u32())
      return { _tag: tag, sock, bind: readEndpoint(r) }
    }
    case "FileOpen": {
      const file = fileId(r.u32())
      const root = r.str()
      return { _tag: tag, file, root, path: r.str() }
    }
    case "FileRead": {
      const file = fileId(r.u32())
      const offset = r.f64()
      return { _tag: tag, file, offset, length: r.f64() }
    }
    case "FileClose":
      return { _tag: tag, file: fileId(r.u32()) }
    case "TcpWrite": {
      const sock = socketId(r.u32())
      const n = r.u32()
      const chunks: Array<Uint8Array> = []
      for (let i = 0; i < n; i++) chunks.push(r.bytes())
      return { _tag: tag, sock, chunks }
    }
    case "TcpShutdownWrite":
    case "TcpReset":
    case "SocketClose":
      return { _tag: tag, sock: socketId(r.u32()) }
    case "TcpSetReading": {
      const sock = socketId(r.u32())
      return { _tag: tag, sock, reading: r.u8() === 1 }
    }
    case "UdpOpen":
    case "IcmpOpen": {
      const sock = socketId(r.u32())
      return { _tag: tag, sock, family: r.u8() as IpFamily }
    }
    case "UdpSend": {
      const sock = socketId(r.u32())
      const to = readEndpoint(r)
      const data = r.bytes()
      const ttl = r.optF64()
      return { _tag: tag, sock, to, data, ...(ttl === undefined ? {} : { ttl }) }
    }
    case "IcmpEchoSend": {
      const sock = socketId(r.u32())
      const to = r.str()
      const sequence = r.u16()
      const payload = r.bytes()
      const ttl = r.optF64()
      return { _tag: tag, sock, to, sequence, payload, ...(ttl === undefined ? {} : { ttl }) }
    }
    case "SetTimer": {
      const t = readTimer(r)
      return { _tag: tag, timer: t, at: instant(r.f64()) }
    }
    case "CancelTimer":
      return { _tag: tag, timer: readTimer(r) }
    case "Log": {
      const level = r.str() as LogLevel
      return { _tag: tag, level, message: r.str() }
    }
    case undefined:
      throw new Error("unknown effect tag")
    default:
      return absurd(tag)
  }
}

/** The effects one event produced, as one record (`--record-effects`). */
export const encodeEffects = (w: ByteWriter, effects: ReadonlyArray<StackEffect>): void => {
  w.u8(TAG_EFFECTS)
  w.openLength()
  w.u32(effects.length)
  for (const e of effects) encodeEffect(w, e)
  w.closeLength()
}

/** Why recording stopped early: 1 = the size bound (`--record-max-bytes`). */
export const STOP_MAX_BYTES = 1

export const encodeStopped = (w: ByteWriter, now: Instant, reason: number): void => {
  w.u8(TAG_STOPPED)
  w.openLength()
  w.f64(now)
  w.u8(reason)
  w.closeLength()
}

// ---- reading ---------------------------------------------------------------------------

/** One event as recorded, with the effects recorded live after it (if the file has them). */
export interface RecordedEvent {
  readonly index: number
  readonly event: StackEvent
  readonly effects: ReadonlyArray<StackEffect> | undefined
}

export type RecordingProblem =
  | { readonly _tag: "NotARecording" }
  | { readonly _tag: "WrongVersion"; readonly version: number }
  | { readonly _tag: "BadHeader"; readonly reason: string }

export interface Recording {
  readonly header: RecordingHeader
  /** Events in the order the stack reduced them (lazily decoded; iterate as often as needed). */
  events(): Iterable<RecordedEvent>
  /** After a full iteration: why reading stopped before the end of the file, if it did. */
  readonly tail: () => RecordingTail
}

export interface RecordingTail {
  /** Recording stopped at its size bound at this time. */
  readonly stoppedAt: Instant | undefined
  /** The file ends in the middle of a record (the writer was killed): what was cut. */
  readonly truncated: string | undefined
}

/** One line for a person, e.g. when `tslirp replay` refuses a file. */
export const describeProblem = (p: RecordingProblem): string => {
  switch (p._tag) {
    case "NotARecording":
      return "not a tslirp recording (no recording magic at the start)"
    case "WrongVersion":
      return `recording format version ${p.version} is not supported: this tslirp reads version ${RECORD_FORMAT_VERSION} only (replay it with the tslirp that wrote it)`
    case "BadHeader":
      return `damaged recording header: ${p.reason}`
    default:
      return absurd(p)
  }
}

export const readRecording = (buf: Uint8Array): Recording | RecordingProblem => {
  if (buf.length < RECORD_MAGIC.length || !RECORD_MAGIC.every((b, i) => buf[i] === b)) return { _tag: "NotARecording" }
  const r = new ByteReader(buf, RECORD_MAGIC.length)
  let header: RecordingHeader
  try {
    const version = r.u16()
    if (version !== RECORD_FORMAT_VERSION) return { _tag: "WrongVersion", version }
    const flags = r.u16()
    const json = fromJson(r.str()) as Omit<RecordingHeader, "version" | "flags">
    if (typeof json !== "object" || json === null || typeof json.config !== "object" || typeof json.config.seed !== "number")
      return { _tag: "BadHeader", reason: "no stack configuration" }
    header = { version, flags, tslirp: String(json.tslirp), config: json.config, start: instant(Number(json.start)), peer: String(json.peer ?? ""), created: String(json.created ?? "") }
  } catch (err) {
    return { _tag: "BadHeader", reason: err instanceof Error ? err.message : String(err) }
  }
  const bodyStart = r.offset
  let tail: RecordingTail = { stoppedAt: undefined, truncated: undefined }
  function* events(): Generator<RecordedEvent> {
    const rr = new ByteReader(buf, bodyStart)
    let index = 0
    let pending: StackEvent | undefined
    tail = { stoppedAt: undefined, truncated: undefined }
    const fail = (why: string): void => {
      tail = { ...tail, truncated: `after event ${index}: ${why}` }
    }
    while (rr.remaining > 0) {
      let tag: number
      let body: ByteReader
      try {
        tag = rr.u8()
        const len = rr.u32()
        body = new ByteReader(buf, rr.offset, rr.offset + len)
        rr.raw(len)
      } catch (err) {
        if (!(err instanceof Truncated)) throw err
        fail("the file ends mid-record")
        break
      }
      try {
        if (tag === TAG_EFFECTS) {
          const n = body.u32()
          const effects: Array<StackEffect> = []
          for (let i = 0; i < n; i++) effects.push(decodeEffect(body))
          if (pending !== undefined) yield { index: index++, event: pending, effects }
          pending = undefined
          continue
        }
        if (pending !== undefined) yield { index: index++, event: pending, effects: undefined }
        pending = undefined
        if (tag === TAG_STOPPED) {
          tail = { ...tail, stoppedAt: instant(body.f64()) }
          break
        }
        const name = EVENT_TAGS[tag - 1]
        if (name === undefined) {
          fail(`unknown record tag ${tag}`)
          break
        }
        const event = decodeEventBody(name, body)
        if ((header.flags & FLAG_EFFECTS) === 0) yield { index: index++, event, effects: undefined }
        else pending = event
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err))
        break
      }
    }
    if (pending !== undefined) yield { index: index++, event: pending, effects: undefined }
  }
  return { header, events, tail: () => tail }
}

/** The bytes `encodeEffects` writes for `effects`, to compare live and replayed effects exactly. */
export const effectBytes = (effects: ReadonlyArray<StackEffect>): Uint8Array => {
  const w = new ByteWriter(4096)
  encodeEffects(w, effects)
  const chunks = w.take()
  return chunks.length === 1 ? chunks[0]! : concatBytes(chunks)
}
