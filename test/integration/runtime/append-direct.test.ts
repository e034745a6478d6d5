/**
 * The O_DIRECT append file (src/runtime/record/append-direct.ts) on a real file system: bytes
 * land whole and in order across staging buffers, the file never holds padding, a quiet
 * writer's bytes reach the file, and where the direct file cannot be made nothing is left open.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { IDLE_MS, openDirectAppendFile, STAGE_BYTES } from "../../../src/runtime/record/append-direct.ts"
import { openAppendFile } from "../../../src/runtime/record/append-file.ts"
import { loadAddon } from "../../../src/runtime/node/addon.ts"
import { fileOnceIs } from "../../support/file-once.ts"

const TMPFS_MAGIC = 0x01021994
// O_DIRECT needs a file system that has it (tmpfs only since Linux 6.6): the system's temporary
// directory unless it is tmpfs, else the checkout's.
const base = statfsSync(tmpdir()).type === TMPFS_MAGIC ? fileURLToPath(new URL("../../../", import.meta.url)) : tmpdir()
const dir = mkdtempSync(join(base, "tslirp-direct-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Deterministic bytes: position i of chunk k holds (i * 31 + k) & 0xff. */
const chunk = (n: number, k: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + k) & 0xff)
const openFds = (): number => readdirSync("/proc/self/fd").length

describe("O_DIRECT append file", () => {
  it("writes across staging buffers land whole and in order, each released at once, the file exactly as long as written", async () => {
    const path = join(dir, "big.bin")
    const errors: Array<unknown> = []
    const f = openDirectAppendFile(path, (e) => errors.push(e))
    expect(f, `O_DIRECT on ${dir}`).toBeDefined()
    const want: Array<Uint8Array> = []
    let released = 0
    // Sizes around the staging buffer and the block: odd, block-sized, one larger than a stage.
    const sizes = [1, 4095, 4096, 4097, 100_000, STAGE_BYTES - 7, STAGE_BYTES + 12_345, 3, 65_536, 2 * STAGE_BYTES + 1]
    sizes.forEach((n, k) => {
      const c = chunk(n, k)
      want.push(Uint8Array.from(c))
      f!.write([c.subarray(0, n >> 1), c.subarray(n >> 1)], () => released++)
      // Released means reusable: scribbling over it must not change what lands in the file.
      c.fill(0xee)
    })
    expect(released).toBe(sizes.length)
    await f!.close()
    expect(errors).toEqual([])
    const got = readFileSync(path)
    const all = Buffer.concat(want)
    expect(got.length).toBe(all.length)
    expect(got.equals(all)).toBe(true)
  })

  it(`a quiet writer's bytes are in the file after ${IDLE_MS} ms with no padding; later writes rewrite the partial block and extend it`, async () => {
    const path = join(dir, "idle.bin")
    const f = openDirectAppendFile(path, () => {})!
    expect(f).toBeDefined()
    const a = chunk(10_000, 1)
    f.write([a], () => {})
    expect((await fileOnceIs(path, Buffer.from(a))).equals(Buffer.from(a))).toBe(true)
    const b = chunk(5_000, 2)
    f.write([b], () => {})
    expect((await fileOnceIs(path, Buffer.concat([a, b]))).equals(Buffer.concat([a, b]))).toBe(true)
    const c = chunk(STAGE_BYTES, 3)
    f.write([c], () => {})
    await f.close()
    expect(readFileSync(path).equals(Buffer.concat([a, b, c]))).toBe(true)
  })

  it("a small backlog bound makes writes synchronous, nothing lost", async () => {
    const path = join(dir, "backlog.bin")
    const f = openDirectAppendFile(path, () => {}, { backlogBytes: 1 })!
    const want: Array<Uint8Array> = []
    for (let k = 0; k < 5; k++) {
      const c = chunk(STAGE_BYTES + 1000, k)
      want.push(c)
      f.write([c], () => {})
    }
    await f.close()
    expect(readFileSync(path).equals(Buffer.concat(want))).toBe(true)
  })

  it("when the direct file cannot be made: undefined and no descriptor left open; the page-cache path writes the same bytes", async () => {
    const before = openFds()
    // A directory where the file should be: the open fails.
    expect(openDirectAppendFile(dir, () => {})).toBeUndefined()
    expect(openFds()).toBe(before)
    const path = join(dir, "buffered.bin")
    const f = openAppendFile(path, () => {}, { direct: false })
    const c = chunk(70_000, 5)
    f.write([c], () => {})
    await f.close()
    expect(readFileSync(path).equals(Buffer.from(c))).toBe(true)
  })

  it("the addon's stage memory: 2 MiB-aligned, zeroed, the size asked; sizes that are not whole huge pages refused", () => {
    const addon = loadAddon()
    expect(typeof addon === "string" ? addon : typeof addon["directStage"]).toBe("function")
    const fns = addon as Record<string, (x: unknown) => unknown>
    const directStage = fns["directStage"]!
    const pageOffset = fns["pageOffset"]!
    const huge = 2 * 1024 * 1024
    const stage = directStage(2 * huge)
    expect(stage).toBeInstanceOf(ArrayBuffer)
    const view = new Uint8Array(stage as ArrayBuffer)
    expect(view.length).toBe(2 * huge)
    expect(pageOffset(view)).toBe(0)
    expect(view.every((b) => b === 0)).toBe(true)
    view.fill(7)
    expect(view[view.length - 1]).toBe(7)
    for (const bad of [0, -huge, huge + 4096, 4096, Number.NaN, "4194304", undefined]) expect(directStage(bad)).toBeUndefined()
  })
})
