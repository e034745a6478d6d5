/**
 * The append-only file of append-file.ts written with O_DIRECT: `--pcap` and `--record` move as
 * many bytes to the disk as the guest link moves, and through the page cache every byte is
 * copied once more by the kernel, into pages the cache takes fresh (it keeps growing while a
 * capture runs). On the 2-CPU VM of the bench, writing 2 GB through the page cache took 4.6 s of
 * kernel time into fresh pages and 0.5 s into reused ones; with O_DIRECT 0.3 s (`dd`, 2026-12-07).
 * With O_DIRECT the disk reads the bytes from our own memory, and the capture leaves the page
 * cache alone.
 *
 * How: writes are copied into page-aligned staging buffers of `STAGE_BYTES` (views cut from a
 * larger ArrayBuffer at the offset the addon's `pageOffset` reports: O_DIRECT wants memory,
 * length and file offset aligned to the device's block size; 4096 covers every common one).
 * A full buffer goes out with one `fs.write` on libuv's thread pool at its (aligned) offset, one
 * write at a time (the rest queue, see `queue`);
 * the caller's chunks are released at once (copied). Writers that can encode straight into the
 * staging buffer do (`inPlace`: `--pcap` and `--record` on their hot path), so each frame is
 * copied once on its way to the disk, not into the writer's chunks first. What is left when
 * the writer goes quiet (no stage went out for `IDLE_MS`: `quietCheck`), and at `close`, goes
 * out as the whole blocks it holds (direct) and the last partial block through a second,
 * ordinary descriptor, at its exact offset: the file never holds padding, and its length is
 * always what was written (a reader of a live capture sees whole records once the writer is
 * idle). The partial block is written again, whole, by the
 * next direct write (the kernel writes back and drops its cached page first).
 *
 * Bounds as append-file.ts: beyond `backlogBytes` in flight (default 32 MiB: eight stages)
 * a full buffer is written synchronously; as many idle staging buffers are kept for reuse.
 *
 * `openDirectAppendFile` returns undefined, having created nothing it leaves open, when direct
 * writes are not possible here: no addon, a file system without O_DIRECT (tmpfs), or one that
 * refuses a 4096-aligned probe write. The caller then writes through the page cache.
 */
import { closeSync, constants, ftruncateSync, openSync, write as writeAsync, writeSync } from "node:fs"
import { loadAddon } from "../node/addon.ts"
import type { AppendFile, AppendFileOptions } from "./append-file.ts"
import type { InPlace } from "./bytes.ts"
import { streamCopy } from "./stream-copy.ts"

/** Alignment of memory, length and offset of every direct write. */
const BLOCK = 4096
/** One staging buffer: one direct write when full. */
export const STAGE_BYTES = 4 * 1024 * 1024
/** A quiet writer's last bytes reach the file after this long. */
export const IDLE_MS = 200
/**
 * Full stages waiting for the disk beyond which the next is written synchronously (a disk
 * slower than the link slows the guest down). The pool keeps that many idle stages, so a
 * capture never allocates a stage after its first burst: a fresh one costs 4 MiB of page
 * clearing in the kernel, which perf showed dominating when stages were dropped and remade.
 */
const POOL_MAX = 8
const BACKLOG_BYTES = POOL_MAX * STAGE_BYTES

type PageOffset = (view: Uint8Array) => number
type DirectStage = (bytes: number) => ArrayBuffer | undefined

interface StageMemory {
  readonly pageOffset: PageOffset
  readonly directStage: DirectStage | undefined
}

const stageMemory = (): StageMemory | undefined => {
  const addon = loadAddon()
  if (typeof addon === "string" || typeof addon["pageOffset"] !== "function") return undefined
  const directStage = addon["directStage"]
  return { pageOffset: addon["pageOffset"] as PageOffset, directStage: typeof directStage === "function" ? (directStage as DirectStage) : undefined }
}

/**
 * A page-aligned buffer of `bytes` (a multiple of BLOCK), or undefined if the addon cannot say
 * where memory lies. From the addon's `directStage` when it can (2 MiB-aligned, huge pages: a
 * direct write pins 2 pages instead of 1024), else cut from an ordinary ArrayBuffer.
 */
const alignedBuffer = (memory: StageMemory, bytes: number): Uint8Array | undefined => {
  const huge = memory.directStage?.(bytes)
  if (huge !== undefined) return new Uint8Array(huge)
  const whole = new Uint8Array(bytes + BLOCK)
  const off = memory.pageOffset(whole)
  if (off < 0) return undefined
  return whole.subarray((BLOCK - off) % BLOCK, (BLOCK - off) % BLOCK + bytes)
}

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength)

export const openDirectAppendFile = (path: string, onError: (err: unknown) => void, options: AppendFileOptions = {}): AppendFile | undefined => {
  const memory = stageMemory()
  const O_DIRECT = (constants as Record<string, number | undefined>)["O_DIRECT"]
  if (memory === undefined || O_DIRECT === undefined) return undefined
  const first = alignedBuffer(memory, STAGE_BYTES)
  if (first === undefined) return undefined
  let fd: number | undefined
  let tailFd: number | undefined
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | O_DIRECT, 0o666)
    // The probe: one aligned block, then the file is empty again.
    writeSync(fd, first, 0, BLOCK, 0)
    ftruncateSync(fd, 0)
    tailFd = openSync(path, "r+")
  } catch {
    if (fd !== undefined) closeSync(fd)
    return undefined
  }
  const backlogMax = options.backlogBytes ?? BACKLOG_BYTES
  const pool: Array<Uint8Array> = []
  let stage = first
  /** Bytes in `stage`; it goes to the file at `stageAt` (a multiple of BLOCK). */
  let fill = 0
  let stageAt = 0
  let inFlight = 0
  let backlog = 0
  let closing = false
  let failed = false
  let idle: ReturnType<typeof setTimeout> | undefined
  /** A stage went out since the quiet timer was armed: the writer is not quiet. */
  let busy = false
  let whenClosed: (() => void) | undefined
  const closed = new Promise<void>((resolve) => (whenClosed = resolve))

  const closeFds = (): void => {
    for (const f of [fd, tailFd]) {
      if (f === undefined) continue
      try {
        closeSync(f)
      } catch {
        // Nothing more to do.
      }
    }
    fd = undefined
    tailFd = undefined
    whenClosed?.()
  }
  const fail = (err: unknown): void => {
    if (failed) return
    failed = true
    if (idle !== undefined) clearTimeout(idle)
    onError(err)
    if (inFlight === 0) closeFds()
  }
  const freshStage = (): Uint8Array => pool.pop() ?? alignedBuffer(memory, STAGE_BYTES)!
  const recycle = (b: Uint8Array): void => {
    if (pool.length < POOL_MAX) pool.push(b)
  }

  /**
   * Direct writes waiting for the one in flight, oldest first. One at a time: an O_DIRECT write
   * that extends the file takes the inode's lock exclusively, so parallel writes on libuv's
   * threads only spin on it (perf of `test/bench/pcap-write.ts`: ~5% of the capture's CPU in
   * rwsem spinning with up to 16 in flight); one after another they stay ahead of the link
   * (the VM's disk appends 4 MiB writes at 1.2 GB/s), and the few stages in use are reused
   * rather than allocated, faulted in and collected.
   */
  const queue: Array<{ readonly buf: Uint8Array; readonly len: number; readonly at: number }> = []
  let writing = false

  const pump = (): void => {
    if (writing) return
    const next = queue.shift()
    if (next === undefined) {
      if (inFlight === 0 && (closing || failed)) closeFds()
      return
    }
    const { buf, len, at } = next
    writing = true
    const done = (err: unknown): void => {
      writing = false
      inFlight--
      backlog -= len
      recycle(buf)
      if (err !== null) fail(err)
      pump()
    }
    if (failed) return done(null)
    writeAsync(fd!, buf, 0, len, at, done)
  }

  /** Writes `len` bytes (a multiple of BLOCK) of `buf` at `at`, directly; `buf` is the writer's no more. */
  const submit = (buf: Uint8Array, len: number, at: number): void => {
    busy = true
    if (closing || backlog + len > backlogMax) {
      try {
        writeSync(fd!, buf, 0, len, at)
      } catch (err) {
        fail(err)
      }
      recycle(buf)
      return
    }
    inFlight++
    backlog += len
    queue.push({ buf, len, at })
    pump()
  }

  /** `next` becomes the stage records are written into. */
  const useStage = (next: Uint8Array): void => {
    stage = next
    inPlace.buffer = next
    inPlace.view = viewOf(next)
  }

  /** The whole blocks of `stage` go out directly; the rest starts a fresh staging buffer. */
  const submitBlocks = (): void => {
    const blocks = fill - (fill % BLOCK)
    if (blocks === 0) return
    const rest = fill - blocks
    const next = freshStage()
    if (rest > 0) next.set(stage.subarray(blocks, fill), 0)
    submit(stage, blocks, stageAt)
    useStage(next)
    stageAt += blocks
    fill = rest
  }

  /** Everything written so far reaches the file: whole blocks directly, the partial one through the page cache. */
  const drain = (): void => {
    idle = undefined
    if (failed || fd === undefined) return
    submitBlocks()
    if (fill > 0) {
      try {
        writeSync(tailFd!, stage, 0, fill, stageAt)
      } catch (err) {
        fail(err)
      }
    }
  }

  /** A full stage goes out; the next one starts empty. */
  const submitFull = (): void => {
    const full = stage
    useStage(freshStage())
    fill = 0
    submit(full, STAGE_BYTES, stageAt)
    stageAt += STAGE_BYTES
  }

  /**
   * IDLE_MS after the timer was armed (bytes were waiting in the stage): if no stage went out
   * meanwhile, the writer is quiet and what it left goes out (`drain`); if one did, the bytes
   * waiting are younger than that stage, and the next look is IDLE_MS later. A busy writer
   * (`--pcap` at link speed fills a stage every few milliseconds) so never has its stage cut
   * short: draining it every IDLE_MS meant a short direct write, a tail written through the
   * page cache on the event loop's thread (waiting for the inode lock held by the direct write
   * in flight), and that cached page written back and dropped again by the next direct write.
   * Either way, no byte waits more than 2 * IDLE_MS for the file.
   */
  const quietCheck = (): void => {
    idle = undefined
    if (busy) settle()
    else drain()
  }

  /** After bytes joined the stage: they reach the file when the writer goes quiet (at once when closing). */
  const settle = (): void => {
    if (closing) drain()
    else if (fill > 0 && idle === undefined) {
      busy = false
      idle = setTimeout(quietCheck, IDLE_MS)
      idle.unref()
    }
  }

  /**
   * The stage itself, for writers that encode their records straight into it (bytes.ts
   * `ByteWriter.beginInPlace`): the one copy of a frame is the one into this buffer. A record
   * that does not fit the room left sends the stage's whole blocks out first (submitBlocks: the
   * partial block, under 4 KiB, moves to a fresh stage), so records never straddle stages and
   * a stage has room for any record up to STAGE_BYTES - BLOCK; larger ones are refused and
   * written the ordinary way (`write`, which splits them across stages).
   */
  // `buffer` and `view` are plain properties, set whenever the stage changes (`useStage`): as a
  // getter, every record's read went through V8's generic property lookup (perf: 6% of the
  // capture's CPU); the view is made once per stage, not by each writer per record.
  const inPlace: { -readonly [K in keyof InPlace]: InPlace[K] } = {
    reserve(n) {
      if (fd === undefined || failed || closing || n > STAGE_BYTES - BLOCK) return -1
      if (fill + n > STAGE_BYTES) submitBlocks()
      return failed ? -1 : fill
    },
    buffer: stage,
    view: viewOf(stage),
    streamCopy: streamCopy(),
    commit(n) {
      if (fd === undefined || failed) return
      fill += n
      if (fill === STAGE_BYTES) submitFull()
      settle()
    },
  }

  return {
    write(chunks, release) {
      if (fd === undefined || failed) return release()
      for (const c of chunks) {
        let from = 0
        while (from < c.length) {
          const take = Math.min(c.length - from, STAGE_BYTES - fill)
          stage.set(from === 0 && take === c.length ? c : c.subarray(from, from + take), fill)
          fill += take
          from += take
          if (fill === STAGE_BYTES) submitFull()
        }
      }
      release()
      settle()
    },
    inPlace,
    get failed() {
      return failed
    },
    close() {
      if (closing) return closed
      closing = true
      if (idle !== undefined) clearTimeout(idle)
      drain()
      if (inFlight === 0) closeFds()
      return closed
    },
  }
}
