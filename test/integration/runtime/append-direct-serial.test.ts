/**
 * The O_DIRECT append file (src/runtime/record/append-direct.ts) keeps one direct write in
 * flight and queues the rest: parallel direct writes that extend a file only contend for the
 * inode's lock. node:fs `write` is wrapped here to count the writes in flight at once; the
 * file's bytes are checked too.
 */
import * as fs from "node:fs"
import { mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it, vi } from "vitest"

const seen = vi.hoisted(() => ({ inFlight: 0, most: 0, calls: 0 }))

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>()
  const write = (...args: Array<unknown>): void => {
    const done = args[args.length - 1] as (...r: Array<unknown>) => void
    seen.calls++
    seen.inFlight++
    seen.most = Math.max(seen.most, seen.inFlight)
    ;(real.write as (...a: Array<unknown>) => void)(...args.slice(0, -1), (...r: Array<unknown>) => {
      seen.inFlight--
      done(...r)
    })
  }
  return { ...real, default: { ...real, write }, write }
})

const { openDirectAppendFile, STAGE_BYTES } = await import("../../../src/runtime/record/append-direct.ts")

const TMPFS_MAGIC = 0x01021994
const base = statfsSync(tmpdir()).type === TMPFS_MAGIC ? fileURLToPath(new URL("../../../", import.meta.url)) : tmpdir()
const dir = mkdtempSync(join(base, "tslirp-direct-serial-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("O_DIRECT append file: one write in flight", () => {
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
})
