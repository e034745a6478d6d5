/**
 * The mocked host: scripted remote hosts behind the same ports as the Node runtime, on Effect's
 * `Clock`, so integration tests drive real stack instances through the real interpreter on a
 * `TestClock` (`it.effect` of @effect/vitest provides one).
 *
 * Contract:
 * - Every deferred action (a scripted host's answer, a connection event, an armed timer) is a
 *   fiber that sleeps on the `Clock` of the context the host was made in, until it is due, then
 *   reports. The fibers belong to the host's scope (closing it interrupts them) and to the port
 *   set that started them (`closeAll` interrupts them, so a session's end takes its timers).
 * - Nothing happens inside a port call: even an action due at once waits for the next
 *   `settle`. On a `TestClock` time moves only in `advance`/`advanceTo` (`TestClock.adjust`,
 *   which wakes sleeps in deadline order, equal deadlines in the order they were armed, with
 *   the clock at each one's deadline), so every event carries the instant it was due.
 *   `settle` runs until nothing due is pending, including what due work schedules for now.
 *   On a live clock `advance` sleeps for real.
 * - Whatever the stack asks the host to do takes effect `latencyMs` later (default 0: at the
 *   next `settle`, which `MockGuest.send` runs for you).
 * - Datagrams to unscripted endpoints vanish (recorded in `udpSent`), like a silent internet;
 *   `refuseUdp` makes an endpoint answer with a port unreachable. TCP connects to unscripted
 *   endpoints are refused (ECONNREFUSED). Echoes to unscripted addresses get no reply.
 * - Every frame the stack delivers to a guest is recorded with its instant.
 * - A script that throws does not vanish in its fiber: the next `settle` (or `advance`) dies
 *   with what it threw.
 *
 * Usage (see test/integration/runtime/mock-host.test.ts), inside `it.effect`:
 *   const host = yield* makeMockHost({ latencyMs: 1 })
 *   host.udpEcho("127.0.0.1", 7777)                       // 10.0.2.2:7777 from the guest
 *   host.dnsResponder("127.0.0.1", 5353, { "a.test": "192.0.2.1" })
 *   const guest = host.attach({ dnsUpstream: { family: 4, address: "127.0.0.1", port: 5353 } })
 *   yield* guest.send(frame)           // FrameFromGuest at host.now, then settle
 *   yield* host.advance(1000)          // replies, timers (ARP, reassembly, expiry) in order
 *   const frames = guest.take()        // frames delivered to the guest since the last take
 *   guest.effects; guest.logs; host.udpSent; host.tcpPeers
 *   yield* guest.shutdown()
 * Outside Effect, `createMockHost()` makes one on a `TestClock` of its own.
 *
 * hostfwd: a stack's `TcpListen`/`UdpBind` binds in this host (the first to bind an address
 * wins, later ones get EADDRINUSE); `host.connectClient(bind, from)` is a host client of a TCP
 * listener (a `MockTcpPeer` whose `to` is the listener; refused at once when nothing listens),
 * `host.sendToListener(bind, from, data)` a datagram to a UDP one, whose answers are recorded in
 * `host.listenerReplies`. guestfwd targets `unix:PATH` and `cmd:COMMAND` are scripted with
 * `tcpListener({ address: "unix:PATH" | "cmd:COMMAND", port: 0 }, script)`. TFTP roots are
 * declared with `host.files(root, entries)` (mock-files.ts).
 */
import { Clock as EffectClock, Context, Duration, Effect, type Fiber, Layer, Scheduler, Scope } from "effect"
// The module, not `effect/testing`, whose index also loads TestSchema (node:assert).
import * as TestClock from "effect/testing/TestClock"
import type { ConnectTarget, HostBind, HostEndpoint, IpFamily } from "../../effects/address.ts"
import type { StackEffect } from "../../effects/effect.ts"
import type { HostUnreachableReason, StackEvent } from "../../effects/event.ts"
import { type SocketId, timerKey } from "../../effects/ids.ts"
import { type Instant, instant } from "../../effects/instant.ts"
import type { LogFlow, LogLevel } from "../../effects/log.ts"
import { defaultConfig, type StackConfig } from "../../protocol/stack/config.ts"
import type { Clock, FilePort, IcmpPort, Logger, PortFactory, Report, TcpPort, TimerPort, UdpPort } from "../host/ports.ts"
import { hostDeps } from "../host/services.ts"
import { type HostDeps, openSession, type StackMachine, type StackSession } from "../host/session.ts"
import type { SessionRecorder } from "../record/recorder.ts"
import { clockPort } from "../host/effect-clock.ts"
import { memoryLogger } from "../host/logger.ts"
import { answerDns } from "./dns-responder.ts"
import { mockHostLayer } from "./layer.ts"
import { createMockFiles, type MockFile } from "./mock-files.ts"

/** What a scripted UDP host can do in answer to a datagram. */
export interface UdpReplyContext {
  readonly now: Instant
  /** Send a datagram back (from the scripted endpoint unless `from` says otherwise), after `delayMs`. */
  reply(data: Uint8Array, options?: { readonly from?: HostEndpoint; readonly delayMs?: number }): void
}
export type UdpScript = (data: Uint8Array, from: HostEndpoint, ctx: UdpReplyContext) => void

/** The remote end of a TCP connection the stack opened, as a scripted host sees it. */
export interface MockTcpPeer {
  /** The stack's host-side socket address (a made-up ephemeral port on 127.0.0.1). */
  readonly from: HostEndpoint
  readonly to: HostEndpoint
  /** Bytes received from the stack, in order. */
  received(): Uint8Array
  /** The stack half-closed (TcpShutdownWrite), closed (SocketClose) or reset (TcpReset). */
  readonly eof: boolean
  readonly closed: boolean
  readonly wasReset: boolean
  write(data: Uint8Array): void
  end(): void
  reset(): void
  onData: ((data: Uint8Array) => void) | undefined
  onEnd: (() => void) | undefined
}
export type TcpScript = (peer: MockTcpPeer) => void

export interface MockHostOptions {
  /** Delay between an action and its answer (default 0). */
  readonly latencyMs?: number
  /** On a `TestClock`: set the clock to this instant at creation (default: leave it). */
  readonly start?: number
  /**
   * The stack `attach` runs when it is given none (default: the real one). Tests pass the real
   * stack wrapped in the referential-transparency harness.
   */
  readonly machine?: StackMachine<unknown>
}

export interface SentDatagram {
  readonly at: Instant
  readonly sock: SocketId
  readonly from: HostEndpoint
  readonly to: HostEndpoint
  readonly data: Uint8Array
  readonly ttl: number | undefined
}

export interface MockGuest {
  /** A frame from the guest, then `settle`. */
  send(frame: Uint8Array): Effect.Effect<void>
  /** Any event (its `now` is replaced by the host's), then `settle`. */
  input(event: StackEvent): Effect.Effect<void>
  /** Frames the stack delivered to this guest, with the instant. */
  readonly frames: ReadonlyArray<{ readonly at: Instant; readonly frame: Uint8Array }>
  /** The frames delivered since the last `take`, oldest first. */
  take(): Array<Uint8Array>
  /** Every effect the stack returned, in order. */
  readonly effects: ReadonlyArray<StackEffect>
  /** The stack's `Log` effects and runtime messages. */
  readonly logs: ReadonlyArray<{ readonly level: LogLevel; readonly message: string; readonly flow?: LogFlow }>
  /** The session's `shutdown`, then `settle`. */
  shutdown(): Effect.Effect<void>
  readonly session: StackSession
}

export interface MockPorts {
  readonly clock: Clock
  readonly tcp: PortFactory<TcpPort>
  readonly udp: PortFactory<UdpPort>
  readonly icmp: PortFactory<IcmpPort>
  readonly timers: PortFactory<TimerPort>
  readonly files: PortFactory<FilePort>
}

export interface MockHost {
  readonly now: Instant
  readonly clock: Clock
  /** `settle`, let `ms` pass (`TestClock.adjust`: due work runs in deadline order), `settle`. */
  advance(ms: number): Effect.Effect<void>
  advanceTo(at: number): Effect.Effect<void>
  /** Run everything due now, and what it schedules for now, until nothing due is pending. */
  readonly settle: Effect.Effect<void>
  /** The deadline of the earliest pending action (a reply, an armed timer), if any. */
  nextDeadline(): Instant | undefined

  udpResponder(endpoint: { readonly address: string; readonly port: number }, script: UdpScript): void
  udpEcho(address: string, port: number): void
  dnsResponder(address: string, port: number, records: Readonly<Record<string, string>>): void
  refuseUdp(address: string, port: number): void
  tcpListener(endpoint: { readonly address: string; readonly port: number }, script: TcpScript): void
  /** A host client connecting to a stack's hostfwd TCP listener at `bind` (see the header). */
  connectClient(bind: HostBind, from?: HostEndpoint): MockTcpPeer
  /** A datagram from `from` to a stack's udp hostfwd listener at `bind`; false if nothing is bound there. */
  sendToListener(bind: HostEndpoint, from: HostEndpoint, data: Uint8Array): boolean
  /** Datagrams udp hostfwd listeners sent to their peers. */
  readonly listenerReplies: ReadonlyArray<{ readonly at: Instant; readonly from: HostEndpoint; readonly to: HostEndpoint; readonly data: Uint8Array }>
  icmpResponder(address: string, ttl?: number): void
  icmpUnreachable(address: string, reason: HostUnreachableReason): void
  /** Make `IcmpOpen` fail, as a host with `ping_group_range` "1 0" does. */
  denyPing(code?: string): void
  /** Declare the files of a TFTP root (mock-files.ts); `openFiles()` counts the files open. */
  files(root: string, entries: Readonly<Record<string, MockFile>>): void
  openFiles(): number

  readonly udpSent: ReadonlyArray<SentDatagram>
  readonly tcpPeers: ReadonlyArray<MockTcpPeer>

  /** The port factories and clock: what `mockHostLayer` (layer.ts) provides as the host services. */
  readonly ports: MockPorts
  /** The services of `mockHostLayer(host, logger)` as one record, for `openSession` or `EmbeddedStack`. */
  deps(logger: Logger): HostDeps
  /** A stack instance attached to this host; `config` overrides the defaults (seed 1). */
  attach(config?: Partial<StackConfig>, options?: { readonly machine?: StackMachine<unknown>; readonly recorder?: SessionRecorder }): MockGuest
}

const key = (address: string, port: number): string => `${address}|${port}`

/** Where a connect goes, as the key scripts are registered under (`unix:PATH`/`cmd:COMMAND` with port 0). */
const targetKey = (to: ConnectTarget): string =>
  to.family === "unix" ? key(`unix:${to.path}`, 0) : to.family === "cmd" ? key(`cmd:${to.command}`, 0) : key(to.address, to.port)

/** The chunks as one array. */
const joined = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, x) => n + x.length, 0))
  let o = 0
  for (const x of chunks) {
    out.set(x, o)
    o += x.length
  }
  return out
}

/** A connect target as `MockTcpPeer.to` shows it: unix and cmd targets as their script key's address, port 0. */
const asEndpoint = (to: ConnectTarget): HostEndpoint =>
  to.family === "unix" ? { family: 4, address: `unix:${to.path}`, port: 0 } : to.family === "cmd" ? { family: 4, address: `cmd:${to.command}`, port: 0 } : to

const bindKey = (b: HostBind): string => (b.family === "unix" ? key(`unix:${b.path}`, 0) : key(b.address === "" ? (b.family === 6 ? "::" : "0.0.0.0") : b.address, b.port))

/** A mock host client as the listener's side holds it until the stack adopts it. */
interface PendingClient {
  readonly peer: MockTcpPeer & { eof: boolean; closed: boolean; wasReset: boolean }
  /** Set by `adopt`: the stack's socket and its report. */
  attach(sock: SocketId, report: Report): void
  /** Events from the client before the stack adopted it, in order. */
  readonly early: Array<(sock: SocketId) => StackEvent>
}

/** One deferred action: a fiber sleeping until `at`, owned by the port set that started it. */
interface Task {
  readonly at: number
  readonly group: Set<Task>
  fiber: Fiber.Fiber<void> | undefined
}

const isTestClock = (clock: EffectClock.Clock): clock is TestClock.TestClock => "adjust" in clock && "setTime" in clock

/**
 * A mocked host on the `Clock` of the current context (a `TestClock` in `it.effect`); its
 * pending actions belong to the current scope.
 */
export const makeMockHost = (options: MockHostOptions = {}): Effect.Effect<MockHost, never, Scope.Scope> =>
  Effect.gen(function* () {
    const effectClock = yield* EffectClock.Clock
    if (options.start !== undefined && isTestClock(effectClock)) yield* effectClock.setTime(options.start)
    const context = yield* Effect.context<Scope.Scope>()
    const pending = new Set<Task>()
    yield* Effect.addFinalizer(() => Effect.sync(() => cancelTasks(pending)))
    return build(options, effectClock, Effect.runForkWith(context), pending)
  })

/**
 * For code outside Effect (a browser page, an embedder's script): a mocked host on a
 * `TestClock` of its own, whose `advance` and `settle` are Effects to run with
 * `Effect.runPromise`. Its pending actions live as long as the host does.
 */
export const createMockHost = (options: MockHostOptions = {}): MockHost => {
  const scope = Scope.makeUnsafe()
  // The test clock's fibers run on the default (asynchronous) scheduler, not on `runSync`'s.
  const context = Effect.runSync(
    Layer.buildWithScope(TestClock.layer(), scope).pipe(Effect.provideService(Scheduler.Scheduler, new Scheduler.MixedScheduler())),
  )
  return Effect.runSync(makeMockHost(options).pipe(Effect.provideContext(Context.add(context, Scope.Scope, scope))))
}

const cancelTasks = (tasks: Set<Task>): void => {
  for (const t of [...tasks]) {
    t.group.delete(t)
    tasks.delete(t)
    t.fiber?.interruptUnsafe()
  }
}

const build = (
  options: MockHostOptions,
  effectClock: EffectClock.Clock,
  fork: (effect: Effect.Effect<void>) => Fiber.Fiber<void>,
  pending: Set<Task>,
): MockHost => {
  const latency = options.latencyMs ?? 0
  const clock: Clock = clockPort(effectClock)
  /** What deferred actions threw (a scripted host's bug, a failed expect in a script): `settle` dies with it. */
  const thrown: Array<unknown> = []
  /**
   * Run `run` `delay` ms from now as a fiber of `group`. Even with no delay it waits for the
   * next turn (`settle`): nothing a port does answers from inside the call.
   */
  const schedule = (group: Set<Task>, run: () => void, delay: number): Task => {
    const task: Task = { at: clock.now() + Math.max(0, delay), group, fiber: undefined }
    const finish = (): void => {
      pending.delete(task)
      group.delete(task)
    }
    pending.add(task)
    group.add(task)
    const wait = delay > 0 ? Effect.sleep(Duration.millis(delay)) : Effect.yieldNow
    task.fiber = fork(
      Effect.andThen(
        wait,
        Effect.sync(() => {
          finish()
          try {
            run()
          } catch (err) {
            thrown.push(err)
          }
        }),
      ).pipe(Effect.onInterrupt(() => Effect.sync(finish))),
    )
    return task
  }

  const hasDue = (): boolean => {
    const now = clock.now()
    for (const t of pending) if (t.at <= now) return true
    return false
  }
  // Each round lets every fiber already scheduled run (they were queued before this one).
  const settle: Effect.Effect<void> = Effect.suspend(function loop(): Effect.Effect<void> {
    if (thrown.length > 0) return Effect.die(thrown.splice(0)[0])
    return hasDue() ? Effect.andThen(Effect.yieldNow, Effect.suspend(loop)) : Effect.void
  })
  const pass = (ms: number): Effect.Effect<void> =>
    ms <= 0 ? Effect.void : isTestClock(effectClock) ? effectClock.adjust(Duration.millis(ms)) : effectClock.sleep(Duration.millis(ms))
  const advance = (ms: number): Effect.Effect<void> => Effect.andThen(settle, Effect.andThen(Effect.suspend(() => pass(ms)), settle))

  const udpScripts = new Map<string, UdpScript>()
  const refused = new Set<string>()
  const tcpScripts = new Map<string, TcpScript>()
  const icmpHosts = new Map<string, number>()
  const icmpErrors = new Map<string, HostUnreachableReason>()
  let pingDenied: string | undefined
  const udpSent: Array<SentDatagram> = []
  const tcpPeers: Array<MockTcpPeer> = []
  let nextEphemeral = 40000
  /** hostfwd listeners of every stack on this host, by bound address. */
  const tcpListeners = new Map<string, { readonly sock: SocketId; readonly report: Report; readonly port: { pending: Map<number, PendingClient> } }>()
  const udpListeners = new Map<string, { readonly sock: SocketId; readonly report: Report; readonly bind: HostEndpoint }>()
  const listenerReplies: Array<{ at: Instant; from: HostEndpoint; to: HostEndpoint; data: Uint8Array }> = []
  let nextAccepted = 1
  /** The host's own deferred actions (host clients of listeners, files): they end with the host's scope. */
  const hostTasks = new Set<Task>()
  const hostLater = (run: () => void, delay = latency): Task => schedule(hostTasks, run, delay)

  const udpPort = (report: Report): UdpPort => {
    const socks = new Map<SocketId, HostEndpoint>()
    const tasks = new Set<Task>()
    const later = (run: () => void, delay = latency): Task => schedule(tasks, run, delay)
    let open = true
    const emit = (event: () => StackEvent, delay = latency): void => {
      later(() => {
        if (open) report(event())
      }, delay)
    }
    const bound = new Map<SocketId, string>()
    return {
      open(sock, family: IpFamily) {
        socks.set(sock, { family, address: family === 6 ? "::1" : "127.0.0.1", port: nextEphemeral++ })
      },
      bind(sock, at) {
        const k = bindKey(at)
        if (udpListeners.has(k)) {
          emit(() => ({ _tag: "HostSocketError", now: clock.now(), sock, code: "EADDRINUSE" }))
          return
        }
        const port = at.port === 0 ? nextEphemeral++ : at.port
        udpListeners.set(bindKey({ ...at, port }), { sock, report, bind: { ...at, port } })
        bound.set(sock, bindKey({ ...at, port }))
        emit(() => ({ _tag: "HostListening", now: clock.now(), sock, port }))
      },
      send(sock, to, data, ttl) {
        const listener = bound.get(sock)
        if (listener !== undefined) {
          listenerReplies.push({ at: clock.now(), from: udpListeners.get(listener)!.bind, to, data: data.slice() })
          return
        }
        const from = socks.get(sock)
        if (from === undefined) return
        const copy = data.slice()
        udpSent.push({ at: clock.now(), sock, from, to, data: copy, ttl })
        const k = key(to.address, to.port)
        if (refused.has(k)) {
          emit(() => ({ _tag: "HostUnreachable", now: clock.now(), sock, to, reason: "port" }))
          return
        }
        const script = udpScripts.get(k)
        if (script === undefined) return
        later(() => {
          if (!open || !socks.has(sock)) return
          script(copy, from, {
            now: clock.now(),
            reply(answer, o) {
              const src = o?.from ?? to
              const bytes = answer.slice()
              emit(() => ({ _tag: "HostUdpDatagram", now: clock.now(), sock, from: src, data: bytes }), o?.delayMs ?? latency)
            },
          })
        })
      },
      close(sock) {
        const listener = bound.get(sock)
        if (listener !== undefined) {
          bound.delete(sock)
          udpListeners.delete(listener)
          return true
        }
        return socks.delete(sock)
      },
      closeAll() {
        open = false
        socks.clear()
        for (const k of bound.values()) udpListeners.delete(k)
        bound.clear()
        cancelTasks(tasks)
      },
    }
  }

  const icmpPort = (report: Report): IcmpPort => {
    const socks = new Set<SocketId>()
    const tasks = new Set<Task>()
    const later = (run: () => void, delay = latency): Task => schedule(tasks, run, delay)
    let open = true
    const emit = (event: () => StackEvent): void => {
      later(() => {
        if (open) report(event())
      })
    }
    return {
      open(sock) {
        if (pingDenied !== undefined) {
          const code = pingDenied
          emit(() => ({ _tag: "HostSocketError", now: clock.now(), sock, code }))
          return
        }
        socks.add(sock)
      },
      send(sock, to, sequence, payload, ttl) {
        if (!socks.has(sock)) return
        const reason = icmpErrors.get(to)
        if (reason !== undefined || (ttl !== undefined && ttl <= 1 && icmpHosts.has(to))) {
          const why = reason ?? "ttl-exceeded"
          emit(() => ({ _tag: "HostUnreachable", now: clock.now(), sock, to: { family: to.includes(":") ? 6 : 4, address: to, port: 0 }, reason: why }))
          return
        }
        const replyTtl = icmpHosts.get(to)
        if (replyTtl === undefined) return
        const copy = payload.slice()
        emit(() => ({ _tag: "HostIcmpEchoReply", now: clock.now(), sock, from: to, sequence, payload: copy, ttl: replyTtl }))
      },
      close: (sock) => socks.delete(sock),
      closeAll() {
        open = false
        socks.clear()
        cancelTasks(tasks)
      },
    }
  }

  const tcpPort = (report: Report): TcpPort => {
    interface Conn {
      readonly peer: MockTcpPeer & { eof: boolean; closed: boolean; wasReset: boolean }
      reading: boolean
      readonly toStack: Array<StackEvent>
      connected: boolean
    }
    const conns = new Map<SocketId, Conn>()
    /** This stack's hostfwd listeners (bound key -> pending clients) and sockets. */
    const listeners = new Map<string, { pending: Map<number, PendingClient> }>()
    const listenerSocks = new Map<SocketId, string>()
    const tasks = new Set<Task>()
    const later = (run: () => void, delay = latency): Task => schedule(tasks, run, delay)
    let open = true
    const emit = (event: () => StackEvent, delay = latency): void => {
      later(() => {
        if (open) report(event())
      }, delay)
    }
    const deliver = (sock: SocketId, c: Conn, event: StackEvent): void => {
      if (c.reading && c.toStack.length === 0) report(event)
      else c.toStack.push(event)
    }
    return {
      connect(sock, to) {
        const script = tcpScripts.get(targetKey(to))
        if (script === undefined) {
          emit(() => ({ _tag: "HostSocketError", now: clock.now(), sock, code: "ECONNREFUSED" }))
          emit(() => ({ _tag: "HostSocketClosed", now: clock.now(), sock }))
          return
        }
        const chunks: Array<Uint8Array> = []
        let c: Conn
        const peer = {
          from: { family: to.family === 6 ? 6 : 4, address: "127.0.0.1", port: nextEphemeral++ } as HostEndpoint,
          to: asEndpoint(to),
          eof: false,
          closed: false,
          wasReset: false,
          onData: undefined as ((data: Uint8Array) => void) | undefined,
          onEnd: undefined as (() => void) | undefined,
          received: () => joined(chunks),
          write(data: Uint8Array) {
            const bytes = data.slice()
            later(() => {
              if (open && conns.get(sock) === c && !peer.closed) deliver(sock, c, { _tag: "HostTcpData", now: clock.now(), sock, data: bytes })
            })
          },
          end() {
            later(() => {
              if (open && conns.get(sock) === c && !peer.closed) deliver(sock, c, { _tag: "HostTcpEof", now: clock.now(), sock })
            })
          },
          reset() {
            later(() => {
              if (!open || conns.get(sock) !== c) return
              conns.delete(sock)
              peer.closed = true
              report({ _tag: "HostSocketError", now: clock.now(), sock, code: "ECONNRESET" })
              report({ _tag: "HostSocketClosed", now: clock.now(), sock })
            })
          },
          _chunks: chunks,
        }
        c = { peer, reading: true, toStack: [], connected: false }
        conns.set(sock, c)
        tcpPeers.push(peer)
        later(() => {
          if (!open || conns.get(sock) !== c) return
          c.connected = true
          report({ _tag: "HostTcpConnected", now: clock.now(), sock })
          script(peer)
        })
      },
      write(sock, chunks) {
        const c = conns.get(sock)
        if (c === undefined || c.peer.eof) return
        const bytes = joined(chunks)
        emit(() => ({ _tag: "HostTcpWritten", now: clock.now(), sock, bytes: bytes.length }), 0)
        later(() => {
          if (c.peer.wasReset) return
          ;(c.peer as unknown as { _chunks: Array<Uint8Array> })._chunks.push(bytes)
          c.peer.onData?.(bytes)
        })
      },
      shutdownWrite(sock) {
        const c = conns.get(sock)
        if (c === undefined || c.peer.eof) return
        later(() => {
          c.peer.eof = true
          c.peer.onEnd?.()
        })
      },
      setReading(sock, reading) {
        const c = conns.get(sock)
        if (c === undefined) return
        c.reading = reading
        if (reading) {
          later(() => {
            while (c.reading && c.toStack.length > 0 && open) report(c.toStack.shift()!)
          }, 0)
        }
      },
      reset(sock) {
        const c = conns.get(sock)
        if (c === undefined) return
        conns.delete(sock)
        c.peer.wasReset = true
        c.peer.closed = true
        emit(() => ({ _tag: "HostSocketClosed", now: clock.now(), sock }), 0)
      },
      close(sock) {
        const listening = listenerSocks.get(sock)
        if (listening !== undefined) {
          listenerSocks.delete(sock)
          listeners.delete(listening)
          tcpListeners.delete(listening)
          return true
        }
        const c = conns.get(sock)
        if (c === undefined) return false
        conns.delete(sock)
        later(() => {
          c.peer.eof = true
          c.peer.closed = true
          c.peer.onEnd?.()
        })
        emit(() => ({ _tag: "HostSocketClosed", now: clock.now(), sock }))
        return true
      },
      closeAll() {
        open = false
        for (const c of conns.values()) c.peer.closed = true
        conns.clear()
        for (const [k, l] of listeners) {
          tcpListeners.delete(k)
          for (const p of l.pending.values()) p.peer.closed = true
        }
        listeners.clear()
        cancelTasks(tasks)
      },
      listen(sock, at) {
        const k = bindKey(at)
        if (tcpListeners.has(k)) {
          emit(() => ({ _tag: "HostSocketError", now: clock.now(), sock, code: "EADDRINUSE" }))
          return
        }
        const port = at.family === "unix" ? 0 : at.port === 0 ? nextEphemeral++ : at.port
        const entry = { sock, report, port: { pending: new Map<number, PendingClient>() } }
        const boundKey = at.family === "unix" ? k : bindKey({ ...at, port })
        tcpListeners.set(boundKey, entry)
        listeners.set(boundKey, entry.port)
        listenerSocks.set(sock, boundKey)
        emit(() => ({ _tag: "HostListening", now: clock.now(), sock, port }))
      },
      adopt(sock, accepted) {
        for (const l of listeners.values()) {
          const p = l.pending.get(accepted)
          if (p === undefined) continue
          l.pending.delete(accepted)
          const c: Conn = { peer: p.peer, reading: true, toStack: [], connected: true }
          conns.set(sock, c)
          p.attach(sock, (event) => {
            if (open && conns.get(sock) === c) deliver(sock, c, event)
          })
          return
        }
      },
      refuse(accepted) {
        for (const l of listeners.values()) {
          const p = l.pending.get(accepted)
          if (p === undefined) continue
          l.pending.delete(accepted)
          p.peer.wasReset = true
          p.peer.closed = true
        }
      },
    }
  }

  /** A host client of a hostfwd listener: its bytes to the stack once adopted, the stack's bytes to `received`. */
  const connectClient = (bind: HostBind, from?: HostEndpoint): MockTcpPeer => {
    const chunks: Array<Uint8Array> = []
    let sock: SocketId | undefined
    let report: Report | undefined
    const early: Array<(sock: SocketId) => StackEvent> = []
    const toStack = (event: (sock: SocketId) => StackEvent): void => {
      hostLater(() => {
        if (peer.closed && !peer.eof) return
        if (sock === undefined || report === undefined) early.push(event)
        else report(event(sock))
      })
    }
    const peer = {
      from: from ?? { family: 4 as const, address: "127.0.0.1", port: nextEphemeral++ },
      to: asEndpoint(bind),
      eof: false,
      closed: false,
      wasReset: false,
      onData: undefined as ((data: Uint8Array) => void) | undefined,
      onEnd: undefined as (() => void) | undefined,
      received: () => joined(chunks),
      write(data: Uint8Array) {
        const bytes = data.slice()
        toStack((sock) => ({ _tag: "HostTcpData", now: clock.now(), sock, data: bytes }))
      },
      end() {
        toStack((sock) => ({ _tag: "HostTcpEof", now: clock.now(), sock }))
      },
      reset() {
        hostLater(() => {
          peer.closed = true
          if (sock !== undefined && report !== undefined) {
            report({ _tag: "HostSocketError", now: clock.now(), sock, code: "ECONNRESET" })
            report({ _tag: "HostSocketClosed", now: clock.now(), sock })
          }
        })
      },
      _chunks: chunks,
    }
    tcpPeers.push(peer)
    const l = tcpListeners.get(bindKey(bind))
    if (l === undefined) {
      peer.closed = true
      peer.wasReset = true
      return peer
    }
    const accepted = nextAccepted++
    l.port.pending.set(accepted, {
      peer,
      early,
      attach(s, r) {
        sock = s
        report = r
        for (const e of early.splice(0)) r(e(s))
      },
    })
    hostLater(() => l.report({ _tag: "HostTcpAccepted", now: clock.now(), listener: l.sock, accepted, ...(from === undefined ? {} : { peer: from }) }))
    return peer
  }

  const sendToListener = (bind: HostEndpoint, from: HostEndpoint, data: Uint8Array): boolean => {
    const l = udpListeners.get(bindKey(bind))
    if (l === undefined) return false
    const bytes = data.slice()
    hostLater(() => l.report({ _tag: "HostUdpDatagram", now: clock.now(), sock: l.sock, from, data: bytes }))
    return true
  }

  const timerPort = (report: Report): TimerPort => {
    // Keyed by `timerKey`: two equal ids are one timer (ids are plain data, not identities).
    const armed = new Map<string, Task>()
    const tasks = new Set<Task>()
    const cancel = (task: Task): void => {
      tasks.delete(task)
      pending.delete(task)
      task.fiber?.interruptUnsafe()
    }
    return {
      set(timer, at) {
        const key = timerKey(timer)
        const old = armed.get(key)
        if (old !== undefined) cancel(old)
        // A deadline already past fires at the next settle, as a late real timer would.
        const task = schedule(
          tasks,
          () => {
            armed.delete(key)
            report({ _tag: "TimerFired", now: clock.now(), timer })
          },
          at - clock.now(),
        )
        armed.set(key, task)
      },
      cancel(timer) {
        const key = timerKey(timer)
        const old = armed.get(key)
        if (old === undefined) return
        cancel(old)
        armed.delete(key)
      },
      closeAll() {
        cancelTasks(tasks)
        armed.clear()
      },
    }
  }

  const mockFiles = createMockFiles(clock, (run) => void hostLater(run))

  const host: MockHost = {
    get now() {
      return clock.now()
    },
    clock,
    advance,
    advanceTo: (at) => Effect.suspend(() => advance(at - clock.now())),
    settle,
    nextDeadline() {
      let next: number | undefined
      for (const t of pending) if (next === undefined || t.at < next) next = t.at
      return next === undefined ? undefined : instant(next)
    },

    udpResponder: (e, script) => void udpScripts.set(key(e.address, e.port), script),
    udpEcho: (address, port) => host.udpResponder({ address, port }, (data, _from, ctx) => ctx.reply(data)),
    dnsResponder(address, port, records) {
      const table = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v]))
      host.udpResponder({ address, port }, (data, _from, ctx) => {
        const answer = answerDns(data, table)
        if (answer !== undefined) ctx.reply(answer)
      })
    },
    refuseUdp: (address, port) => void refused.add(key(address, port)),
    tcpListener: (e, script) => void tcpScripts.set(key(e.address, e.port), script),
    icmpResponder: (address, ttl = 64) => void icmpHosts.set(address, ttl),
    icmpUnreachable: (address, reason) => void icmpErrors.set(address, reason),
    denyPing: (code = "EACCES") => {
      pingDenied = code
    },
    files: (root, entries) => mockFiles.declare(root, entries),
    openFiles: () => mockFiles.openCount(),

    udpSent,
    tcpPeers,
    connectClient,
    sendToListener,
    listenerReplies,
    ports: { clock, tcp: tcpPort, udp: udpPort, icmp: icmpPort, timers: timerPort, files: mockFiles.port },
    // Derived from the layer, the one wiring of the mocked host.
    deps: (logger) => Effect.runSync(Effect.provide(hostDeps, mockHostLayer(host, logger))),

    attach(config = {}, attachOptions = {}) {
      const frames: Array<{ at: Instant; frame: Uint8Array }> = []
      const effects: Array<StackEffect> = []
      const logger = memoryLogger()
      const logs = logger.lines
      let taken = 0
      const machine = attachOptions.machine ?? options.machine
      const sessionOptions = {
        onEffect: (e: StackEffect) => void effects.push(e),
        ...(machine === undefined ? {} : { machine }),
        ...(attachOptions.recorder === undefined ? {} : { recorder: attachOptions.recorder }),
      }
      const session = openSession(
        { ...defaultConfig, ...config },
        host.deps(logger),
        (frame) => void frames.push({ at: clock.now(), frame: frame.slice() }),
        sessionOptions,
      )
      return {
        send: (frame) =>
          Effect.suspend(() => {
            session.fromGuest(frame)
            return settle
          }),
        input: (event) =>
          Effect.suspend(() => {
            session.input({ ...event, now: clock.now() })
            return settle
          }),
        frames,
        take() {
          const out = frames.slice(taken).map((f) => f.frame)
          taken = frames.length
          return out
        },
        effects,
        logs,
        shutdown: () =>
          Effect.suspend(() => {
            session.shutdown()
            return settle
          }),
        session,
      }
    },
  }
  return host
}
