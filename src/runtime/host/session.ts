/**
 * The interpreter: one stack instance driven by a set of ports.
 *
 * Contract:
 * - Every input (guest frame, host event) becomes a `StackEvent` with `now` from the clock and
 *   goes through `reduce`; the effects it returns are carried out in order. The clock is read
 *   once per batch: every frame `batch(fill)` queues carries the instant the batch began.
 * - Events reported while effects are being carried out (a port may report synchronously) are
 *   queued and reduced afterwards, in order: the reducer is never re-entered.
 * - Batches: a lone event is reduced at once, inside the call that reported it; `batch(fill)`
 *   queues every event `fill` reports (e.g. all frames of one read from the guest link) and
 *   reduces them together afterwards. When the queue runs dry, `flush` (if given) is called
 *   once, in the same turn: a link sends what `toGuest` queued during the batch (one writev)
 *   without waiting for a later turn of the event loop.
 * - A reducer that throws is a bug, never the guest's input taking the process down: it is
 *   logged at error level; with `onFailure` the session stops reducing (later input is
 *   ignored) and tells its owner, which ends it (guest-session.ts ends the guest's session
 *   alone); without, that one event is lost and the stack keeps the state it had before it.
 * - `shutdown` feeds `Shutdown`, carries out its effects (socket closes), then closes every
 *   port and drops the state; later inputs are ignored.
 * - With a `recorder`, every event is given to it just before it is reduced (an event the
 *   reducer fails on is recorded too), and the effects it returned just after, in reduce order:
 *   replaying the recorded events from `createStack(config)` gives the same effects.
 * This is the hot path: no Effect fiber, no allocation beyond the event object.
 */
import { absurd } from "../../effects/absurd.ts"
import type { StackEffect } from "../../effects/effect.ts"
import type { StackEvent } from "../../effects/event.ts"
import type { SocketId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import type { StackConfig } from "../../protocol/stack/config.ts"
import { createSlabAllocator, type FrameAllocator } from "../../protocol/ethernet/frame-buffer.ts"
import { createSimdSum16 } from "../../protocol/wire/checksum-simd.ts"
import { createStack, reduce, type StackState } from "../../protocol/stack/stack.ts"
import type { SessionRecorder } from "../record/recorder.ts"
import type { Clock, FilePort, IcmpPort, Logger, PortFactory, Report, TcpPort, TimerPort, UdpPort } from "./ports.ts"
import { noFiles } from "./no-files.ts"

/** A reducer and its initial state: the real stack by default; tests and embedders may swap it. */
export interface StackMachine<S> {
  readonly create: (config: StackConfig, now: Instant) => S
  readonly reduce: (state: S, event: StackEvent) => readonly [S, ReadonlyArray<StackEffect>]
}

/**
 * The runtime's one frame slab (protocol/ethernet/frame-buffer.ts): every session's stack builds
 * its frames for the guest there, and the stream link asks it which frames have headroom for
 * its length prefix. Module state is fine here: the runtime is where the world lives. It offers
 * the stack the WebAssembly SIMD checksum (protocol/wire/checksum-simd.ts) where the engine has it.
 */
export const frameSlab: FrameAllocator = createSlabAllocator({ sum16: createSimdSum16() })

export const realStack: StackMachine<StackState> = {
  create: (config, now) => createStack(config, now),
  reduce: (state, event) => reduce(state, event, frameSlab),
}

/** Everything a session needs from the world, as factories (one port set per session). */
export interface HostDeps {
  readonly clock: Clock
  readonly logger: Logger
  readonly tcp: PortFactory<TcpPort>
  readonly udp: PortFactory<UdpPort>
  readonly icmp: PortFactory<IcmpPort>
  readonly timers: PortFactory<TimerPort>
  /**
   * Files for the TFTP server (a stack with `tftpRoot`). Absent: every `FileOpen` fails with
   * `ENOSYS` (logged once), so a transfer ends with an error rather than silently.
   */
  readonly files?: PortFactory<FilePort>
}

export interface StackSession {
  /**
   * An Ethernet frame from the guest. It is handed over (`FrameFromGuest`'s ownership rule):
   * the caller never writes to it again; a caller that reuses its buffer passes a copy.
   */
  fromGuest(frame: Uint8Array): void
  /** Any event, e.g. recorded ones; `now` is taken as given. */
  input(event: StackEvent): void
  /**
   * Runs `fill`, queueing whatever it reports (`fromGuest`, `input`), then reduces it all as one
   * batch: `flush` once at the end instead of per frame. Inside a batch it just runs `fill`.
   */
  batch(fill: () => void): void
  /** Feed `Shutdown`, close every socket and timer, drop the state. Idempotent. */
  shutdown(): void
  readonly closed: boolean
  /**
   * The stack's state now (undefined once shut down), to read: the control API's connection
   * listing, `stackCounters`. States are immutable, so holding one is safe and it never
   * changes under the caller.
   */
  inspect(): unknown
}

export interface SessionOptions<S> {
  readonly machine?: StackMachine<S>
  /** Called with every effect before it is carried out (recording, tests). */
  readonly onEffect?: (effect: StackEffect) => void
  /**
   * Called when a batch ends (the queue is empty again), in the same turn: the guest link sends
   * the frames `toGuest` queued. Never called from inside `toGuest`.
   */
  readonly flush?: () => void
  /** A reducer threw on `event`: the session takes no more input; the owner should end it. */
  readonly onFailure?: (event: StackEvent, error: unknown) => void
  /** Sees every event before it is reduced and its effects after (`--record`, record/recorder.ts). */
  readonly recorder?: SessionRecorder
}

export const openSession = <S = StackState>(
  config: StackConfig,
  hostDeps: HostDeps,
  toGuest: (frame: Uint8Array) => void,
  options: SessionOptions<S> = {},
): StackSession => {
  const deps = hostDeps
  const machine = (options.machine ?? realStack) as unknown as StackMachine<S>
  const { clock, logger } = deps
  const onEffect = options.onEffect
  const flush = options.flush
  const onFailure = options.onFailure
  const recorder = options.recorder
  let state: S | undefined = machine.create(config, clock.now())
  let closed = false
  /** A reducer threw (with `onFailure`): no more input; `shutdown` still closes the ports. */
  let failed = false
  const queue: Array<StackEvent> = []
  let head = 0
  let busy = false
  /** The clock read once at the start of a `batch`: every frame of the batch carries it. */
  let batchNow: Instant | undefined

  const run = (e: StackEffect): void => {
    switch (e._tag) {
      case "DeliverFrame":
        toGuest(e.frame)
        return
      case "TcpConnect":
        return tcp.connect(e.sock, e.to)
      case "TcpWrite":
        return tcp.write(e.sock, e.chunks)
      case "TcpShutdownWrite":
        return tcp.shutdownWrite(e.sock)
      case "TcpSetReading":
        return tcp.setReading(e.sock, e.reading)
      case "TcpReset":
        return tcp.reset(e.sock)
      case "TcpListen":
        if (tcp.listen === undefined) return unsupported(e.sock)
        return tcp.listen(e.sock, e.bind)
      case "TcpAdopt":
        // A port without `listen` never reported the accepted connection.
        return tcp.adopt?.(e.sock, e.accepted)
      case "TcpRefuse":
        return tcp.refuse?.(e.accepted)
      case "UdpBind":
        if (udp.bind === undefined) return unsupported(e.sock)
        return udp.bind(e.sock, e.bind)
      case "UdpOpen":
        return udp.open(e.sock, e.family)
      case "UdpSend":
        return udp.send(e.sock, e.to, e.data, e.ttl)
      case "IcmpOpen":
        return icmp.open(e.sock, e.family)
      case "IcmpEchoSend":
        return icmp.send(e.sock, e.to, e.sequence, e.payload, e.ttl)
      case "SocketClose":
        if (!tcp.close(e.sock) && !udp.close(e.sock)) icmp.close(e.sock)
        return
      case "SetTimer":
        return timers.set(e.timer, e.at)
      case "CancelTimer":
        return timers.cancel(e.timer)
      case "FileOpen":
        return files.open(e.file, e.root, e.path)
      case "FileRead":
        return files.read(e.file, e.offset, e.length)
      case "FileClose":
        return files.close(e.file)
      case "Log":
        logger.log(e.level, e.message, e.flow)
        return
      default:
        absurd(e)
    }
  }

  /** A port without hostfwd support: the listener fails as a host would refuse it. */
  const unsupported = (sock: SocketId): void => input({ _tag: "HostSocketError", now: clock.now(), sock, code: "EOPNOTSUPP" })

  const drain = (): void => {
    busy = true
    try {
      while (head < queue.length) {
        const event = queue[head++]!
        if (state === undefined) break
        let effects: ReadonlyArray<StackEffect>
        if (recorder !== undefined) recorder.event(event)
        try {
          const [next, out] = machine.reduce(state, event)
          state = next
          effects = out
          if (recorder?.effects !== undefined) recorder.effects(out)
        } catch (err) {
          const why = err instanceof Error ? (err.stack ?? err.message) : String(err)
          if (onFailure === undefined) {
            logger.log("error", `stack failed on ${event._tag}, event dropped: ${why}`)
            continue
          }
          logger.log("error", `stack failed on ${event._tag}, ending the session: ${why}`)
          failed = true
          head = queue.length
          onFailure(event, err)
          break
        }
        for (let i = 0; i < effects.length; i++) {
          const effect = effects[i]!
          if (onEffect !== undefined) onEffect(effect)
          try {
            run(effect)
          } catch (err) {
            logger.log("error", `runtime failed on ${effect._tag}: ${err instanceof Error ? err.message : String(err)}`)
          }
        }
      }
    } finally {
      queue.length = 0
      head = 0
      busy = false
    }
    if (flush !== undefined) {
      try {
        flush()
      } catch (err) {
        logger.log("error", `guest link failed to flush: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }

  const input: Report = (event) => {
    if (closed || failed) return
    queue.push(event)
    if (!busy) drain()
  }

  const tcp = deps.tcp(input)
  const udp = deps.udp(input)
  const icmp = deps.icmp(input)
  const timers = deps.timers(input)
  const files = deps.files === undefined ? noFiles(input, clock, logger) : deps.files(input)

  return {
    fromGuest: (frame) => input({ _tag: "FrameFromGuest", now: batchNow ?? clock.now(), frame }),
    input,
    batch(fill) {
      if (busy || closed || failed) return fill()
      busy = true
      batchNow = clock.now()
      try {
        fill()
      } finally {
        busy = false
        batchNow = undefined
      }
      if (head < queue.length) drain()
    },
    shutdown() {
      if (closed) return
      // If we are inside a drain (a port reported a fatal guest error), Shutdown is queued
      // behind the current events and the ports close once the queue is done.
      input({ _tag: "Shutdown", now: clock.now() })
      closed = true
      const finish = (): void => {
        tcp.closeAll()
        udp.closeAll()
        icmp.closeAll()
        timers.closeAll()
        files.closeAll()
        state = undefined
      }
      if (busy) queueMicrotask(finish)
      else finish()
    },
    get closed() {
      return closed
    },
    inspect: () => state,
  }
}
