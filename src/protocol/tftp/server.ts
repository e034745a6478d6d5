/**
 * The TFTP server on the gateway address (RFC 1350 with RFC 2347 options, RFC 2348 blksize,
 * RFC 2349 tsize and timeout), as libslirp answers TFTP on its virtual host. Read-only, octet
 * mode only, on IPv4 and IPv6 (the gateway's global and link-local addresses: a transfer answers
 * from the address it was asked on). Files come from the runtime through effects: `FileOpen` (the runtime
 * resolves the name under the TFTP root and refuses escapes), `FileRead` of one block at a time,
 * `FileClose`; it answers with `HostFileOpened`, `HostFileData`, `HostFileError`.
 *
 * Rules:
 * - A request arrives on port 69. WRQ is refused (error 2, read-only), a mode other than
 *   `octet` is refused (error 4: netascii and mail are not served), an unsafe name (path.ts) is
 *   refused (error 2), a request beyond TFTP_MAX_SESSIONS concurrent transfers is refused
 *   (error 0). A repeated request from the same client port while its transfer runs is ignored
 *   (our own retransmission answers it). Refusals come from port 69 and create no state.
 * - Each transfer gets its own server port (its TID, RFC 1350 §4) from the dynamic range,
 *   chosen deterministically from the seed; the stack routes the guest's datagrams to the
 *   gateway on that port here while the transfer lives. A datagram there from any other
 *   address or port gets error 5 (unknown transfer ID) and leaves the transfer alone.
 * - Options (options.ts) are answered with an OACK once the file is open (tsize needs its
 *   size); the client's ACK 0 starts the data. No accepted option: DATA 1 at once.
 * - One DATA block is outstanding: it is read from the runtime, sent, and the next one is read
 *   only when its ACK arrives. Block numbers wrap after 65535 (the common practice; RFC 1350 has
 *   no rule), so any file size works. A block shorter than blksize (possibly empty) is the last;
 *   its ACK ends the transfer.
 * - Duplicate or stale ACKs are ignored: a DATA block is resent only when its timer expires,
 *   never because an ACK repeats (the Sorcerer's Apprentice bug, RFC 1123 §4.2.3.1).
 * - Timers: one per transfer (`{ layer: "tftp", key: port }`), the deadline in state. Awaiting
 *   an ACK: resend the last packet every retransmission interval (1 s, or the client's
 *   `timeout`), at most TFTP_MAX_RETRANSMITS times, then the transfer ends (error 0 to the
 *   client, or silently when only the last block's ACK is missing: the client has the file).
 *   Awaiting the runtime (open or read): TFTP_HOST_TIMEOUT_MS, then error 0. A timer whose
 *   deadline is not in state is a no-op.
 * - An ERROR from the client ends its transfer. Every end closes the file (`FileClose`) unless
 *   the runtime reported it failed, and cancels the timer.
 * Logs: a finished or timed-out transfer is one info line; refusals and errors (the guest's
 * doing, possibly hostile and repeated) are debug lines. A line about one transfer names its flow
 * (flows/log-flow.ts: udp, the guest's port, our transfer port).
 * Pure: the state is replaced, never written; sessions live in an IntMap by server port.
 */
import { absurd } from "../../effects/absurd.ts"
import type { StackEffect } from "../../effects/effect.ts"
import type { LogFlow } from "../../effects/log.ts"
import { logLine, portFlow } from "../flows/log-flow.ts"
import type { HostFileData, HostFileError, HostFileOpened } from "../../effects/event.ts"
import { type FileId, fileId, type TimerId, timerId } from "../../effects/ids.ts"
import { type Instant, addMillis } from "../../effects/instant.ts"
import { type IntMap, emptyIntMap, intMapGet, intMapHas, intMapRemove, intMapSet, intMapValues } from "../data/int-map.ts"
import type { LayerOutput, PacketToGuest } from "../stack/output.ts"
import { UDP_CHECKSUM_OFFSET, UDP_HEADER_LEN, emitUdpHeader } from "../udp/wire.ts"
import { type IpAddress, formatIp, ipEquals } from "../wire/ip-address.ts"
import { negotiate } from "./options.ts"
import { unsafeTftpPath } from "./path.ts"
import {
  ERR_ACCESS_VIOLATION,
  ERR_FILE_NOT_FOUND,
  ERR_ILLEGAL_OPERATION,
  ERR_NOT_DEFINED,
  ERR_UNKNOWN_TID,
  OP_WRQ,
  TFTP_DATA_HEADER_LEN,
  TFTP_DEFAULT_BLKSIZE,
  TFTP_SERVER_PORT,
  type TftpOption,
  type TftpPacket,
  emitDataHeader,
  emitError,
  emitOack,
  parseTftp,
} from "./wire.ts"

/** Concurrent transfers per stack: a PXE boot needs a handful; more is a guest misbehaving. */
export const TFTP_MAX_SESSIONS = 16
/** Retransmission interval without the `timeout` option: LAN round trips are far shorter. */
export const TFTP_RETRANSMIT_MS = 1000
export const TFTP_MAX_RETRANSMITS = 5
/** How long the runtime may take to open a file or read a block before the transfer fails. */
export const TFTP_HOST_TIMEOUT_MS = 10_000
/** Server ports (TIDs) come from the dynamic range, RFC 6335 §6: 49152..65535. */
export const TFTP_TID_FIRST = 49152
export const TFTP_TID_COUNT = 16384
/** IP (IPv4 20, IPv6 40) + UDP (8) + TFTP DATA (4) headers: what a frame holds besides the block. */
const dataOverhead = (a: IpAddress): number => (typeof a === "number" ? 20 : 40) + UDP_HEADER_LEN + TFTP_DATA_HEADER_LEN

export interface TftpContext {
  /** The TFTP root as configured (the runtime resolves names under it). */
  readonly root: string
  readonly mtu: number
  readonly now: Instant
}

/** Opening: waiting for HostFileOpened. Reading: for the HostFileData of `block`. AwaitingAck: for the ACK of `block`. */
export type TftpPhase = "Opening" | "Reading" | "AwaitingAck"

export interface TftpSession {
  /** Our TID: the server port of this transfer. */
  readonly port: number
  readonly client: IpAddress
  /** Our address the request came to (the gateway, IPv4, or IPv6 global or link-local): we answer from it. */
  readonly server: IpAddress
  readonly clientPort: number
  readonly file: FileId
  readonly filename: string
  /** The client's options, answered once the file's size is known. */
  readonly asked: ReadonlyArray<TftpOption>
  readonly phase: TftpPhase
  readonly blksize: number
  readonly retransmitMs: number
  /** The DATA block being read or awaiting its ACK; 0 while an OACK awaits ACK 0. */
  readonly block: number
  /** The packet awaiting its ACK (OACK or DATA): TFTP header and the block's bytes, resent on timeout. */
  readonly sent: { readonly header: Uint8Array; readonly payload: Uint8Array | undefined } | undefined
  /** The DATA awaiting its ACK is the last one (shorter than blksize). */
  readonly final: boolean
  /** File bytes sent in acknowledged blocks and the one in flight, for the log. */
  readonly bytes: number
  readonly deadline: Instant
  readonly retransmits: number
}

export interface TftpState {
  readonly sessions: IntMap<number, TftpSession>
  /** The next `FileId` to hand out. */
  readonly nextFile: number
  /** Offset in the TID range of the next server port to try. */
  readonly nextPort: number
}

export const createTftp = (seed: number): TftpState => ({ sessions: emptyIntMap(), nextFile: 1, nextPort: (seed >>> 0) % TFTP_TID_COUNT })

/** A datagram from the guest to the gateway, on port 69 or a transfer's port. */
export interface TftpIn {
  readonly src: IpAddress
  /** The gateway address it was sent to (of `src`'s family). */
  readonly dst: IpAddress
  readonly srcPort: number
  readonly dstPort: number
  readonly payload: Uint8Array
}

type Result = readonly [TftpState, ReadonlyArray<LayerOutput>]

const log = (level: "debug" | "info" | "warn", message: string, flow?: LogFlow): StackEffect => logLine(level, message, flow)
/** A transfer as a log flow: the guest's port, and our transfer port on the address it asked. */
const transferFlow = (t: TftpSession): LogFlow => portFlow("udp", t.client, t.clientPort, t.server, t.port)
const timerOf = (port: number): TimerId => timerId("tftp", port)
const who = (a: IpAddress, port: number): string => (typeof a === "number" ? `${formatIp(a)}:${port}` : `[${formatIp(a)}]:${port}`)
/** A guest-chosen string for a log line: quoted, and cut to 200 characters (a name may be 64 KiB). */
const quoted = (text: string): string => JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}...` : text)
/** An address kept in state: an IPv6 one may be a view of the guest's frame, so it is copied. */
const kept = (a: IpAddress): IpAddress => (typeof a === "number" ? a : a.slice(0, 16))

/**
 * A UDP datagram from our `src`:`port` to the guest's `dst`:`dstPort` (one family): the TFTP
 * header in the UDP header's buffer, the block's bytes as a view.
 */
const datagram = (src: IpAddress, port: number, dst: IpAddress, dstPort: number, tftpHeader: Uint8Array, payload?: Uint8Array): PacketToGuest => {
  const header = new Uint8Array(UDP_HEADER_LEN + tftpHeader.length)
  header.set(emitUdpHeader(port, dstPort, tftpHeader.length + (payload?.length ?? 0)), 0)
  header.set(tftpHeader, UDP_HEADER_LEN)
  const fields = { _tag: "PacketToGuest", protocol: 17, header, ...(payload === undefined ? {} : { payload }), checksumOffset: UDP_CHECKSUM_OFFSET, pseudoHeader: true } as const
  return typeof src === "number" ? { ...fields, family: 4, src, dst: dst as number } : { ...fields, family: 6, src, dst: dst as Uint8Array }
}

const errorPacket = (src: IpAddress, port: number, dst: IpAddress, dstPort: number, code: number, message: string): PacketToGuest =>
  datagram(src, port, dst, dstPort, emitError(code, message))

/** The transfer of `session` is over: its timer cancelled, its file closed unless the runtime already did. */
const end = (s: TftpState, session: TftpSession, closeFile: boolean): readonly [TftpState, Array<LayerOutput>] => {
  const out: Array<LayerOutput> = [{ _tag: "CancelTimer", timer: timerOf(session.port) }]
  if (closeFile) out.push({ _tag: "FileClose", file: session.file })
  return [{ ...s, sessions: intMapRemove(s.sessions, session.port) }, out]
}

const put = (s: TftpState, session: TftpSession): TftpState => ({ ...s, sessions: intMapSet(s.sessions, session.port, session) })

const arm = (session: TftpSession): StackEffect => ({ _tag: "SetTimer", timer: timerOf(session.port), at: session.deadline })

/** True when a datagram to the gateway's `port` belongs to the TFTP server. */
export const isTftpPort = (s: TftpState, port: number): boolean => port === TFTP_SERVER_PORT || intMapHas(s.sessions, port)

export const tftpFromGuest = (s: TftpState, ctx: TftpContext, m: TftpIn): Result => {
  const p = parseTftp(m.payload)
  const session = m.dstPort === TFTP_SERVER_PORT ? undefined : intMapGet(s.sessions, m.dstPort)
  if (m.dstPort !== TFTP_SERVER_PORT && session === undefined) return [s, [log("debug", `tftp: datagram to port ${m.dstPort} without a transfer dropped`)]]
  if (!p.ok) {
    // A malformed request is answered with error 4 (illegal TFTP operation); a malformed datagram
    // on a transfer port is just dropped (the retransmission timer recovers from a mangled ACK).
    const out: Array<LayerOutput> = [log("debug", `${p.reason} from ${who(m.src, m.srcPort)}`)]
    if (session === undefined) out.push(errorPacket(m.dst, TFTP_SERVER_PORT, m.src, m.srcPort, ERR_ILLEGAL_OPERATION, "malformed request"))
    return [s, out]
  }
  return session === undefined ? request(s, ctx, m, p.packet) : transfer(s, ctx, m, session, p.packet)
}

const findByClient = (s: TftpState, client: IpAddress, clientPort: number): TftpSession | undefined => {
  for (const t of intMapValues(s.sessions)) if (t.clientPort === clientPort && ipEquals(t.client, client)) return t
  return undefined
}

/** A free server port, starting from `nextPort` (at most TFTP_MAX_SESSIONS are taken, so one is near). */
const freePort = (s: TftpState): number => {
  for (let i = 0; ; i++) {
    const port = TFTP_TID_FIRST + ((s.nextPort + i) % TFTP_TID_COUNT)
    if (!intMapHas(s.sessions, port)) return port
  }
}

const request = (s: TftpState, ctx: TftpContext, m: TftpIn, p: TftpPacket): Result => {
  const from = who(m.src, m.srcPort)
  // Refusals are the guest's doing (possibly hostile and repeated): debug lines, like every drop.
  const refuse = (code: number, message: string, why: string): Result => [
    s,
    [log("debug", `tftp: request from ${from} refused: ${why}`), errorPacket(m.dst, TFTP_SERVER_PORT, m.src, m.srcPort, code, message)],
  ]
  if (p._tag !== "Request") return [s, [log("debug", `tftp: ${p._tag} to port 69 from ${from} dropped (not a request)`)]]
  const name = quoted(p.filename)
  if (p.opcode === OP_WRQ) return refuse(ERR_ACCESS_VIOLATION, "read-only server", `write request for ${name} (read-only server)`)
  if (p.mode !== "octet") return refuse(ERR_ILLEGAL_OPERATION, "only octet mode is served", `mode ${quoted(p.mode)} for ${name}`)
  const unsafe = unsafeTftpPath(p.filename)
  if (unsafe !== undefined) return refuse(ERR_ACCESS_VIOLATION, "access violation", `${name}: ${unsafe}`)
  if (findByClient(s, m.src, m.srcPort) !== undefined) return [s, [log("debug", `tftp: repeated request from ${from} ignored (its transfer runs)`)]]
  if (s.sessions.size >= TFTP_MAX_SESSIONS) return refuse(ERR_NOT_DEFINED, "too many transfers, try again later", `${TFTP_MAX_SESSIONS} transfers running`)
  const port = freePort(s)
  const session: TftpSession = {
    port,
    client: kept(m.src),
    server: kept(m.dst),
    clientPort: m.srcPort,
    file: fileId(s.nextFile),
    filename: p.filename,
    asked: p.options,
    phase: "Opening",
    blksize: TFTP_DEFAULT_BLKSIZE,
    retransmitMs: TFTP_RETRANSMIT_MS,
    block: 0,
    sent: undefined,
    final: false,
    bytes: 0,
    deadline: addMillis(ctx.now, TFTP_HOST_TIMEOUT_MS),
    retransmits: 0,
  }
  const next: TftpState = {
    sessions: intMapSet(s.sessions, port, session),
    nextFile: s.nextFile >= 0xffffffff ? 1 : s.nextFile + 1,
    nextPort: (port - TFTP_TID_FIRST + 1) % TFTP_TID_COUNT,
  }
  return [
    next,
    [
      log("debug", `tftp: ${from} reads ${name} (transfer port ${port})`, transferFlow(session)),
      { _tag: "FileOpen", file: session.file, root: ctx.root, path: p.filename },
      arm(session),
    ],
  ]
}

/** A datagram on a transfer's port. */
const transfer = (s: TftpState, ctx: TftpContext, m: TftpIn, t: TftpSession, p: TftpPacket): Result => {
  if (m.srcPort !== t.clientPort || !ipEquals(m.src, t.client) || !ipEquals(m.dst, t.server)) {
    // RFC 1350 §4: answer the stranger with error 5, do not disturb the transfer.
    return [s, [log("debug", `tftp: datagram from ${who(m.src, m.srcPort)} on transfer port ${t.port} of ${who(t.client, t.clientPort)}: unknown transfer ID`), errorPacket(m.dst, t.port, m.src, m.srcPort, ERR_UNKNOWN_TID, "unknown transfer ID")]]
  }
  switch (p._tag) {
    case "Ack": {
      if (t.phase !== "AwaitingAck" || p.block !== (t.block & 0xffff)) {
        // Duplicate or stale: never resend because of it (Sorcerer's Apprentice).
        return [s, [log("debug", `tftp: ACK ${p.block} from ${who(t.client, t.clientPort)} ignored (${t.phase === "AwaitingAck" ? `awaiting ACK ${t.block & 0xffff}` : t.phase})`)]]
      }
      if (t.final) {
        const [next, out] = end(s, t, true)
        return [next, [...out, log("info", `tftp: sent ${quoted(t.filename)} to ${who(t.client, t.clientPort)}: ${t.bytes} bytes in ${t.block} blocks`, transferFlow(t))]]
      }
      const reading: TftpSession = { ...t, phase: "Reading", block: t.block + 1, sent: undefined, retransmits: 0, deadline: addMillis(ctx.now, TFTP_HOST_TIMEOUT_MS) }
      return [put(s, reading), [{ _tag: "FileRead", file: t.file, offset: t.block * t.blksize, length: t.blksize }, arm(reading)]]
    }
    case "Error": {
      const [next, out] = end(s, t, true)
      return [next, [...out, log("debug", `tftp: ${who(t.client, t.clientPort)} ended the transfer of ${quoted(t.filename)}: error ${p.code} ${quoted(p.message)}`, transferFlow(t))]]
    }
    case "Request":
    case "Data":
    case "Oack":
      return [s, [log("debug", `tftp: ${p._tag} from ${who(m.src, m.srcPort)} on transfer port ${t.port} dropped`)]]
    default:
      return absurd(p)
  }
}

const findByFile = (s: TftpState, file: FileId): TftpSession | undefined => {
  for (const t of intMapValues(s.sessions)) if (t.file === file) return t
  return undefined
}

/** What the client is told when the runtime could not open or read the file. */
const errorFor = (code: string): readonly [number, string] => {
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
      return [ERR_FILE_NOT_FOUND, "file not found"]
    case "EACCES":
    case "EPERM":
    case "EISDIR":
    case "ELOOP":
      return [ERR_ACCESS_VIOLATION, "access violation"]
    default:
      return [ERR_NOT_DEFINED, "cannot read the file"]
  }
}

export type TftpFileEvent = HostFileOpened | HostFileData | HostFileError

export const tftpFileEvent = (s: TftpState, ctx: TftpContext, ev: TftpFileEvent): Result => {
  const t = findByFile(s, ev.file)
  if (t === undefined) return [s, [log("debug", `tftp: ${ev._tag} for file ${ev.file} without a transfer ignored`)]]
  const client = who(t.client, t.clientPort)
  switch (ev._tag) {
    case "HostFileOpened": {
      if (t.phase !== "Opening") return [s, [log("debug", `tftp: file ${ev.file} opened twice, ignored`)]]
      const n = negotiate(t.asked, ev.size, Math.max(8, ctx.mtu - dataOverhead(t.client)))
      const base = { ...t, blksize: n.blksize, retransmitMs: n.timeoutMs ?? TFTP_RETRANSMIT_MS, retransmits: 0 }
      if (n.oack.length > 0) {
        const header = emitOack(n.oack)
        const sent: TftpSession = { ...base, phase: "AwaitingAck", block: 0, sent: { header, payload: undefined }, deadline: addMillis(ctx.now, base.retransmitMs) }
        return [put(s, sent), [datagram(t.server, t.port, t.client, t.clientPort, header), arm(sent)]]
      }
      const reading: TftpSession = { ...base, phase: "Reading", block: 1, deadline: addMillis(ctx.now, TFTP_HOST_TIMEOUT_MS) }
      return [put(s, reading), [{ _tag: "FileRead", file: t.file, offset: 0, length: reading.blksize }, arm(reading)]]
    }
    case "HostFileData": {
      if (t.phase !== "Reading" || ev.offset !== (t.block - 1) * t.blksize) return [s, [log("debug", `tftp: stale read of file ${ev.file} at ${ev.offset} ignored`)]]
      // A runtime that returns more than asked is not trusted to have meant it.
      const data = ev.data.length > t.blksize ? ev.data.subarray(0, t.blksize) : ev.data
      const header = emitDataHeader(t.block)
      const sent: TftpSession = {
        ...t,
        phase: "AwaitingAck",
        sent: { header, payload: data },
        final: data.length < t.blksize,
        bytes: t.bytes + data.length,
        retransmits: 0,
        deadline: addMillis(ctx.now, t.retransmitMs),
      }
      return [put(s, sent), [datagram(t.server, t.port, t.client, t.clientPort, header, data), arm(sent)]]
    }
    case "HostFileError": {
      const [code, message] = errorFor(ev.code)
      const [next, out] = end(s, t, false)
      return [next, [...out, log("debug", `tftp: ${quoted(t.filename)} for ${client}: ${ev.code}`, transferFlow(t)), errorPacket(t.server, t.port, t.client, t.clientPort, code, message)]]
    }
    default:
      return absurd(ev)
  }
}

export const tftpTimer = (s: TftpState, ctx: TftpContext, timer: TimerId): Result => {
  const t = intMapGet(s.sessions, timer.key)
  if (t === undefined || ctx.now < t.deadline) return [s, []]
  const client = who(t.client, t.clientPort)
  const name = quoted(t.filename)
  if (t.phase !== "AwaitingAck") {
    const [next, out] = end(s, t, true)
    return [next, [...out, log("warn", `tftp: the host did not ${t.phase === "Opening" ? "open" : "read"} ${name} within ${TFTP_HOST_TIMEOUT_MS} ms; transfer to ${client} failed`, transferFlow(t)), errorPacket(t.server, t.port, t.client, t.clientPort, ERR_NOT_DEFINED, "server could not read the file")]]
  }
  if (t.retransmits < TFTP_MAX_RETRANSMITS && t.sent !== undefined) {
    const again: TftpSession = { ...t, retransmits: t.retransmits + 1, deadline: addMillis(ctx.now, t.retransmitMs) }
    return [put(s, again), [datagram(t.server, t.port, t.client, t.clientPort, t.sent.header, t.sent.payload), arm(again)]]
  }
  const [next, out] = end(s, t, true)
  if (t.final) return [next, [...out, log("info", `tftp: sent ${name} to ${client}: ${t.bytes} bytes in ${t.block} blocks (last ACK not seen)`, transferFlow(t))]]
  return [next, [...out, log("info", `tftp: transfer of ${name} to ${client} timed out at block ${t.block}`, transferFlow(t)), errorPacket(t.server, t.port, t.client, t.clientPort, ERR_NOT_DEFINED, "timed out")]]
}

/** The stack shuts down: every file closed, every timer cancelled. */
export const tftpShutdown = (s: TftpState): ReadonlyArray<StackEffect> => {
  const out: Array<StackEffect> = []
  for (const t of intMapValues(s.sessions)) out.push({ _tag: "CancelTimer", timer: timerOf(t.port) }, { _tag: "FileClose", file: t.file })
  return out
}
