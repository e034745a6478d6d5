/**
 * The recording format and replay with what landed beside it: TFTP (file events and effects),
 * hostfwd and guestfwd (listeners, accepted clients, rules, every `ConnectTarget` kind) and TCP
 * over IPv6. Each new event and effect kind round-trips through the codec; a mocked-host session
 * using TFTP, a hostfwd client and IPv6 TCP (with a retransmission) replays to its live effects
 * byte for byte, and the summary names the hostfwd client, the transfers and IPv6 endpoints.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { fileId, socketId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { stackCounters, type StackState } from "../../../src/protocol/stack/stack.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { ByteWriter, concatBytes } from "../../../src/runtime/record/bytes.ts"
import { describeProblem, effectBytes, encodeEvent, readRecording, type Recording } from "../../../src/runtime/record/format.ts"
import { createRecorder, type Recorder } from "../../../src/runtime/record/recorder.ts"
import { replaySteps } from "../../../src/runtime/record/replay.ts"
import { describeState, formatSummary, summarizer } from "../../../src/runtime/record/summary.ts"
import { describeEffect, describeEvent } from "../../../src/runtime/cli/replay.ts"
import { createMockHost } from "../../../src/runtime/mock/mock-host.ts"
import { TftpGuestClient } from "../../support/tftp-guest-client.ts"
import { GUEST, HOST, bytes, pingFrame } from "../stack/frames.ts"
import { GUEST6, HOST6, decode6, tcp6Frame, tcpFields } from "../stack/frames6.ts"
import { segments, tcpFrame } from "../stack/tcp-frames.ts"

const SYN = 0x02
const ACK = 0x10
const FIN = 0x01
const PSH = 0x08

const ROOT = "/srv/tftp"

/** A recorder writing to memory, its header holding the session's configuration; `bytes()` is the file. */
const memoryRecorder = (effects: boolean): { readonly rec: Recorder; readonly bytes: () => Uint8Array } => {
  const chunks: Array<Uint8Array> = []
  const rec = createRecorder(
    { write: (c) => void chunks.push(...c.map((x) => x.slice())), schedule: () => {} },
    { header: { tslirp: "test", config: { ...defaultConfig, seed: 7, tftpRoot: ROOT }, start: instant(0), peer: "test guest", created: "2026-01-01T00:00:00.000Z" }, ...(effects ? { effects: true } : {}) },
  )
  return {
    rec,
    bytes: () => {
      rec.flush()
      return concatBytes(chunks)
    },
  }
}

const openRecording = (b: Uint8Array): Recording => {
  const r = readRecording(b)
  if ("_tag" in r) throw new Error(describeProblem(r))
  return r
}

const now = instant(99.25)
const sock = socketId(12)
const file = fileId(3)

const newEvents: ReadonlyArray<StackEvent> = [
  { _tag: "HostFileOpened", now, file, size: 2 ** 33 + 5 },
  { _tag: "HostFileData", now, file, offset: 1468 * 3, data: Uint8Array.of(9, 8, 7) },
  { _tag: "HostFileData", now, file, offset: 4096, data: new Uint8Array(0) },
  { _tag: "HostFileError", now, file, code: "ENOENT" },
  { _tag: "HostListening", now, sock, port: 65535 },
  { _tag: "HostTcpAccepted", now, listener: sock, accepted: 70000, peer: { family: 6, address: "2001:db8::7", port: 40002 } },
  { _tag: "HostTcpAccepted", now, listener: sock, accepted: 1 },
  { _tag: "HostFwdAdd", now, id: 1, proto: "tcp", bind: { family: 4, address: "", port: 2222 }, guest: undefined, guestPort: 22 },
  { _tag: "HostFwdAdd", now, id: 2, proto: "udp", bind: { family: 6, address: "::1", port: 5353 }, guest: ipv4(10, 0, 2, 16), guestPort: 53 },
  { _tag: "HostFwdAdd", now, id: 3, proto: "tcp", bind: { family: "unix", path: "/tmp/fwd é.sock" }, guest: undefined, guestPort: 80 },
  { _tag: "HostFwdRemove", now, id: 3 },
  { _tag: "GuestFwdAdd", now, id: 4, server: ipv4(10, 0, 2, 100), port: 4321, target: { family: 4, address: "127.0.0.1", port: 7 } },
  { _tag: "GuestFwdAdd", now, id: 5, server: ipv4(10, 0, 2, 100), port: 4322, target: { family: 6, address: "::1", port: 7 } },
  { _tag: "GuestFwdAdd", now, id: 6, server: ipv4(10, 0, 2, 101), port: 1, target: { family: "unix", path: "/run/x.sock" } },
  { _tag: "GuestFwdAdd", now, id: 7, server: ipv4(10, 0, 2, 102), port: 2, target: { family: "cmd", command: "nc -q0 localhost 22" } },
  { _tag: "GuestFwdRemove", now, id: 7 },
  { _tag: "HostFwdAdd", now, id: 8, proto: "tcp", bind: { family: 6, address: "::1", port: 2223 }, guest: new Uint8Array([0xfe, 0xc0, ...new Array<number>(13).fill(0), 0x15]), guestPort: 22 },
]

const newEffects: ReadonlyArray<StackEffect> = [
  { _tag: "TcpConnect", sock, to: { family: 4, address: "192.0.2.1", port: 80 } },
  { _tag: "TcpConnect", sock, to: { family: 6, address: "2001:db8::1", port: 443 } },
  { _tag: "TcpConnect", sock, to: { family: "unix", path: "/run/guestfwd.sock" } },
  { _tag: "TcpConnect", sock, to: { family: "cmd", command: "cat -u" } },
  { _tag: "TcpListen", sock, bind: { family: 4, address: "", port: 8080 } },
  { _tag: "TcpListen", sock, bind: { family: 6, address: "::", port: 0 } },
  { _tag: "TcpListen", sock, bind: { family: "unix", path: "/tmp/l.sock" } },
  { _tag: "TcpAdopt", sock, accepted: 70000 },
  { _tag: "TcpRefuse", accepted: 3 },
  { _tag: "UdpBind", sock, bind: { family: 6, address: "::1", port: 5353 } },
  { _tag: "FileOpen", file, root: "/srv/tftp", path: "pxelinux.cfg/default" },
  { _tag: "FileRead", file, offset: 2 ** 32 + 512, length: 65464 },
  { _tag: "FileClose", file },
]

describe("recording format version 2: forwarding, TFTP, IPv6", () => {
  it("every new event kind round-trips through the codec (each target kind, IPv6 endpoints, optional fields)", () => {
    const m = memoryRecorder(false)
    for (const e of newEvents) m.rec.event(e)
    const back = [...openRecording(m.bytes()).events()].map((r) => r.event)
    expect(back).toEqual(newEvents)
    // Optional fields absent stay absent; `guest: undefined` stays a present key.
    expect("peer" in back[6]!).toBe(false)
    expect(Object.keys(back[7]!)).toContain("guest")
  })

  it("every new effect kind round-trips through the codec, byte for byte when re-encoded", () => {
    const m = memoryRecorder(true)
    m.rec.event({ _tag: "Shutdown", now })
    m.rec.effects!(newEffects)
    const [r] = [...openRecording(m.bytes()).events()]
    expect(r!.effects).toEqual(newEffects)
    expect(effectBytes(r!.effects!)).toEqual(effectBytes(newEffects))
  })

  it("the replay printer describes every new kind in one line", () => {
    for (const e of newEvents) expect(describeEvent(e)).toMatch(/^[A-Za-z]+ \S.*$/)
    for (const e of newEffects) expect(describeEffect(e)).toMatch(/^[A-Za-z]+ \S.*$/)
    expect(describeEffect(newEffects[1]!)).toBe("TcpConnect sock 12 to [2001:db8::1]:443")
    expect(describeEffect(newEffects[3]!)).toBe("TcpConnect sock 12 to cmd:cat -u")
    expect(describeEvent(newEvents[13]!)).toBe("GuestFwdAdd 6 10.0.2.101:1 -> unix:/run/x.sock")
    expect(describeEvent(newEvents[16]!)).toBe("HostFwdAdd 8 tcp [::1]:2223 -> [fec0::15]:22")
  })

  it("a damaged target kind ends the replay there with a reason, not an exception", () => {
    const m = memoryRecorder(false)
    m.rec.event({ _tag: "HostTcpEof", now, sock })
    const w = new ByteWriter()
    encodeEvent(w, { _tag: "GuestFwdAdd", now, id: 1, server: 1, port: 1, target: { family: "unix", path: "p" } })
    const bad = concatBytes(w.take())
    // tag, u32 length, f64 now, f64 id, u32 server, u16 port, then the target's kind byte.
    const kindAt = 1 + 4 + 8 + 8 + 4 + 2
    expect(bad[kindAt]).toBe(1)
    bad[kindAt] = 9
    const rec = openRecording(concatBytes([m.bytes(), bad]))
    expect([...rec.events()]).toHaveLength(1)
    expect(rec.tail().truncated).toMatch(/after event 1: unknown target kind 9/)
  })
})

const fileBytes = (n: number) => new Uint8Array(n).map((_, i) => (i * 31) & 0xff)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** TFTP fetches, a hostfwd client, an IPv6 TCP connection with one retransmission; the live effects. */
const tcp6Of = (frames: ReadonlyArray<Uint8Array>) =>
  frames.filter((f) => f[12] === 0x86 && f[13] === 0xdd).map(decode6).filter((d) => d.nh === 6).map((d) => tcpFields(d.payload))

const runSession = (recorder: Recorder): Promise<ReadonlyArray<StackEffect>> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const host = createMockHost({ latencyMs: 1 })
      host.files(ROOT, { "boot.img": fileBytes(3000) })
      host.tcpListener({ address: "::1", port: 80 }, (peer) => {
        peer.onData = (d) => peer.write(new TextEncoder().encode(text(d).toUpperCase()))
        peer.onEnd = () => peer.end()
      })
      const guest = host.attach({ seed: 7, tftpRoot: ROOT }, { recorder })
      yield* guest.send(pingFrame(HOST, 1, 1, bytes("hi")))
      guest.take()

      // TFTP: one file served, one missing.
      const clients = [new TftpGuestClient("boot.img", [["tsize", "0"]]), new TftpGuestClient("missing.img", [], 1070)]
      for (const c of clients) yield* guest.send(c.request())
      for (let step = 0; step < 1000 && !clients.every((c) => c.done); step++) {
        const frames = guest.take()
        if (frames.length === 0) yield* host.advance(100)
        for (const f of frames)
          for (const c of clients) {
            const answer = c.receive(f)
            if (answer !== undefined) yield* guest.send(answer)
          }
      }
      expect(clients.map((c) => c.done)).toEqual([true, true])

      // hostfwd: a host client on 8080 reaches the guest's port 80.
      yield* guest.input({ _tag: "HostFwdAdd", now: instant(0), id: 1, proto: "tcp", bind: { family: 4, address: "", port: 8080 }, guest: undefined, guestPort: 80 })
      yield* host.advance(5)
      const client = host.connectClient({ family: 4, address: "", port: 8080 }, { family: 4, address: "192.0.2.7", port: 51000 })
      yield* host.advance(5)
      const [syn] = segments(guest.take())
      yield* guest.send(tcpFrame(GUEST, syn!.src, 80, syn!.tcp.srcPort, 1000, syn!.tcp.seq + 1, SYN | ACK))
      guest.take()
      client.write(bytes("hello guest"))
      yield* host.advance(5)
      const [data] = segments(guest.take())
      yield* guest.send(tcpFrame(GUEST, syn!.src, 80, syn!.tcp.srcPort, 1001, data!.tcp.seq + data!.payload.length, ACK | PSH, bytes("hello host")))
      yield* host.advance(10)
      expect(text(client.received())).toBe("hello host")

      // IPv6 TCP to [fec0::2]:80 (the host's ::1); the guest ACKs the answer only after a retransmission.
      const t = { sport: 40000, dport: 80 }
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 100, flags: SYN, mss: 1460 }))
      yield* host.advance(5)
      const synAck = tcp6Of(guest.take())[0]!
      const ours = synAck.seq + 1
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 101, ack: ours, flags: ACK }))
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 101, ack: ours, flags: ACK | PSH }, bytes("over six")))
      yield* host.advance(5)
      guest.take()
      yield* host.advance(5000)
      const again = tcp6Of(guest.take()).filter((s) => s.data.length > 0)
      expect(again.length).toBeGreaterThan(0)
      yield* guest.send(tcp6Frame(GUEST6, HOST6, { ...t, seq: 109, ack: ours + 8, flags: ACK | FIN }))
      yield* host.advance(100)
      yield* guest.shutdown()
      return guest.effects
    }),
  )

describe("replay of a session with TFTP, hostfwd and IPv6 TCP", () => {
  it("reproduces every live effect byte for byte; counters and summary show the new traffic", async () => {
    const m = memoryRecorder(true)
    const live = await runSession(m.rec)
    const rec = openRecording(m.bytes())
    const tags = new Set<string>()
    const replayed: Array<StackEffect> = []
    const sum = summarizer(rec.header.config)
    let before: StackState | undefined
    let last: StackState | undefined
    for (const step of replaySteps(rec)) {
      tags.add(step.event._tag)
      for (const e of step.recorded ?? []) tags.add(e._tag)
      expect(step.recorded, `event ${step.index} has its live effects`).toBeDefined()
      expect(effectBytes(step.effects), `event ${step.index} ${step.event._tag}`).toEqual(effectBytes(step.recorded!))
      replayed.push(...step.effects)
      sum.observe(step)
      if (step.event._tag !== "Shutdown") before = step.state as StackState
      last = step.state as StackState
    }
    expect(effectBytes(replayed)).toEqual(effectBytes(live))
    // The session used what version 2 added.
    for (const tag of ["HostFwdAdd", "HostListening", "HostTcpAccepted", "TcpListen", "TcpAdopt", "HostFileOpened", "HostFileData", "HostFileError", "FileOpen", "FileRead", "FileClose"])
      expect(tags, tag).toContain(tag)
    const c = stackCounters(last!)
    // The hostfwd client and the IPv6 connection; the IPv6 data segment was sent again.
    expect(c.tcpTotal).toBe(2)
    expect(c.retransmissions).toBeGreaterThanOrEqual(1)
    // Progress lines of TFTP and hostfwd are not drops.
    expect(Object.keys(c.drops).filter((k) => k.startsWith("tftp") || k.startsWith("hostfwd"))).toEqual([])
    const out = formatSummary(sum.finish()).join("\n")
    expect(out).toMatch(/sock \d+ host 192\.0\.2\.7:51000 -> 10\.0\.2\.15:80 \(hostfwd\): 10 bytes up, 11 bytes down/)
    expect(out).toMatch(/sock \d+ \[fec0::5054:ff:fe12:3456\]:40000 -> \[::1\]:80: 8 bytes up, 8 bytes down/)
    expect(out).toContain('TFTP transfers: 2')
    expect(out).toMatch(/sent "boot\.img" to 10\.0\.2\.15:\d+: 3000 bytes in 6 blocks/)
    expect(out).toContain('"missing.img": ENOENT')
    // The state before Shutdown names the IPv6 connection's endpoints.
    expect(describeState(before!).join("\n")).toMatch(/\[fec0::5054:ff:fe12:3456\]:40000 <-> \[fec0::2\]:80/)
  })
})
