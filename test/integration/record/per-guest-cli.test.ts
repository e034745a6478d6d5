/**
 * `--record` and `--pcap` through the CLI with two guests on one socket: each guest gets its
 * own recording and capture (FILE, then FILE with .2 before the extension), each recording
 * holds that guest's frames and its Shutdown, and the session's end closes both files.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { describeProblem, readRecording } from "../../../src/runtime/record/format.ts"
import { CliProcess, StreamGuest } from "../runtime/cli-process.ts"
import { arpRequest, readArpReply } from "../runtime/frames.ts"

const dir = mkdtempSync(join(tmpdir(), "tslirp-per-guest-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const pcapRecords = (path: string): number => {
  const p = readFileSync(path)
  let n = 0
  for (let at = 24; at < p.length; n++) at += 16 + p.readUInt32LE(at + 8)
  return n
}

describe("--record and --pcap: one file per guest", () => {
  it("two guests: g.tsrec and g.2.tsrec, c.pcap and c.2.pcap, each with its own guest's traffic", async () => {
    const sock = join(dir, "t.sock")
    const cli = new CliProcess(["--socket", sock, "--dns-upstream", "none", "--record", join(dir, "g.tsrec"), "--pcap", join(dir, "c.pcap")])
    try {
      await cli.waitFor(/ready/, "stdout", 60_000)
      for (const [i, count] of [[1, 1], [2, 3]] as const) {
        const g = await StreamGuest.open({ path: sock })
        for (let k = 0; k < count; k++) {
          g.send(arpRequest("10.0.2.15", "10.0.2.2"))
          await g.next((f) => (readArpReply(f) !== undefined ? f : undefined))
        }
        g.close()
        // The guest's session ends when its link closes; its files are closed then.
        await cli.waitFor(new RegExp(`guest disconnected[\\s\\S]*`.repeat(i)), "stderr", 30_000)
      }
    } finally {
      expect(await cli.stop()).toEqual({ code: 0, signal: null })
    }
    for (const [name, frames] of [["g.tsrec", 1], ["g.2.tsrec", 3]] as const) {
      const rec = readRecording(readFileSync(join(dir, name)))
      if ("_tag" in rec) throw new Error(describeProblem(rec))
      const tags = [...rec.events()].map((e) => e.event._tag)
      expect(tags, name).toEqual([...Array<string>(frames).fill("FrameFromGuest"), "Shutdown"])
    }
    expect(pcapRecords(join(dir, "c.pcap"))).toBe(2)
    expect(pcapRecords(join(dir, "c.2.pcap"))).toBe(6)
  }, 120_000)

  it("--record-max-bytes: recording stops at the bound with one log line; the file replays up to there", async () => {
    const sock = join(dir, "m.sock")
    const path = join(dir, "m.tsrec")
    const cli = new CliProcess(["--socket", sock, "--dns-upstream", "none", "--record", path, "--record-max-bytes", "2K"])
    try {
      await cli.waitFor(/ready/, "stdout", 60_000)
      const g = await StreamGuest.open({ path: sock })
      for (let k = 0; k < 40; k++) {
        g.send(arpRequest("10.0.2.15", "10.0.2.2"))
        await g.next((f) => (readArpReply(f) !== undefined ? f : undefined))
      }
      await cli.waitFor(/reached --record-max-bytes, recording stopped/, "stderr", 30_000)
      g.close()
    } finally {
      expect(await cli.stop()).toEqual({ code: 0, signal: null })
    }
    expect(cli.stderr.match(/reached --record-max-bytes/g)).toHaveLength(1)
    const bytes = readFileSync(path)
    expect(bytes.length).toBeLessThanOrEqual(2048)
    const rec = readRecording(bytes)
    if ("_tag" in rec) throw new Error(describeProblem(rec))
    const n = [...rec.events()].length
    expect(n).toBeGreaterThan(0)
    expect(n).toBeLessThan(40)
    expect(rec.tail().stoppedAt).toBeDefined()
  }, 120_000)
})
