/**
 * The O_DIRECT append file (src/runtime/record/append-direct.ts) keeps one direct write in
 * flight and queues the rest: parallel direct writes that extend a file only contend for the
 * inode's lock; and a writer that keeps filling stages is not cut short every IDLE_MS (short
 * direct writes, tails through the page cache). node:fs `write` and `writeSync` are wrapped
 * here to count the writes, their lengths and those in flight at once; the file's bytes are
 * checked too.
 */
import * as fs from "node:fs"
import { mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it, vi } from "vitest"

const seen = vi.hoisted(() => ({ inFlight: 0, most: 0, calls: 0, lengths: [] as Array<number>, syncLengths: [] as Array<number> }))

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>()
  const write = (...args: Array<unknown>): void => {
    const done = args[args.length - 1] as (...r: Array<unknown>) => void
    seen.calls++
    seen.lengths.push(args[3] as number)
    seen.inFlight++
    seen.most = Math.max(seen.most, seen.inFlight)
    ;(real.write as (...a: Array<unknown>) => void)(...args.slice(0, -1), (...r: Array<unknown>) => {
      seen.inFlight--
      done(...r)
    })
  }
  const writeSync = (...args: Array<unknown>): number => {
    seen.syncLengths.push(args[3] as number)
    return (real.writeSync as (...a: Array<unknown>) => number)(...args)
  }
  return { ...real, default: { ...real, write, writeSync }, write, writeSync }
})

const { IDLE_MS, openDirectAppendFile, STAGE_BYTES } = await import("../../../src/runtime/record/append-direct.ts")

const TMPFS_MAGIC = 0x01021994
const base = statfsSync(tmpdir()).type === TMPFS_MAGIC ? fileURLToPath(new URL("../../../", import.meta.url)) : tmpdir()
const dir = mkdtempSync(join(base, "tslirp-direct-serial-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Resolves once every direct write handed to the kernel so far has called back. */
const writesDone = async (): Promise<void> => {
  while (seen.inFlight > 0) await new Promise((r) => setImmediate(r))
}

describe("O_DIRECT append file: one write in flight, whole stages while busy", () => {
  it("six full stages written in one turn go out one after another, in order", async () => {
    expect(fs.write).not.toBe(undefined)
    const path = join(dir, "serial.bin")
    const f = openDirectAppendFile(path, () => {})
    expect(f, `O_DIRECT on ${dir}`).toBeDefined()
    const want: Array<Uint8Array> = []
    for (let k = 0; k < 6; k++) {
      const c = new Uint8Array(STAGE_BYTES).fill(k + 1)
      want.push(c.slice())
      f!.write([c], () => {})
    }
    // All six are handed over in this turn; at most one may be with the kernel.
    await f!.close()
    expect(seen.calls).toBe(6)
    expect(seen.most).toBe(1)
    expect(readFileSync(path).equals(Buffer.concat(want))).toBe(true)
  })

  it("a writer that fills a stage within every IDLE_MS only ever writes whole stages; once quiet, the rest lands within 2 * IDLE_MS", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] })
    try {
      const path = join(dir, "busy.bin")
      const f = openDirectAppendFile(path, () => {})
      expect(f, `O_DIRECT on ${dir}`).toBeDefined()
      seen.lengths.length = 0
      seen.syncLengths.length = 0 // the probe at open
      const want: Array<Uint8Array> = []
      // Half a stage (plus an odd tail, so stage and chunk boundaries drift) every IDLE_MS / 3:
      // a stage fills at least every second chunk, so within every IDLE_MS.
      for (let k = 0; k < 40; k++) {
        const c = new Uint8Array(STAGE_BYTES / 2 + 1001).fill(k + 1)
        want.push(c.slice())
        f!.write([c], () => {})
        vi.advanceTimersByTime(Math.floor(IDLE_MS / 3))
        await writesDone()
      }
      expect(seen.lengths.length).toBeGreaterThan(8)
      expect(seen.lengths.every((n) => n === STAGE_BYTES)).toBe(true)
      expect(seen.syncLengths).toEqual([])
      // Quiet now: within two looks the whole blocks go out directly, the partial one through
      // the page cache, and the file holds every byte.
      vi.advanceTimersByTime(2 * IDLE_MS)
      await writesDone()
      expect(seen.syncLengths.length).toBe(1)
      expect(readFileSync(path).equals(Buffer.concat(want))).toBe(true)
      await f!.close()
      expect(readFileSync(path).equals(Buffer.concat(want))).toBe(true)
    } finally {
      vi.useRealTimers()
    }
  })
})
