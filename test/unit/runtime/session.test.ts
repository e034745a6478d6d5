import { describe, expect, it } from "vitest"
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { socketId, timerId, timerKey } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import type { Report } from "../../../src/runtime/host/ports.ts"
import { type HostDeps, openSession, type StackMachine } from "../../../src/runtime/host/session.ts"

/** Ports that record every call; `udp.send` reports a datagram back synchronously. */
const recordingDeps = () => {
  const calls: Array<string> = []
  const logger = memoryLogger()
  let t = 0
  const deps: HostDeps = {
    clock: { now: () => instant(++t) },
    logger,
    tcp: () => ({
      connect: (s) => void calls.push(`tcp.connect ${s}`),
      write: (s, d) => void calls.push(`tcp.write ${s} ${d.reduce((n, x) => n + x.length, 0)}`),
      shutdownWrite: (s) => void calls.push(`tcp.shutdownWrite ${s}`),
      setReading: (s, r) => void calls.push(`tcp.setReading ${s} ${r}`),
      reset: (s) => void calls.push(`tcp.reset ${s}`),
      close: (s) => (calls.push(`tcp.close? ${s}`), s < 0x40000000),
      closeAll: () => void calls.push("tcp.closeAll"),
    }),
    udp: (report: Report) => ({
      open: (s, f) => void calls.push(`udp.open ${s} v${f}`),
      send: (s, to, d) => {
        calls.push(`udp.send ${s} ${to.address}:${to.port}`)
        report({ _tag: "HostUdpDatagram", now: instant(0), sock: s, from: to, data: d })
        calls.push("udp.send returned")
      },
      close: (s) => (calls.push(`udp.close? ${s}`), s === 0x40000001),
      closeAll: () => void calls.push("udp.closeAll"),
    }),
    icmp: () => ({
      open: (s) => void calls.push(`icmp.open ${s}`),
      send: (s, to, seq) => void calls.push(`icmp.send ${s} ${to} ${seq}`),
      close: (s) => (calls.push(`icmp.close? ${s}`), true),
      closeAll: () => void calls.push("icmp.closeAll"),
    }),
    timers: () => ({
      set: (id, at) => void calls.push(`timer.set ${timerKey(id)} ${at}`),
      cancel: (id) => void calls.push(`timer.cancel ${timerKey(id)}`),
      closeAll: () => void calls.push("timers.closeAll"),
    }),
  }
  return { calls, logger, deps }
}

/** A machine that answers each event with a fixed script and records what it saw. */
const scripted = (script: (e: StackEvent) => ReadonlyArray<StackEffect>, seen: Array<string>): StackMachine<number> => ({
  create: (config, now) => (seen.push(`create seed=${config.seed} now=${now}`), 0),
  reduce: (n, e) => {
    seen.push(`${e._tag}@${e.now}`)
    return [n + 1, script(e)]
  },
})

const udp = socketId(0x40000001)

describe("the interpreter (openSession)", () => {
  it("maps every effect to its port call, in order", () => {
    const { calls, logger, deps } = recordingDeps()
    const frames: Array<Uint8Array> = []
    const seen: Array<string> = []
    const all: ReadonlyArray<StackEffect> = [
      { _tag: "DeliverFrame", frame: Uint8Array.of(1) },
      { _tag: "TcpConnect", sock: socketId(1), to: { family: 4, address: "127.0.0.1", port: 80 } },
      { _tag: "TcpWrite", sock: socketId(1), chunks: [Uint8Array.of(1), Uint8Array.of(2, 3)] },
      { _tag: "TcpShutdownWrite", sock: socketId(1) },
      { _tag: "TcpSetReading", sock: socketId(1), reading: false },
      { _tag: "TcpReset", sock: socketId(1) },
      { _tag: "UdpOpen", sock: udp, family: 4 },
      { _tag: "IcmpOpen", sock: socketId(0x40000002), family: 4 },
      { _tag: "IcmpEchoSend", sock: socketId(0x40000002), to: "192.0.2.1", sequence: 9, payload: Uint8Array.of() },
      { _tag: "SocketClose", sock: socketId(1) },
      { _tag: "SocketClose", sock: udp },
      { _tag: "SocketClose", sock: socketId(0x40000002) },
      { _tag: "SetTimer", timer: timerId("arp", 1), at: instant(1000) },
      { _tag: "CancelTimer", timer: timerId("arp", 1) },
      { _tag: "Log", level: "debug", message: "hello" },
    ]
    const s = openSession({ ...defaultConfig, seed: 42 }, deps, (f) => void frames.push(f), {
      machine: scripted((e) => (e._tag === "FrameFromGuest" ? all : []), seen),
    })
    s.fromGuest(Uint8Array.of(0xaa))
    expect(seen).toEqual(["create seed=42 now=1", "FrameFromGuest@2"])
    expect(frames).toEqual([Uint8Array.of(1)])
    expect(calls).toEqual([
      "tcp.connect 1",
      "tcp.write 1 3",
      "tcp.shutdownWrite 1",
      "tcp.setReading 1 false",
      "tcp.reset 1",
      `udp.open ${udp} v4`,
      "icmp.open 1073741826",
      "icmp.send 1073741826 192.0.2.1 9",
      "tcp.close? 1",
      `tcp.close? ${udp}`,
      `udp.close? ${udp}`,
      "tcp.close? 1073741826",
      "udp.close? 1073741826",
      "icmp.close? 1073741826",
      "timer.set arp/1 1000",
      "timer.cancel arp/1",
    ])
    expect(logger.lines).toEqual([{ level: "debug", message: "hello" }])
  })

  it("an event a port reports while effects run is queued, never reduced re-entrantly", () => {
    const { calls, deps } = recordingDeps()
    const seen: Array<string> = []
    const s = openSession(defaultConfig, deps, () => undefined, {
      machine: scripted((e) => {
        if (e._tag !== "FrameFromGuest") return []
        return [
          { _tag: "UdpSend", sock: udp, to: { family: 4, address: "127.0.0.1", port: 7 }, data: e.frame },
          { _tag: "Log", level: "info", message: "after send" },
        ]
      }, seen),
    })
    s.fromGuest(Uint8Array.of(1))
    expect(calls).toEqual([`udp.send ${udp} 127.0.0.1:7`, "udp.send returned"])
    expect(seen.slice(1)).toEqual(["FrameFromGuest@2", "HostUdpDatagram@0"])
  })

  it("a lone frame is answered and flushed inside the call; a batch of frames is reduced together, flushed once, with the clock read once", () => {
    const { deps } = recordingDeps()
    const seen: Array<string> = []
    const out: Array<string> = []
    const s = openSession(defaultConfig, deps, (f) => void out.push(`frame ${f[0]}`), {
      machine: scripted((e) => (e._tag === "FrameFromGuest" ? [{ _tag: "DeliverFrame", frame: e.frame }] : []), seen),
      flush: () => void out.push("flush"),
    })
    s.fromGuest(Uint8Array.of(1))
    expect(out).toEqual(["frame 1", "flush"])
    s.batch(() => {
      s.fromGuest(Uint8Array.of(2))
      s.fromGuest(Uint8Array.of(3))
      // Nothing is reduced while the batch is being filled.
      out.push("filled")
    })
    expect(out).toEqual(["frame 1", "flush", "filled", "frame 2", "frame 3", "flush"])
    // The recording clock ticks per read: the batch read it once, and both frames carry that instant.
    expect(seen.slice(1)).toEqual(["FrameFromGuest@2", "FrameFromGuest@3", "FrameFromGuest@3"])
  })

  it("a reducer that throws loses that event only, with an error log", () => {
    const { logger, deps } = recordingDeps()
    const seen: Array<string> = []
    const s = openSession(defaultConfig, deps, () => undefined, {
      machine: scripted((e) => {
        if (e._tag === "FrameFromGuest" && e.frame[0] === 0) throw new Error("boom")
        return []
      }, seen),
    })
    s.fromGuest(Uint8Array.of(0))
    s.fromGuest(Uint8Array.of(1))
    expect(seen.slice(1)).toEqual(["FrameFromGuest@2", "FrameFromGuest@3"])
    expect(logger.lines[0]!.level).toBe("error")
    expect(logger.lines[0]!.message).toMatch(/^stack failed on FrameFromGuest, event dropped: Error: boom/)
  })

  it("with onFailure, a reducer that throws stops the session: onFailure once, later input ignored, shutdown still closes every port", () => {
    const { calls, logger, deps } = recordingDeps()
    const seen: Array<string> = []
    const failures: Array<string> = []
    const s = openSession(defaultConfig, deps, () => undefined, {
      machine: scripted((e) => {
        if (e._tag === "FrameFromGuest" && e.frame[0] === 0) throw new Error("boom")
        return []
      }, seen),
      onFailure: (event, err) => void failures.push(`${event._tag}: ${(err as Error).message}`),
    })
    s.fromGuest(Uint8Array.of(0))
    s.fromGuest(Uint8Array.of(1))
    expect(failures).toEqual(["FrameFromGuest: boom"])
    expect(seen.slice(1)).toEqual(["FrameFromGuest@2"])
    expect(logger.lines[0]!.message).toMatch(/^stack failed on FrameFromGuest, ending the session: Error: boom/)
    s.shutdown()
    expect(calls).toEqual(["tcp.closeAll", "udp.closeAll", "icmp.closeAll", "timers.closeAll"])
  })

  it("shutdown feeds Shutdown, carries out its effects, closes every port, then ignores input", () => {
    const { calls, deps } = recordingDeps()
    const seen: Array<string> = []
    const s = openSession(defaultConfig, deps, () => undefined, {
      machine: scripted((e) => (e._tag === "Shutdown" ? [{ _tag: "SocketClose", sock: udp }] : []), seen),
    })
    s.shutdown()
    s.shutdown()
    s.fromGuest(Uint8Array.of(1))
    expect(seen.slice(1)).toEqual(["Shutdown@2"])
    expect(calls).toEqual([`tcp.close? ${udp}`, `udp.close? ${udp}`, "tcp.closeAll", "udp.closeAll", "icmp.closeAll", "timers.closeAll"])
    expect(s.closed).toBe(true)
  })
})
