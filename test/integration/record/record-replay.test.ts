/**
 * Recording and replay on the mocked host: a session (DHCP, ARP, local and forwarded ping,
 * DNS through the proxy, UDP to the host, hostile frames) is recorded with its live effects;
 * replaying the recording from its header gives every effect byte for byte, the same final
 * counters, and `--until`-style states. The codec round-trips every event kind, refuses other
 * format versions in one line, and the size bound stops recording with a stop record.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { socketId, timerId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { BOOTREQUEST, DHCPDISCOVER, DHCPREQUEST, OPT, emitDhcp, optIpv4, optU8 } from "../../../src/protocol/dhcp/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { stackCounters, type StackState } from "../../../src/protocol/stack/stack.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC } from "../../../src/protocol/wire/mac.ts"
import { ByteWriter, concatBytes } from "../../../src/runtime/record/bytes.ts"
import { describeProblem, effectBytes, encodeEvent, readRecording, RECORD_FORMAT_VERSION, RECORD_MAGIC, type Recording } from "../../../src/runtime/record/format.ts"
import { createRecorder } from "../../../src/runtime/record/recorder.ts"
import { replaySteps } from "../../../src/runtime/record/replay.ts"
import { describeState, formatSummary, summarizer } from "../../../src/runtime/record/summary.ts"
import { createMockHost } from "../../../src/runtime/mock/mock-host.ts"
import { DNS, GUEST, GUEST_MAC, HOST, arp, bytes, ether, ipv4Packet, pingFrame, udpFrame, udpSegment } from "../stack/frames.ts"

const dhcp = (type: number, extra: ReadonlyArray<readonly [number, Uint8Array]> = []) =>
  ether(
    BROADCAST_MAC,
    0x0800,
    ipv4Packet(0, 0xffffffff, 17, udpSegment(0, 0xffffffff, 68, 67, emitDhcp({ op: BOOTREQUEST, xid: 42, chaddr: GUEST_MAC, options: [[OPT.messageType, optU8(type)], ...extra] }).bytes)),
  )

/** A recorder writing to memory; `bytes()` is the file so far. */
const memoryRecorder = (options: { effects?: boolean; maxBytes?: number } = {}) => {
  const chunks: Array<Uint8Array> = []
  const pendingFlushes: Array<() => void> = []
  let stops = 0
  const rec = createRecorder(
    { write: (c) => void chunks.push(...c.map((x) => x.slice())), schedule: (f) => void pendingFlushes.push(f) },
    {
      header: { tslirp: "test", config: { ...defaultConfig, seed: 7, dnsUpstream: { family: 4, address: "127.0.0.1", port: 5353 } }, start: instant(0), peer: "test guest", created: "2026-01-01T00:00:00.000Z" },
      ...(options.effects === true ? { effects: true } : {}),
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
      onStop: () => void stops++,
    },
  )
  return {
    rec,
    bytes: () => {
      rec.flush()
      return concatBytes(chunks)
    },
    stops: () => stops,
  }
}

const openRecording = (b: Uint8Array): Recording => {
  const r = readRecording(b)
  if ("_tag" in r) throw new Error(describeProblem(r))
  return r
}

/** The scripted session; returns the live effects grouped by nothing (in order). */
const runSession = (recorder: ReturnType<typeof memoryRecorder>["rec"]) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const host = createMockHost({ latencyMs: 2 })
      host.dnsResponder("127.0.0.1", 5353, { "x.test": "192.0.2.99" })
      host.icmpResponder("192.0.2.5", 55)
      const guest = host.attach({ seed: 7, dnsUpstream: { family: 4, address: "127.0.0.1", port: 5353 } }, { recorder })
      yield* guest.send(dhcp(DHCPDISCOVER))
      yield* guest.send(dhcp(DHCPREQUEST, [[50, optIpv4(GUEST)], [54, optIpv4(HOST)]]))
      yield* guest.send(ether(BROADCAST_MAC, 0x0806, arp(1, GUEST_MAC, GUEST, new Uint8Array(6), HOST)))
      yield* guest.send(pingFrame(HOST, 7, 1, bytes("local")))
      yield* guest.send(pingFrame(ipv4(192, 0, 2, 5), 7, 2, bytes("remote")))
      yield* host.advance(3)
      const q = new Uint8Array([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x78, 4, 0x74, 0x65, 0x73, 0x74, 0, 0, 1, 0, 1])
      yield* guest.send(udpFrame(GUEST, DNS, 41000, 53, q))
      yield* host.advance(3)
      yield* guest.send(udpFrame(GUEST, HOST, 41001, 9999, bytes("to the host")))
      // Hostile: a runt, an unknown ethertype, a UDP datagram with a broken checksum.
      yield* guest.send(new Uint8Array(5))
      yield* guest.send(ether(BROADCAST_MAC, 0x88b5, new Uint8Array(46)))
      const bad = udpFrame(GUEST, HOST, 41002, 9999, bytes("bad sum"))
      bad[bad.length - 1]! ^= 0xff
      yield* guest.send(bad)
      yield* host.advance(200_000) // flows expire, timers fire
      yield* guest.shutdown()
      return guest.effects
    }),
  )

describe("record and replay", () => {
  it("replay of a recorded mocked-host session gives every effect byte for byte, and the same counters", async () => {
    const m = memoryRecorder({ effects: true })
    const live = await runSession(m.rec)
    const rec = openRecording(m.bytes())
    expect(rec.header.config.seed).toBe(7)
    const replayed: Array<StackEffect> = []
    let steps = 0
    let last: StackState | undefined
    const sum = summarizer(rec.header.config)
    for (const step of replaySteps(rec)) {
      steps++
      expect(step.recorded, `event ${step.index} has its live effects`).toBeDefined()
      expect(effectBytes(step.effects), `event ${step.index} ${step.event._tag}`).toEqual(effectBytes(step.recorded!))
      replayed.push(...step.effects)
      last = step.state
      sum.observe(step)
    }
    expect(steps).toBeGreaterThan(10)
    // The live effects seen by the session's onEffect hook, in order, are the replayed ones.
    expect(effectBytes(replayed)).toEqual(effectBytes(live))
    expect(rec.tail()).toEqual({ stoppedAt: undefined, truncated: undefined })
    const c = stackCounters(last!)
    expect(c.dhcpLeases).toBe(1)
    expect(c.dnsQueries).toBe(1)
    expect(c.icmpFlows).toBe(1)
    expect(c.udpFlows).toBe(2)
    expect(c.drops).toMatchObject({ "ethernet malformed": 1, "ethernet unknown-protocol": 1, "udp checksum": 1 })
    const text = formatSummary(sum.finish()).join("\n")
    expect(text).toContain("x.test A: 1 answer(s)")
    expect(text).toContain("lease 10.0.2.15 to 52:54:00:12:34:56")
    expect(text).toContain("udp checksum: 1")
  })

  it("a recording without effects replays to the same effects as one with them (events alone determine them)", async () => {
    const a = memoryRecorder({ effects: true })
    await runSession(a.rec)
    const b = memoryRecorder()
    await runSession(b.rec)
    const fx = (r: Recording) => [...replaySteps(r)].flatMap((s) => s.effects)
    const ra = openRecording(a.bytes())
    const rb = openRecording(b.bytes())
    expect([...rb.events()].every((e) => e.effects === undefined)).toBe(true)
    expect(effectBytes(fx(rb))).toEqual(effectBytes(fx(ra)))
  })

  it("--until: the state after event N is the live state at that point, described readably", async () => {
    const m = memoryRecorder()
    await runSession(m.rec)
    const rec = openRecording(m.bytes())
    const states = [...replaySteps(rec)].map((s) => s.state)
    const afterDhcp = states[1]!
    const lines = describeState(afterDhcp).join("\n")
    expect(lines).toContain("DHCP leases: 10.0.2.15 to 52:54:00:12:34:56 (bound")
    expect(lines).toMatch(/counters: from guest 2 frames/)
    // Old states stay valid: replaying again gives equal states.
    const again = [...replaySteps(rec)].map((s) => s.state)
    expect(stackCounters(again[1]!)).toEqual(stackCounters(afterDhcp))
  })

  it("every event kind round-trips through the codec", () => {
    const ep = { family: 4 as const, address: "192.0.2.1", port: 53 }
    const now = instant(1234.5678)
    const sock = socketId(9)
    const events: ReadonlyArray<StackEvent> = [
      { _tag: "FrameFromGuest", now, frame: Uint8Array.of(1, 2, 3) },
      { _tag: "HostTcpConnected", now, sock },
      { _tag: "HostTcpData", now, sock, data: Uint8Array.of(4, 5) },
      { _tag: "HostTcpEof", now, sock },
      { _tag: "HostTcpWritten", now, sock, bytes: 1448 },
      { _tag: "HostSocketClosed", now, sock },
      { _tag: "HostSocketError", now, sock, code: "ECONNREFUSED" },
      { _tag: "HostUdpDatagram", now, sock, from: ep, data: Uint8Array.of(6) },
      { _tag: "HostUnreachable", now, sock, to: ep, reason: "fragmentation-needed", mtu: 1400, from: "192.0.2.254" },
      { _tag: "HostUnreachable", now, sock, to: { family: 6, address: "::1", port: 9 }, reason: "port" },
      { _tag: "HostIcmpEchoReply", now, sock, from: "192.0.2.5", sequence: 65535, payload: Uint8Array.of(7), ttl: 55 },
      { _tag: "HostIcmpEchoReply", now, sock, from: "192.0.2.5", sequence: 1, payload: new Uint8Array(0) },
      { _tag: "TimerFired", now, timer: timerId("ndp", 0xdeadbeef) },
      { _tag: "Shutdown", now },
    ]
    const m = memoryRecorder()
    for (const e of events) m.rec.event(e)
    const back = [...openRecording(m.bytes()).events()].map((r) => r.event)
    expect(back).toEqual(events)
  })

  it("the recorder copies frames: a runtime reusing its buffer does not change the recording", () => {
    const m = memoryRecorder()
    const frame = Uint8Array.of(1, 2, 3, 4)
    m.rec.event({ _tag: "FrameFromGuest", now: instant(1), frame })
    frame.fill(0)
    m.rec.flush()
    const [r] = [...openRecording(m.bytes()).events()]
    expect(r!.event).toMatchObject({ frame: Uint8Array.of(1, 2, 3, 4) })
  })

  it("another format version is refused with one clear line", () => {
    const m = memoryRecorder()
    m.rec.event({ _tag: "Shutdown", now: instant(1) })
    const old = m.bytes().slice()
    new DataView(old.buffer).setUint16(RECORD_MAGIC.length, RECORD_FORMAT_VERSION - 1, true)
    const r = readRecording(old)
    expect(r).toEqual({ _tag: "WrongVersion", version: RECORD_FORMAT_VERSION - 1 })
    const line = describeProblem(r as { _tag: "WrongVersion"; version: number })
    expect(line).not.toContain("\n")
    expect(line).toMatch(/format version 1 is not supported: this tslirp reads version 2/)
    expect(readRecording(Uint8Array.of(1, 2, 3))).toEqual({ _tag: "NotARecording" })
  })

  it("the size bound stops recording with a stop record, and the file stays within it", () => {
    const m = memoryRecorder({ maxBytes: 2000 })
    for (let i = 0; i < 100; i++) m.rec.event({ _tag: "FrameFromGuest", now: instant(i), frame: new Uint8Array(100) })
    const b = m.bytes()
    expect(b.length).toBeLessThanOrEqual(2000)
    expect(m.stops()).toBe(1)
    const rec = openRecording(b)
    const n = [...rec.events()].length
    expect(n).toBeGreaterThan(5)
    expect(n).toBeLessThan(100)
    expect(rec.tail().stoppedAt).toBe(n - 1)
  })

  it("a file cut mid-record replays the whole records and says where it ends", () => {
    const m = memoryRecorder()
    for (let i = 0; i < 5; i++) m.rec.event({ _tag: "FrameFromGuest", now: instant(i), frame: new Uint8Array(60) })
    const b = m.bytes()
    const rec = openRecording(b.subarray(0, b.length - 10))
    expect([...rec.events()]).toHaveLength(4)
    expect(rec.tail().truncated).toMatch(/after event 4: the file ends mid-record/)
  })

  it("encoding is what the header documents: magic, version, then tagged records", () => {
    const w = new ByteWriter()
    encodeEvent(w, { _tag: "HostTcpEof", now: instant(2), sock: socketId(3) })
    const b = concatBytes(w.take())
    // tag 4, body length 12 (time f64 + socket u32), then the body.
    expect(Array.from(b.subarray(0, 5))).toEqual([4, 12, 0, 0, 0])
    expect(b.length).toBe(17)
  })
})

describe("recorder memory reuse", () => {
  it("a sink that releases at once, or later and out of order, gets the same bytes; memory is reused only once released", () => {
    const frames = Array.from({ length: 600 }, (_, i) => new Uint8Array(1500).fill(i & 0xff))
    const encode = (mode: "keep" | "at-once" | "later"): Uint8Array => {
      const written: Array<{ readonly chunks: ReadonlyArray<Uint8Array>; readonly copy: ReadonlyArray<Uint8Array> }> = []
      const held: Array<() => void> = []
      const rec = createRecorder(
        {
          write: (c, release) => {
            const w = { chunks: c, copy: c.map((x) => x.slice()) }
            written.push(w)
            // Until released, what the sink was handed still holds what it held then.
            const checkedRelease = () => {
              expect(w.chunks).toEqual(w.copy)
              release()
            }
            if (mode === "at-once") checkedRelease()
            else if (mode === "later") held.push(checkedRelease)
          },
          schedule: () => {},
        },
        { header: { tslirp: "t", config: defaultConfig, start: instant(0), peer: "", created: "" } },
      )
      frames.forEach((frame, i) => {
        rec.event({ _tag: "FrameFromGuest", now: instant(i), frame })
        if (i % 7 === 6) rec.flush()
        // Release the oldest writes in a shuffled order, a few flushes late.
        if (mode === "later" && held.length > 5) held.splice(i % held.length, 1)[0]!()
      })
      rec.flush()
      for (const release of held) release()
      if (mode === "keep") for (const { chunks, copy } of written) expect(chunks).toEqual(copy)
      return concatBytes(written.flatMap((w) => w.copy))
    }
    const kept = encode("keep")
    expect(encode("at-once")).toEqual(kept)
    expect(encode("later")).toEqual(kept)
    const events = [...openRecording(kept).events()]
    expect(events.map((e) => (e.event as { frame: Uint8Array }).frame[0])).toEqual(frames.map((f) => f[0]))
  })
})
