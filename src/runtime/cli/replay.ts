/**
 * `tslirp replay FILE [--effects] [--until N] [--pcap OUT] [--verify]`: runs a recording
 * (`--record`) through the reducers, with no network, and prints what happened.
 *
 * - Default: a summary (record/summary.ts).
 * - `--effects`: every event and the effects it produced, one line each, before the summary.
 * - `--until N`: stops after event N and prints the stack's state at that point.
 * - `--pcap OUT`: the frames of the replay both ways (the guest's and the stack's), stamped
 *   with the recorded times, for Wireshark.
 * - `--verify`: the recording must hold the live effects (`--record-effects`); each event's
 *   replayed effects are compared byte for byte with them; the first difference fails.
 * Contract: a file that is not a recording, of another format version, or damaged in its
 * header, is one line on stderr and exit 1; a wrong command line is one line and exit 2. A
 * stack that throws on an event (a bug the recording reproduces) is reported with the event's
 * number and the stack trace, exit 3, after the summary of the events before it.
 */
import { closeSync, openSync, readFileSync, writevSync } from "node:fs"
import { describeTarget } from "../../effects/address.ts"
import { absurd } from "../../effects/absurd.ts"
import type { StackEffect } from "../../effects/effect.ts"
import type { StackEvent } from "../../effects/event.ts"
import type { StackState } from "../../protocol/stack/stack.ts"
import { formatIp } from "../../protocol/wire/ip-address.ts"
import { formatIpv4 } from "../../protocol/wire/ipv4-address.ts"
import { pcapGlobalHeader, pcapRecordHeader } from "../pcap/pcap-format.ts"
import { describeProblem, readRecording } from "../record/format.ts"
import { replaySteps, sameAsRecorded } from "../record/replay.ts"
import type { StackMachine } from "../host/session.ts"
import { describeState, formatSummary, summarizer } from "../record/summary.ts"

export const REPLAY_HELP = `Usage: tslirp replay FILE [options]

Runs a recording made with --record through tslirp's stack, with no network, and prints a
summary: TCP connections (endpoints, bytes each way, how they ended; hostfwd clients
marked), UDP flows, DNS queries, DHCP leases, TFTP transfers, drops with their reasons,
retransmissions.

  --effects        print every event and the effects it produced
  --until N        stop after event N and print the stack's state there
  --pcap OUT       write the replay's frames (both ways) to a pcap file
  --verify         compare each event's effects with those recorded live
                   (needs a recording made with --record-effects)
  -h, --help       this text
`

export interface ReplayOptions {
  readonly file: string
  readonly effects: boolean
  readonly until: number | undefined
  readonly pcap: string | undefined
  readonly verify: boolean
}

export const parseReplayArgs = (argv: ReadonlyArray<string>): ReplayOptions | { readonly help: true } | string => {
  let file: string | undefined
  let effects = false
  let verify = false
  let until: number | undefined
  let pcap: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === "-h" || a === "--help") return { help: true }
    if (a === "--effects") effects = true
    else if (a === "--verify") verify = true
    else if (a === "--until" || a === "--pcap") {
      const v = argv[++i]
      if (v === undefined) return `${a} needs a value`
      if (a === "--pcap") pcap = v
      else {
        if (!/^\d+$/.test(v) || Number(v) < 1) return `--until: "${v}" must be an event number (1 or more)`
        until = Number(v)
      }
    } else if (a.startsWith("-")) return `unknown option ${a} (see tslirp replay --help)`
    else if (file === undefined) file = a
    else return `unexpected argument "${a}"`
  }
  if (file === undefined) return "replay needs a recording: tslirp replay FILE"
  return { file, effects, until, pcap, verify }
}

const hexHead = (b: Uint8Array, n = 16): string =>
  Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, "0")).join("") + (b.length > n ? "..." : "")

export const describeEvent = (e: StackEvent): string => {
  switch (e._tag) {
    case "FrameFromGuest":
      return `FrameFromGuest ${e.frame.length} bytes ${hexHead(e.frame)}`
    case "HostTcpConnected":
    case "HostTcpEof":
    case "HostSocketClosed":
      return `${e._tag} sock ${e.sock}`
    case "HostTcpData":
      return `HostTcpData sock ${e.sock} ${e.data.length} bytes`
    case "HostTcpWritten":
      return `HostTcpWritten sock ${e.sock} ${e.bytes} bytes`
    case "HostSocketError":
      return `HostSocketError sock ${e.sock} ${e.code}`
    case "HostUdpDatagram":
      return `HostUdpDatagram sock ${e.sock} from ${describeTarget(e.from)} ${e.data.length} bytes`
    case "HostUnreachable":
      return `HostUnreachable sock ${e.sock} to ${describeTarget(e.to)} ${e.reason}${e.mtu === undefined ? "" : ` mtu ${e.mtu}`}`
    case "HostIcmpEchoReply":
      return `HostIcmpEchoReply sock ${e.sock} from ${e.from} seq ${e.sequence} ${e.payload.length} bytes`
    case "TimerFired":
      return `TimerFired ${e.timer.layer}/${e.timer.key}`
    case "Shutdown":
      return "Shutdown"
    case "HostFileOpened":
      return `HostFileOpened file ${e.file} ${e.size} bytes`
    case "HostFileData":
      return `HostFileData file ${e.file} at ${e.offset} ${e.data.length} bytes`
    case "HostFileError":
      return `HostFileError file ${e.file} ${e.code}`
    case "HostListening":
      return `HostListening sock ${e.sock} port ${e.port}`
    case "HostTcpAccepted":
      return `HostTcpAccepted listener ${e.listener} accepted ${e.accepted}${e.peer === undefined ? "" : ` from ${describeTarget(e.peer)}`}`
    case "HostFwdAdd":
      return `HostFwdAdd ${e.id} ${e.proto} ${describeTarget(e.bind)} -> ${e.guest === undefined ? "first lease" : typeof e.guest === "number" ? formatIpv4(e.guest) : `[${formatIp(e.guest)}]`}:${e.guestPort}`
    case "HostFwdRemove":
    case "GuestFwdRemove":
      return `${e._tag} ${e.id}`
    case "GuestFwdAdd":
      return `GuestFwdAdd ${e.id} ${formatIpv4(e.server)}:${e.port} -> ${describeTarget(e.target)}`
    default:
      return absurd(e)
  }
}

export const describeEffect = (e: StackEffect): string => {
  switch (e._tag) {
    case "DeliverFrame":
      return `DeliverFrame ${e.frame.length} bytes ${hexHead(e.frame)}`
    case "TcpConnect":
      return `TcpConnect sock ${e.sock} to ${describeTarget(e.to)}`
    case "TcpWrite":
      return `TcpWrite sock ${e.sock} ${e.chunks.reduce((n, c) => n + c.length, 0)} bytes`
    case "TcpShutdownWrite":
    case "TcpReset":
    case "SocketClose":
      return `${e._tag} sock ${e.sock}`
    case "TcpSetReading":
      return `TcpSetReading sock ${e.sock} ${e.reading}`
    case "UdpOpen":
    case "IcmpOpen":
      return `${e._tag} sock ${e.sock} IPv${e.family}`
    case "UdpSend":
      return `UdpSend sock ${e.sock} to ${describeTarget(e.to)} ${e.data.length} bytes`
    case "IcmpEchoSend":
      return `IcmpEchoSend sock ${e.sock} to ${e.to} seq ${e.sequence} ${e.payload.length} bytes`
    case "SetTimer":
      return `SetTimer ${e.timer.layer}/${e.timer.key} at ${e.at.toFixed(3)}`
    case "CancelTimer":
      return `CancelTimer ${e.timer.layer}/${e.timer.key}`
    case "Log":
      return `Log ${e.level} ${e.message}`
    case "TcpListen":
      return `TcpListen sock ${e.sock} on ${describeTarget(e.bind)}`
    case "TcpAdopt":
      return `TcpAdopt sock ${e.sock} accepted ${e.accepted}`
    case "TcpRefuse":
      return `TcpRefuse accepted ${e.accepted}`
    case "UdpBind":
      return `UdpBind sock ${e.sock} on ${describeTarget(e.bind)}`
    case "FileOpen":
      return `FileOpen file ${e.file} ${JSON.stringify(e.path)} in ${e.root}`
    case "FileRead":
      return `FileRead file ${e.file} at ${e.offset} ${e.length} bytes`
    case "FileClose":
      return `FileClose file ${e.file}`
    default:
      return absurd(e)
  }
}

/**
 * Runs the replay; returns the exit code. `out` and `err` take whole lines. `machine` replaces
 * the real stack (tests); the summary and `--until` read a real stack's state only.
 */
export const runReplay = (options: ReplayOptions, out: (line: string) => void, err: (line: string) => void, machine?: StackMachine<unknown>): number => {
  let bytes: Uint8Array
  try {
    bytes = readFileSync(options.file)
  } catch (e) {
    err(`tslirp replay: cannot read ${options.file}: ${e instanceof Error ? e.message : String(e)}`)
    return 1
  }
  const rec = readRecording(bytes)
  if ("_tag" in rec) {
    err(`tslirp replay: ${options.file}: ${describeProblem(rec)}`)
    return 1
  }
  if (options.verify && (rec.header.flags & 1) === 0) {
    err(`tslirp replay: ${options.file} holds no live effects to verify against (record with --record-effects)`)
    return 1
  }
  const h = rec.header
  out(`recording of ${h.peer || "a guest"} by tslirp ${h.tslirp}, started ${h.created || "(unknown)"}, seed ${h.config.seed}`)
  const sum = summarizer(h.config)
  // pcap: wall-clock stamps from the recorded times, anchored at the recording's creation.
  const wallStart = Date.parse(h.created)
  const micros = (now: number): number => ((Number.isNaN(wallStart) ? 0 : wallStart) + (now - h.start)) * 1000
  let pcapFd: number | undefined
  let pending: Array<Uint8Array> = []
  let pendingBytes = 0
  const flushPcap = (): void => {
    if (pcapFd === undefined || pending.length === 0) return
    for (let i = 0; i < pending.length; i += 1024) writevSync(pcapFd, pending.slice(i, i + 1024))
    pending = []
    pendingBytes = 0
  }
  const capture = (frame: Uint8Array, now: number): void => {
    if (pcapFd === undefined) return
    pending.push(pcapRecordHeader(micros(now), frame.length), frame)
    pendingBytes += frame.length + 16
    if (pendingBytes > 4 * 1024 * 1024) flushPcap()
  }
  if (options.pcap !== undefined) {
    try {
      pcapFd = openSync(options.pcap, "w")
      pending.push(pcapGlobalHeader())
    } catch (e) {
      err(`tslirp replay: cannot open ${options.pcap}: ${e instanceof Error ? e.message : String(e)}`)
      return 1
    }
  }
  let code = 0
  let verified = 0
  let lastState: unknown
  let lastIndex = 0
  try {
    for (const step of replaySteps<unknown>(rec, machine)) {
      lastIndex = step.index
      sum.observe(step)
      lastState = step.state
      if (step.event._tag === "FrameFromGuest") capture(step.event.frame, step.event.now)
      for (const e of step.effects) if (e._tag === "DeliverFrame") capture(e.frame, step.event.now)
      if (options.effects) {
        out(`#${step.index} ${(step.event.now - h.start).toFixed(3)} ms ${describeEvent(step.event)}`)
        for (const e of step.effects) out(`    ${describeEffect(e)}`)
      }
      if (options.verify) {
        const same = sameAsRecorded(step)
        if (same === false) {
          err(`tslirp replay: event ${step.index} (${step.event._tag}): the replayed effects differ from those recorded live`)
          for (const e of step.recorded ?? []) err(`    live:   ${describeEffect(e)}`)
          for (const e of step.effects) err(`    replay: ${describeEffect(e)}`)
          code = 1
          break
        }
        if (same === true) verified++
      }
      if (options.until !== undefined && step.index >= options.until) break
    }
  } catch (e) {
    // A stack that throws is a bug; a recording of it reproduces it: say where, keep the rest.
    err(`tslirp replay: the stack failed on event ${lastIndex + 1}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    code = 3
  } finally {
    flushPcap()
    if (pcapFd !== undefined) closeSync(pcapFd)
  }
  const tail = rec.tail()
  if (tail.truncated !== undefined) out(`note: the recording ends early (${tail.truncated})`)
  if (tail.stoppedAt !== undefined) out(`note: recording stopped at its size bound (--record-max-bytes), ${(tail.stoppedAt - h.start).toFixed(0)} ms in`)
  if (options.until !== undefined) {
    if (lastIndex < options.until) out(`note: the recording has only ${lastIndex} events`)
    out(`state after event ${lastIndex}:`)
    for (const line of lastState === undefined ? ["(no event reduced)"] : describeState(lastState as StackState)) out(`  ${line}`)
  }
  for (const line of formatSummary(sum.finish())) out(line)
  if (options.verify && code === 0) out(`verified: the effects of all ${verified} events are byte for byte those recorded live`)
  return code
}
