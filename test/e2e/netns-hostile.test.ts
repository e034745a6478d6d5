/**
 * Hostile frames through the real Node runtime: the tslirp CLI runs inside a network namespace
 * that has only loopback (so no random destination can leave the machine), and a stream guest
 * feeds it a seeded mix of random bytes, mutated and truncated frames of every protocol, and
 * floods of SYNs, UDP datagrams and echoes to random addresses. Afterwards the process must be
 * alive, answer ARP for the gateway, and hold bounded memory.
 *
 * The session is recorded (`--record --record-effects`, issue 12): replaying the recording
 * reproduces every effect the live stack returned (each drop's debug line among them) and the
 * counters it logged when the guest left.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { put16, put32 } from "../../src/protocol/wire/bytes.ts"
import { finish, sum16 } from "../../src/protocol/wire/checksum.ts"
import { ZERO_MAC, BROADCAST_MAC } from "../../src/protocol/wire/mac.ts"
import { stackCounters, type StackState } from "../../src/protocol/stack/stack.ts"
import { formatCounters } from "../../src/protocol/stack/counters.ts"
import { describeProblem, readRecording } from "../../src/runtime/record/format.ts"
import { replaySteps, sameAsRecorded } from "../../src/runtime/record/replay.ts"
import { summarizer } from "../../src/runtime/record/summary.ts"
import { CliProcess, MAIN, NODE, StreamGuest } from "../integration/runtime/cli-process.ts"
import { GUEST, GUEST_MAC, HOST, arp, ether, ipv4Packet, pingFrame, udpFrame } from "../integration/stack/frames.ts"

const NS = `tsfz${process.pid.toString(36)}`
const SOCK = join(tmpdir(), `${NS}.sock`)
const RECORD_DIR = mkdtempSync(join(tmpdir(), "tslirp-hostile-rec-"))
const RECORDING = join(RECORD_DIR, "hostile.tsrec")
const FRAMES = 100_000
/** Resident memory the process may reach after the flood (Node itself takes ~60 MiB). */
const RSS_LIMIT_KIB = 400 * 1024

const prng = (seed: number) => {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 0x100000000
  }
}

const tcpSyn = (dst: number, sport: number, dport: number): Uint8Array => {
  const t = new Uint8Array(20)
  put16(t, 0, sport)
  put16(t, 2, dport)
  put32(t, 4, 12345)
  t[12] = 5 << 4
  t[13] = 0x02
  put16(t, 14, 65535)
  const pseudo = (GUEST >>> 16) + (GUEST & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + t.length
  put16(t, 16, finish(sum16(t, 0, t.length, pseudo)))
  return ether(new Uint8Array([0x52, 0x55, 10, 0, 2, 2]), 0x0800, ipv4Packet(GUEST, dst, 6, t))
}

const arpWhoHas = (ip: number) => ether(BROADCAST_MAC, 0x0806, arp(1, GUEST_MAC, GUEST, ZERO_MAC, ip))

const sh = (...argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { stdio: "pipe" })

describe("hostile frames through the real Node runtime, in a namespace with only loopback", () => {
  let cli: CliProcess | undefined
  let guest: StreamGuest | undefined

  beforeAll(async () => {
    sh("ip", "netns", "add", NS)
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
    cli = new CliProcess(
      ["--socket", SOCK, "--dns-upstream", "127.0.0.1:53", "--log-level", "warn", "--record", RECORDING, "--record-effects"],
      ["ip", "netns", "exec", NS, NODE, MAIN],
    )
    await cli.waitFor(/ready/)
    guest = await StreamGuest.open({ path: SOCK })
  }, 60_000)

  afterAll(async () => {
    guest?.close()
    await cli?.stop()
    try {
      sh("ip", "netns", "delete", NS)
    } catch {
      // already gone
    }
    rmSync(RECORD_DIR, { recursive: true, force: true })
  })

  it(`${FRAMES} seeded hostile frames: no crash, ARP still answered, memory bounded`, async () => {
    const g = guest!
    const rnd = prng(0x7157)
    const pick = (n: number) => Math.floor(rnd() * n)
    const randomAddress = () => (pick(0xffffffff) >>> 0) | 0
    const templates = (): Uint8Array => {
      switch (pick(7)) {
        case 0:
          return tcpSyn(randomAddress() >>> 0, 1024 + pick(60000), pick(65536))
        case 1:
          return udpFrame(GUEST, randomAddress() >>> 0, 1024 + pick(60000), pick(65536), new Uint8Array(pick(200)))
        case 2:
          return pingFrame(randomAddress() >>> 0, pick(65536), pick(65536), new Uint8Array(pick(100)))
        case 3:
          return arpWhoHas(randomAddress() >>> 0)
        case 4:
          return udpFrame(GUEST, HOST, 1024 + pick(60000), 53 + pick(3), new Uint8Array(pick(64)))
        case 5:
          return ether(BROADCAST_MAC, 0x0800, ipv4Packet(GUEST, HOST, 17, new Uint8Array(8 + pick(1400)), { id: pick(65536), mf: rnd() < 0.7, fragOffset: pick(8000) * 8 }))
        default:
          return tcpSyn(HOST, 1024 + pick(60000), pick(65536))
      }
    }
    for (let i = 0; i < FRAMES; i++) {
      let f: Uint8Array
      const r = rnd()
      if (r < 0.15) f = new Uint8Array(1 + pick(1600)).map(() => pick(256))
      else {
        f = templates()
        if (r < 0.6) for (let k = 1 + pick(3); k > 0; k--) f[pick(f.length)] = pick(256)
        if (rnd() < 0.1) f = f.subarray(0, 1 + pick(f.length - 1))
      }
      g.send(f)
      if (i % 1000 === 999) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        g.frames.length = 0
      }
    }
    g.frames.length = 0
    g.send(arpWhoHas(HOST))
    const answer = await g
      .next((f) => (f.length >= 42 && f[12] === 0x08 && f[13] === 0x06 && f[21] === 2 && f[31] === 2 ? f : undefined), 10_000)
      .catch((e: unknown) => {
        throw new Error(`${String(e)}; tslirp exit ${cli!.child.exitCode}; stderr: ${cli!.stderr.slice(-2000)}`)
      })
    expect([...answer.subarray(22, 28)]).toEqual([0x52, 0x55, 10, 0, 2, 2])
    expect(cli!.child.exitCode, cli!.stderr).toBeNull()
    const status = readFileSync(`/proc/${cli!.child.pid}/status`, "utf8")
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0")
    expect(rss).toBeGreaterThan(0)
    expect(rss).toBeLessThan(RSS_LIMIT_KIB)
    // Host sockets stay bounded too (UDP flows are capped; refused connects are closed).
    const fds = execFileSync("ls", [`/proc/${cli!.child.pid}/fd`], { encoding: "utf8" }).trim().split("\n").length
    expect(fds).toBeLessThan(2048)
    expect(cli!.stderr).not.toMatch(/TypeError|RangeError|unhandled|uncaught/i)
  }, 120_000)

  it("the recorded session replays to the same effects, drops and counters", async () => {
    // Stop the process: the guest's session ends (Shutdown recorded) and the file is closed.
    guest?.close()
    guest = undefined
    const stopped = await cli!.stop()
    expect(stopped.code, cli!.stderr).toBe(0)
    const rec = readRecording(readFileSync(RECORDING))
    if ("_tag" in rec) throw new Error(describeProblem(rec))
    let steps = 0
    let differing: Array<number> = []
    let liveCounters: string | undefined
    let replayedCounters: string | undefined
    let before: StackState | undefined
    const sum = summarizer(rec.header.config)
    for (const step of replaySteps(rec)) {
      steps++
      if (sameAsRecorded(step) !== true) differing.push(step.index)
      sum.observe(step)
      for (const e of step.recorded ?? []) {
        if (e._tag === "Log" && e.message.startsWith("stack: counters: ")) liveCounters = e.message
      }
      if (step.event._tag === "Shutdown" && before !== undefined) replayedCounters = `stack: counters: ${formatCounters(stackCounters(before))}`
      before = step.state
    }
    differing = differing.slice(0, 5)
    expect(rec.tail()).toEqual({ stoppedAt: undefined, truncated: undefined })
    expect(steps).toBeGreaterThan(FRAMES)
    expect(differing, "events whose replayed effects differ from the live ones").toEqual([])
    // The counters the live stack logged as the guest left, and the replay's.
    expect(liveCounters).toBeDefined()
    expect(replayedCounters).toBe(liveCounters)
    const counters = stackCounters(before!)
    expect(counters.framesFromGuest).toBeGreaterThan(FRAMES)
    const drops = [...sum.finish().drops.values()].reduce((a, b) => a + b, 0)
    expect(drops).toBeGreaterThan(FRAMES / 10)
    expect(Object.values(counters.drops).reduce((a, b) => a + b, 0)).toBe(drops)
    expect(Object.keys(counters.drops).some((k) => k.endsWith("checksum"))).toBe(true)
  }, 300_000)
})
