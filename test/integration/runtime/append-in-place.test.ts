/**
 * Records written in place into the O_DIRECT staging buffer (append-direct.ts `inPlace`, bytes.ts
 * `ByteWriter.beginInPlace`), the one-copy path of `--pcap` and `--record`: in place and ordinary
 * writes keep their order across stage boundaries, a record never straddles two stages, a
 * record larger than a stage goes the ordinary way, a wrong size bound costs a copy and no
 * bytes; and pcap captures (rotation included) and recordings (the size bound's stop record
 * included) are byte for byte what the page-cache path writes for the same input (the direct
 * pcap path gathering its records and moving them with the addon's streamCopy).
 */
import { mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { socketId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { silentLogger } from "../../../src/runtime/host/logger.ts"
import { pcapGlobalHeader, pcapRecordHeader } from "../../../src/runtime/pcap/pcap-format.ts"
import { openPcapFile } from "../../../src/runtime/pcap/pcap-writer.ts"
import { IDLE_MS, openDirectAppendFile, STAGE_BYTES } from "../../../src/runtime/record/append-direct.ts"
import { ByteWriter, concatBytes, type InPlace } from "../../../src/runtime/record/bytes.ts"
import { readRecording } from "../../../src/runtime/record/format.ts"
import { openRecordFile } from "../../../src/runtime/record/record-file.ts"
import { streamCopy } from "../../../src/runtime/record/stream-copy.ts"
import { fileOnceIs } from "../../support/file-once.ts"
import { createRecorder, type RecorderOptions, type SessionRecorder } from "../../../src/runtime/record/recorder.ts"

const TMPFS_MAGIC = 0x01021994
// O_DIRECT needs a file system that has it: the system's temporary directory unless it is tmpfs,
// else the checkout's (as append-direct.test.ts).
const base = statfsSync(tmpdir()).type === TMPFS_MAGIC ? fileURLToPath(new URL("../../../", import.meta.url)) : tmpdir()
const dir = mkdtempSync(join(base, "tslirp-inplace-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const BLOCK = 4096
/** Deterministic bytes: position i of chunk k holds (i * 31 + k) & 0xff. */
const chunk = (n: number, k: number): Uint8Array => {
  const c = new Uint8Array(n)
  for (let i = 0; i < n; i++) c[i] = (i * 31 + k) & 0xff
  return c
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Runs `body` with TSLIRP_DIRECT_IO=0 (the page-cache path) when `direct` is false. */
const withDirect = async <T,>(direct: boolean, body: () => Promise<T>): Promise<T> => {
  const before = process.env["TSLIRP_DIRECT_IO"]
  if (!direct) process.env["TSLIRP_DIRECT_IO"] = "0"
  try {
    return await body()
  } finally {
    if (before === undefined) delete process.env["TSLIRP_DIRECT_IO"]
    else process.env["TSLIRP_DIRECT_IO"] = before
  }
}

describe("in place into the O_DIRECT staging buffer", () => {
  it("in-place records and ordinary writes land in order across stages; a record never straddles two; one larger than STAGE_BYTES - 4096 is refused", async () => {
    const path = join(dir, "mixed.bin")
    const errors: Array<unknown> = []
    const f = openDirectAppendFile(path, (e) => errors.push(e))
    expect(f, `O_DIRECT on ${dir}`).toBeDefined()
    const inPlace = f!.inPlace!
    expect(inPlace).toBeDefined()
    expect(inPlace.reserve(STAGE_BYTES - BLOCK + 1)).toBe(-1)
    const want: Array<Uint8Array> = []
    // Sizes around pcap records and blocks, the largest record a stage takes, and one ordinary
    // write larger than a stage; every third goes the ordinary way.
    const sizes = [16, 1530, 65_551, 4095, 4096, 4097, 9030, STAGE_BYTES - BLOCK, 77, STAGE_BYTES + 5000, 1]
    for (let round = 0; round < 2; round++) {
      sizes.forEach((n, i) => {
        const k = round * sizes.length + i
        const c = chunk(n, k)
        want.push(c)
        if (k % 3 === 2 || n > STAGE_BYTES - BLOCK) return f!.write([c], () => {})
        const at = inPlace.reserve(n)
        expect(at).toBeGreaterThanOrEqual(0)
        const buf = inPlace.buffer
        // The room runs from `at` to the end of the stage: the record fits whole.
        expect(buf.length - at).toBeGreaterThanOrEqual(n)
        buf.set(c, at)
        inPlace.commit(n)
      })
      await nextTurn()
    }
    await f!.close()
    expect(inPlace.reserve(16)).toBe(-1)
    expect(errors).toEqual([])
    const got = readFileSync(path)
    const all = Buffer.concat(want)
    expect(got.length).toBe(all.length)
    expect(got.equals(all)).toBe(true)
  })

  it(`a quiet writer's in-place records are in the file after ${IDLE_MS} ms with no padding, and later ones follow them`, async () => {
    const path = join(dir, "idle.bin")
    const f = openDirectAppendFile(path, () => {})!
    const put = (c: Uint8Array): void => {
      const at = f.inPlace!.reserve(c.length)
      f.inPlace!.buffer.set(c, at)
      f.inPlace!.commit(c.length)
    }
    const a = chunk(10_000, 1)
    put(a)
    expect((await fileOnceIs(path, a)).equals(Buffer.from(a))).toBe(true)
    const b = chunk(5000, 2)
    put(b)
    await f.close()
    expect(readFileSync(path).equals(Buffer.concat([a, b]))).toBe(true)
  })

  it("a record that outgrows its bound moves to the writer's own chunks, length slot and all: nothing is committed, `take` has it whole", () => {
    // A target in memory with 56 bytes of room from offset 8 (not 0: where the length slot
    // lands moves with the record).
    const mem = new Uint8Array(64)
    const committed: Array<Uint8Array> = []
    const target: InPlace = {
      reserve: (n) => (n <= mem.length - 8 ? 8 : -1),
      buffer: mem,
      view: new DataView(mem.buffer),
      commit: (n) => void committed.push(mem.slice(8, 8 + n)),
    }
    const record = (w: ByteWriter, body: number): void => {
      w.u8(9)
      w.openLength()
      w.raw(chunk(body, body))
      w.closeLength()
    }
    const plain = (body: number): Uint8Array => {
      const w = new ByteWriter()
      record(w, body)
      return concatBytes(w.take())
    }
    const w = new ByteWriter()
    expect(w.beginInPlace(target, 40)).toBe(true)
    record(w, 30)
    w.endInPlace()
    expect(committed).toEqual([plain(30)])
    expect(w.pending).toBe(0)
    // Bound 40, but 1 + 4 + 200 bytes: it spills.
    expect(w.beginInPlace(target, 40)).toBe(true)
    record(w, 200)
    w.endInPlace()
    expect(committed).toHaveLength(1)
    expect(w.pending).toBe(205)
    // While something waits in the writer, nothing goes in place (it would land first).
    expect(w.beginInPlace(target, 10)).toBe(false)
    record(w, 3)
    w.endInPlace()
    expect(concatBytes(w.take())).toEqual(concatBytes([plain(200), plain(3)]))
    expect(w.beginInPlace(target, 100)).toBe(false)
  })
})

// ---- the same input through both paths ---------------------------------------------------

const T0 = 1_700_000_000_000_000
/** Frame i: sizes from the smallest to the largest Ethernet frame tslirp carries (65535 + 14). */
const FRAME_SIZES = [60, 1514, 65_549, 9014, 333, 65_549, 1514]
const fillFrame = (buf: Uint8Array, i: number): Uint8Array => {
  const f = buf.subarray(0, FRAME_SIZES[i % FRAME_SIZES.length]!)
  for (let k = 0; k < f.length; k++) f[k] = (i + k * 13) & 0xff
  return f
}

describe("pcap: direct and page cache write the same bytes", () => {
  it("~25 MB of frames of 60 to 65549 bytes, rotating at 9 MB, with a quiet spell: FILE and FILE.1 identical on both paths and as expected", async () => {
    const FRAMES = 1100
    const maxBytes = 9_000_000
    const capture = async (direct: boolean): Promise<[Buffer, Buffer]> => {
      const path = join(dir, `same-${direct}.pcap`)
      await withDirect(direct, async () => {
        let t = T0
        const w = openPcapFile(path, silentLogger, () => (t += 7), { maxBytes })
        // One buffer rewritten for every frame, as a runtime reuses its receive buffers.
        const buf = new Uint8Array(65_549)
        for (let i = 0; i < FRAMES; i++) {
          w.write(fillFrame(buf, i))
          if (i % 50 === 0) await nextTurn()
          if (i === 400) await sleep(IDLE_MS + 100)
        }
        await w.close()
      })
      return [readFileSync(`${path}.1`), readFileSync(path)]
    }
    // What each file should hold: rotation before a record would pass the bound.
    const files: Array<Array<Uint8Array>> = [[pcapGlobalHeader()]]
    let size = 24
    const buf = new Uint8Array(65_549)
    for (let i = 0; i < FRAMES; i++) {
      const f = fillFrame(buf, i)
      if (size + 16 + f.length > maxBytes && size > 24) {
        files.push([pcapGlobalHeader()])
        size = 24
      }
      files.at(-1)!.push(pcapRecordHeader(T0 + 7 * (i + 1), f.length), Uint8Array.from(f))
      size += 16 + f.length
    }
    expect(files.length).toBeGreaterThanOrEqual(3)
    // The direct path gathers records and moves them with the addon's streamCopy: tested here only if it is there.
    expect(streamCopy()).toBeDefined()
    const [previous, current] = [Buffer.concat(files.at(-2)!), Buffer.concat(files.at(-1)!)]
    const [directPrevious, directCurrent] = await capture(true)
    const [cachedPrevious, cachedCurrent] = await capture(false)
    expect(directPrevious.equals(cachedPrevious)).toBe(true)
    expect(directCurrent.equals(cachedCurrent)).toBe(true)
    expect(directPrevious.equals(previous)).toBe(true)
    expect(directCurrent.equals(current)).toBe(true)
  })
})

describe("record: direct, page cache and memory write the same bytes", () => {
  it("frames, host reads of 4095 B to 256 KiB at odd source offsets, one 5 MiB read (larger than a stage), with effects, stopped by --record-max-bytes", async () => {
    const options: RecorderOptions = {
      header: { tslirp: "test", config: defaultConfig, start: instant(0), peer: "test", created: "2026-01-01T00:00:00.000Z" },
      effects: true,
      maxBytes: 30_000_000,
    }
    const buf = new Uint8Array(65_549)
    const big = chunk(5 * 1024 * 1024, 7)
    // Host reads around STREAM_MIN (format.ts: from 4096 bytes the direct path copies them with
    // the addon's streamCopy), some starting at odd offsets of their buffer.
    const reads = [chunk(256 * 1024, 3), chunk(4096 + 64, 5).subarray(3, 3 + 4096), chunk(70_000, 9).subarray(1, 65_538), chunk(4095, 11), chunk(4097, 13)]
    /** Event i, and the effects recorded after it: the frame delivered to the guest. */
    const feed = (rec: SessionRecorder, i: number): void => {
      const now = instant(i)
      const frame = fillFrame(buf, i)
      const e: StackEvent =
        i === 150
          ? { _tag: "HostTcpData", now, sock: socketId(1), data: big }
          : i % 9 === 4
            ? { _tag: "HostTcpData", now, sock: socketId(1), data: reads[Math.floor(i / 9) % reads.length]! }
            : { _tag: "FrameFromGuest", now, frame }
      rec.event(e)
      rec.effects?.([{ _tag: "DeliverFrame", frame }])
    }
    const EVENTS = 800
    const file = async (direct: boolean): Promise<{ bytes: Buffer; stops: number }> => {
      const path = join(dir, `same-${direct}.tsrec`)
      let stops = 0
      await withDirect(direct, async () => {
        const r = openRecordFile(path, silentLogger, { ...options, onStop: () => void stops++ })
        for (let i = 0; i < EVENTS; i++) {
          feed(r, i)
          if (i % 40 === 0) await nextTurn()
          if (i === 300) await sleep(IDLE_MS + 100)
        }
        await r.close()
      })
      return { bytes: readFileSync(path), stops }
    }
    const memory = (): Uint8Array => {
      const chunks: Array<Uint8Array> = []
      const rec = createRecorder({ write: (c, release) => (chunks.push(...c.map((x) => x.slice())), release()), schedule: () => {} }, options)
      for (let i = 0; i < EVENTS; i++) feed(rec, i)
      rec.flush()
      return concatBytes(chunks)
    }
    // The direct path's large host reads go through streamCopy: tested here only if it is there.
    expect(streamCopy()).toBeDefined()
    const want = memory()
    const direct = await file(true)
    const cached = await file(false)
    expect(direct.stops).toBe(1)
    expect(cached.stops).toBe(1)
    expect(direct.bytes.length).toBe(want.length)
    expect(direct.bytes.equals(cached.bytes)).toBe(true)
    expect(direct.bytes.equals(Buffer.from(want))).toBe(true)
    expect(want.length).toBeLessThanOrEqual(30_000_000)
    const r = readRecording(want)
    if ("_tag" in r) throw new Error(r._tag)
    const events = [...r.events()]
    expect(events.length).toBeGreaterThan(200)
    expect(r.tail()).toEqual({ stoppedAt: events.length - 1, truncated: undefined })
  })
})
