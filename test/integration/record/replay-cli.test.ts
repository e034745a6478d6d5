/**
 * `tslirp replay` through the CLI (a child process, as a user runs it): the summary, `--until`
 * with the state, `--effects`, `--pcap` (tshark-free check of the pcap's records), `--verify`,
 * and the one-line refusals: another format version, not a recording, a missing file.
 */
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { instant } from "../../../src/effects/instant.ts"
import { BOOTREQUEST, DHCPDISCOVER, DHCPREQUEST, OPT, emitDhcp, optIpv4, optU8 } from "../../../src/protocol/dhcp/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { BROADCAST_MAC } from "../../../src/protocol/wire/mac.ts"
import { concatBytes } from "../../../src/runtime/record/bytes.ts"
import { RECORD_MAGIC } from "../../../src/runtime/record/format.ts"
import { createRecorder } from "../../../src/runtime/record/recorder.ts"
import { createMockHost } from "../../../src/runtime/mock/mock-host.ts"
import { MAIN, NODE } from "../runtime/cli-process.ts"
import { runReplay } from "../../../src/runtime/cli/replay.ts"
import { pureStack } from "../../../src/runtime/record/replay.ts"
import type { StackMachine } from "../../../src/runtime/host/session.ts"
import { GUEST, GUEST_MAC, HOST, bytes, ether, ipv4Packet, pingFrame, udpSegment } from "../stack/frames.ts"

const dir = mkdtempSync(join(tmpdir(), "tslirp-replay-cli-"))
const file = join(dir, "guest.tsrec")
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const dhcp = (type: number, extra: ReadonlyArray<readonly [number, Uint8Array]> = []) =>
  ether(
    BROADCAST_MAC,
    0x0800,
    ipv4Packet(0, 0xffffffff, 17, udpSegment(0, 0xffffffff, 68, 67, emitDhcp({ op: BOOTREQUEST, xid: 42, chaddr: GUEST_MAC, options: [[OPT.messageType, optU8(type)], ...extra] }).bytes)),
  )

const replay = (...args: ReadonlyArray<string>) => spawnSync(NODE, [MAIN, "replay", ...args], { encoding: "utf8", timeout: 60_000 })

beforeAll(async () => {
  const chunks: Array<Uint8Array> = []
  const rec = createRecorder(
    { write: (c) => void chunks.push(...c.map((x) => x.slice())), schedule: () => {} },
    { header: { tslirp: "test", config: { ...defaultConfig, seed: 3 }, start: instant(0), peer: "mock guest", created: "2026-01-01T00:00:00.000Z" }, effects: true },
  )
  const host = createMockHost()
  const guest = host.attach({ seed: 3 }, { recorder: rec })
  await Effect.runPromise(
    Effect.gen(function* () {
      yield* guest.send(dhcp(DHCPDISCOVER))
      yield* guest.send(dhcp(DHCPREQUEST, [[50, optIpv4(GUEST)], [54, optIpv4(HOST)]]))
      yield* guest.send(pingFrame(HOST, 9, 1, bytes("ping")))
      yield* guest.send(new Uint8Array(7))
      yield* guest.shutdown()
    }),
  )
  rec.flush()
  writeFileSync(file, concatBytes(chunks))
})

/** Each case starts Node processes: slow on a loaded machine. */
const CLI_MS = 120_000

describe("tslirp replay (CLI)", () => {
  it("summary, and --verify against the live effects", () => {
    const r = replay(file, "--verify")
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain("recording of mock guest by tslirp test")
    expect(r.stdout).toMatch(/DHCP leases: 1\n\s+lease 10\.0\.2\.15 to 52:54:00:12:34:56/)
    expect(r.stdout).toMatch(/drops: 1\n\s+ethernet malformed: 1/)
    expect(r.stdout).toMatch(/verified: the effects of all 5 events are byte for byte those recorded live/)
  }, CLI_MS)

  it("--until 2 prints the state after the DHCP exchange; --effects lists each event's effects", () => {
    const r = replay(file, "--until", "2", "--effects")
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain("state after event 2:")
    expect(r.stdout).toMatch(/DHCP leases: 10\.0\.2\.15 to 52:54:00:12:34:56 \(bound/)
    expect(r.stdout).toMatch(/#1 [\d.]+ ms FrameFromGuest \d+ bytes/)
    expect(r.stdout).toMatch(/\n {4}DeliverFrame \d+ bytes/)
    expect(r.stdout).not.toContain("#3 ")
  }, CLI_MS)

  it("--pcap writes both directions' frames as pcap records", () => {
    const out = join(dir, "replay.pcap")
    const r = replay(file, "--pcap", out)
    expect(r.status, r.stderr).toBe(0)
    const p = readFileSync(out)
    expect(p.readUInt32LE(0)).toBe(0xa1b2c3d4)
    let records = 0
    for (let at = 24; at < p.length; records++) at += 16 + p.readUInt32LE(at + 8)
    // 4 guest frames; DHCP OFFER, ACK and the echo reply (and nothing for the runt).
    expect(records).toBe(7)
  }, CLI_MS)

  it("a recording of another format version (1, before forwarding and TFTP): one clear line, exit 1", () => {
    const old = readFileSync(file)
    old.writeUInt16LE(1, RECORD_MAGIC.length)
    const path = join(dir, "old.tsrec")
    writeFileSync(path, old)
    const r = replay(path)
    expect(r.status).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr).toBe(`tslirp replay: ${path}: recording format version 1 is not supported: this tslirp reads version 2 only (replay it with the tslirp that wrote it)\n`)
  }, CLI_MS)

  it("not a recording, a missing file, a bad option: one line each", () => {
    const junk = join(dir, "junk")
    writeFileSync(junk, "hello")
    const a = replay(junk)
    expect([a.status, a.stderr]).toEqual([1, `tslirp replay: ${junk}: not a tslirp recording (no recording magic at the start)\n`])
    const b = replay(join(dir, "absent"))
    expect(b.status).toBe(1)
    expect(b.stderr.split("\n").filter(Boolean)).toHaveLength(1)
    const c = replay(file, "--until", "zero")
    expect([c.status, c.stderr]).toEqual([2, 'tslirp: replay: --until: "zero" must be an event number (1 or more)\n'])
  }, CLI_MS)

  it("a stack that throws on an event: the event's number and the error, exit 3, after the summary of the events before", () => {
    let n = 0
    const failing: StackMachine<unknown> = {
      create: pureStack.create,
      reduce: (s, e) => {
        if (++n === 3) throw new Error("bug on cue")
        return pureStack.reduce(s as never, e)
      },
    }
    const out: Array<string> = []
    const err: Array<string> = []
    const code = runReplay({ file, effects: false, until: undefined, pcap: undefined, verify: false }, (l) => void out.push(l), (l) => void err.push(l), failing)
    expect(code).toBe(3)
    expect(err[0]).toMatch(/^tslirp replay: the stack failed on event 3: Error: bug on cue/)
    expect(out.join("\n")).toMatch(/DHCP leases: 1/)
  })
})
