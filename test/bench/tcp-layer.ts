/**
 * Micro-benchmark of the TCP path through the stack reducer, no sockets, no QEMU:
 * `node test/bench/tcp-layer.ts [MiB]` pushes MiB (default 64) guest -> host and host -> guest
 * at MTU 1500 and 32000 and prints the reducer's throughput (MB/s of payload per second spent
 * inside `reduce`; the scripted guest and host around it are not counted).
 *
 * The guest is scripted here: it opens one connection (MSS for the MTU, window scale 7, no
 * SACK, no timestamps, like a minimal Linux peer), sends full segments as far as the window
 * allows and acknowledges every second segment it receives. The host answers `TcpConnect`,
 * reports every `TcpWrite` written after each burst (as the runtime does after a batch) and
 * reads 64 KiB at a time while reading is on. Every byte is checked at the far end, so a
 * broken stack cannot post a good figure. Timers fire only when nothing else can progress.
 *
 * Two figures: the wall-clock time inside `reduce` during the live run, and the main thread's
 * CPU time (`process.threadCpuUsage`) to replay the recorded events through a fresh stack (the
 * reducer is deterministic, so the replay does exactly the live run's work). The CPU figure
 * does not count time the process spent descheduled, so it is the one to compare commits by on
 * a shared machine. Both are the best of RUNS (env, default 5) runs. With BASE set (see below)
 * the same events are also replayed through another commit's stack, alternating, in-process.
 */
import type { StackEffect } from "../../src/effects/effect.ts"
import type { StackEvent } from "../../src/effects/event.ts"
import type { SocketId, TimerId } from "../../src/effects/ids.ts"
import { type Instant, instant } from "../../src/effects/instant.ts"
import { defaultConfig } from "../../src/protocol/stack/config.ts"
import { createStack, reduce as reduceWith, type StackState } from "../../src/protocol/stack/stack.ts"
import { createSlabAllocator } from "../../src/protocol/ethernet/frame-buffer.ts"

/** Frames carved from slabs, as the runtime's session does (session.ts `frameSlab`). */
const frames = createSlabAllocator()
const reduce = (s: StackState, e: StackEvent) => reduceWith(s, e, frames)
import { ACK, SYN, assembleSegment, emitTcpHeader, parseTcp } from "../../src/protocol/tcp/wire.ts"
import { GUEST, GW_MAC, HOST, decode, ether, ipv4Packet } from "../integration/stack/frames.ts"

const GPORT = 40000
const RPORT = 5201
const GUEST_ISS = 1_000_000
const READ_BYTES = 64 * 1024
const WSCALE = 7

interface Run {
  readonly bytes: number
  readonly reduceMs: number
  readonly events: number
  readonly rewinds: number
  /** Every event the run reduced, in order, with the config: replayed for the CPU figure. */
  readonly recorded: ReadonlyArray<StackEvent>
  readonly mtu: number
}

const source = (n: number): Uint8Array => {
  const b = new Uint8Array(n)
  let x = 12345
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0
    b[i] = x >>> 24
  }
  return b
}

/** Bytes written to the host socket by one `TcpWrite`, whatever its shape. */
const writtenChunks = (e: Extract<StackEffect, { _tag: "TcpWrite" }>): ReadonlyArray<Uint8Array> => {
  const w = e as unknown as { readonly data?: Uint8Array; readonly chunks?: ReadonlyArray<Uint8Array> }
  return w.chunks ?? (w.data === undefined ? [] : [w.data])
}

const run = (mtu: number, total: number, direction: "up" | "down"): Run => {
  let s: StackState = createStack({ ...defaultConfig, mtu })
  let now = 1_000_000
  let reduceMs = 0
  let events = 0
  const timers = new Map<TimerId, number>()
  const data = source(total)

  // Guest side.
  let sock: SocketId | undefined
  let connected = false
  let ourIss = 0
  let stackShift = 0
  let guestNxt = GUEST_ISS + 1
  let stackAck = GUEST_ISS + 1
  let stackWnd = 0
  let rcvNxt = 0
  let unacked = 0
  let received = 0
  // Host side.
  let reading = true
  let hostSent = 0
  let hostGot = 0
  let writesPending = 0
  let hostEof = false
  let rewinds = 0

  const guestFrame = (flags: number, seq: number, ack: number, payload: Uint8Array | undefined, syn = false): Uint8Array => {
    const header = emitTcpHeader({
      srcPort: GPORT,
      dstPort: RPORT,
      seq: seq >>> 0,
      ack: ack >>> 0,
      flags,
      window: syn ? 0xffff : 0xffff,
      mss: syn ? mtu - 40 : undefined,
      wscale: syn ? WSCALE : undefined,
    })
    return ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 6, assembleSegment(header, payload, GUEST, HOST)))
  }

  const onFrame = (f: Uint8Array): void => {
    const d = decode(f)
    if (d.ip === undefined || d.ip.protocol !== 6) return
    const p = parseTcp(d.ip.payload, d.ip.src, d.ip.dst)
    if (!p.ok) throw new Error(`bad segment from the stack: ${p.reason}`)
    const t = p.tcp
    if ((t.flags & SYN) !== 0) {
      ourIss = t.seq
      rcvNxt = (t.seq + 1) >>> 0
      stackShift = t.wscale >= 0 ? t.wscale : 0
      stackAck = t.ack
      stackWnd = t.window
      connected = true
      step({ _tag: "FrameFromGuest", now: instant(now), frame: guestFrame(ACK, guestNxt, rcvNxt, undefined) })
      return
    }
    if ((t.flags & ACK) !== 0) {
      stackAck = t.ack
      stackWnd = t.window * 2 ** stackShift
    }
    const len = d.ip.payload.length - t.headerLength
    if (len > 0) {
      if (t.seq !== rcvNxt) throw new Error(`out of order from the stack: ${t.seq} expected ${rcvNxt}`)
      const payload = d.ip.payload.subarray(t.headerLength)
      for (let i = 0; i < len; i += 997) if (payload[i] !== data[received + i]) throw new Error(`guest got a wrong byte at ${received + i}`)
      received += len
      rcvNxt = (rcvNxt + len) >>> 0
      if (++unacked >= 2) {
        unacked = 0
        step({ _tag: "FrameFromGuest", now: instant(now), frame: guestFrame(ACK, guestNxt, rcvNxt, undefined) })
      }
    }
  }

  const onEffect = (e: StackEffect): void => {
    switch (e._tag) {
      case "DeliverFrame":
        onFrame(e.frame)
        break
      case "TcpConnect":
        sock = e.sock
        break
      case "TcpWrite":
        for (const c of writtenChunks(e)) {
          for (let i = 0; i < c.length; i += 997) if (c[i] !== data[hostGot + i]) throw new Error(`host got a wrong byte at ${hostGot + i}`)
          hostGot += c.length
          writesPending += c.length
        }
        break
      case "TcpSetReading":
        reading = e.reading
        break
      case "SetTimer":
        timers.set(e.timer, e.at)
        break
      case "CancelTimer":
        timers.delete(e.timer)
        break
      case "Log":
        if (e.level !== "debug") throw new Error(`unexpected log: ${e.message}`)
        break
      default:
        break
    }
  }

  const recorded: Array<StackEvent> = []
  const step = (ev: StackEvent): void => {
    recorded.push(ev)
    const t0 = performance.now()
    const [next, fx] = reduce(s, ev)
    reduceMs += performance.now() - t0
    events++
    s = next
    for (const e of fx) onEffect(e)
  }

  const fireEarliest = (): boolean => {
    let first: [TimerId, number] | undefined
    for (const t of timers) if (first === undefined || t[1] < first[1]) first = t
    if (first === undefined) return false
    timers.delete(first[0])
    now = Math.max(now, first[1])
    step({ _tag: "TimerFired", now: instant(now), timer: first[0] })
    return true
  }

  step({ _tag: "FrameFromGuest", now: instant(now), frame: guestFrame(SYN, GUEST_ISS, 0, undefined, true) })
  if (sock === undefined) throw new Error("no TcpConnect")
  const id = sock
  step({ _tag: "HostTcpConnected", now: instant(now), sock: id })
  if (!connected) throw new Error("no SYN-ACK")
  void ourIss

  const mss = mtu - 40
  for (let rounds = 0; ; rounds++) {
    if (rounds > 10_000_000) throw new Error("no progress")
    now += 0.01
    let progressed = false
    if (direction === "up") {
      if (hostGot >= total) break
      // The guest sends what the window allows, in a burst of at most 64 segments.
      for (let n = 0; n < 64; n++) {
        const sent = (guestNxt - (GUEST_ISS + 1)) >>> 0
        const inFlight = (guestNxt - stackAck) >>> 0
        const len = Math.min(mss, total - sent, stackWnd - inFlight)
        if (len <= 0) break
        const frame = guestFrame(ACK, guestNxt, rcvNxt, data.subarray(sent, sent + len))
        guestNxt = (guestNxt + len) >>> 0
        step({ _tag: "FrameFromGuest", now: instant(now), frame })
        progressed = true
      }
      if (writesPending > 0) {
        const bytes = writesPending
        writesPending = 0
        step({ _tag: "HostTcpWritten", now: instant(now), sock: id, bytes })
        progressed = true
      }
    } else {
      if (received >= total) break
      if (reading && hostSent < total) {
        const n = Math.min(READ_BYTES, total - hostSent)
        step({ _tag: "HostTcpData", now: instant(now), sock: id, data: data.slice(hostSent, hostSent + n) })
        hostSent += n
        progressed = true
      } else if (!hostEof && hostSent >= total) {
        hostEof = true
      }
      if (unacked > 0 && !progressed) {
        unacked = 0
        step({ _tag: "FrameFromGuest", now: instant(now), frame: guestFrame(ACK, guestNxt, rcvNxt, undefined) })
        progressed = true
      }
    }
    if (!progressed && direction === "up" && guestNxt !== stackAck) {
      // The window field is rounded up to the scale unit; the stack trims what lies past its
      // exact edge. A real guest retransmits after a timeout; this one goes back to the ACK.
      guestNxt = stackAck
      rewinds++
      continue
    }
    if (!progressed && !fireEarliest()) throw new Error(`stuck (${direction}, mtu ${mtu}): sent ${(guestNxt - GUEST_ISS - 1) >>> 0} acked ${(stackAck - GUEST_ISS - 1) >>> 0} wnd ${stackWnd} host got ${hostGot}`)
  }
  void (now as Instant)
  return { bytes: total, reduceMs, events, rewinds, recorded, mtu }
}

interface StackModule {
  readonly createStack: typeof createStack
  readonly reduce: typeof reduce
}

/** Main-thread CPU microseconds to reduce the run's recorded events through a fresh stack of `m`. */
const replay = (r: Run, m: StackModule = { createStack, reduce }): number => {
  let s = m.createStack({ ...defaultConfig, mtu: r.mtu })
  const t0 = process.threadCpuUsage()
  for (const ev of r.recorded) s = m.reduce(s, ev)[0]
  const t = process.threadCpuUsage(t0)
  return t.user + t.system
}

const mib = Number(process.argv[2] ?? 64)
const total = Math.floor(mib * 1024 * 1024)
// Optional filters: `node test/bench/tcp-layer.ts 64 1500 down` runs one configuration (for profiling).
const onlyMtu = process.argv[3] === undefined ? undefined : Number(process.argv[3])
const onlyDirection = process.argv[4]
const runs = Number(process.env["RUNS"] ?? 5)
// BASE=/path/to/an/export/of/another/commit: replay the same events through that tree's stack
// too, alternating with this one in the same process (the fairest comparison on a loaded
// machine: both see the same load). Its stack must accept these events (same event types).
const baseDir = process.env["BASE"]
/** The other tree's stack, reducing with that tree's own slab allocator as this one does. */
const loadBase = async (dir: string): Promise<StackModule> => {
  const stack = (await import(`${dir}/src/protocol/stack/stack.ts`)) as { createStack: typeof createStack; reduce: typeof reduceWith }
  const buffers = (await import(`${dir}/src/protocol/ethernet/frame-buffer.ts`)) as { createSlabAllocator?: typeof createSlabAllocator }
  const alloc = buffers.createSlabAllocator?.()
  return { createStack: stack.createStack, reduce: (s, e) => stack.reduce(s, e, alloc) }
}
const base: StackModule | undefined = baseDir === undefined ? undefined : await loadBase(baseDir)
for (const mtu of [1500, 32000].filter((m) => onlyMtu === undefined || m === onlyMtu)) {
  for (const direction of (["up", "down"] as const).filter((d) => onlyDirection === undefined || d === onlyDirection)) {
    // One warm-up run, then the best of RUNS (default 5; the machine is shared: the best run is
    // the least disturbed, since other load only ever adds time).
    run(mtu, Math.min(total, 8 * 1024 * 1024), direction)
    let best: Run | undefined
    for (let i = 0; i < runs; i++) {
      const r = run(mtu, total, direction)
      if (best === undefined || r.reduceMs < best.reduceMs) best = r
    }
    const r = best!
    let cpuUs = Infinity
    let baseUs = Infinity
    for (let i = 0; i < runs; i++) {
      if (base !== undefined) baseUs = Math.min(baseUs, replay(r, base))
      cpuUs = Math.min(cpuUs, replay(r))
    }
    const mbps = r.bytes / 1e6 / (r.reduceMs / 1000)
    const cpuMbps = r.bytes / cpuUs
    const label = direction === "up" ? "guest->host" : "host->guest"
    const vsBase = base === undefined ? "" : `; BASE ${(r.bytes / baseUs).toFixed(0)} MB/s per CPU second, this/BASE ${(baseUs / cpuUs).toFixed(3)}`
    console.log(
      `mtu ${String(mtu).padStart(5)} ${label}: ${cpuMbps.toFixed(0).padStart(6)} MB/s per CPU second (replay), ${mbps.toFixed(0).padStart(6)} MB/s of wall-clock reducer time ` +
        `(${r.events} events, ${(cpuUs / r.events).toFixed(2)} us CPU/event, ${r.rewinds} go-back-N rewinds)${vsBase}`,
    )
  }
}
