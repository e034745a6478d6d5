/**
 * The Internet checksum's byte sum (wire/checksum.ts `sum16`) with WebAssembly SIMD, for the
 * transport checksum of every frame the stack builds: on the host->guest path it was a tenth of
 * tslirp's CPU at MTU 1500 and more at 32000 (perf). The JS loop sums about 5 GB/s here; this
 * sums 16 bytes per instruction pair, about twice as fast counting the copy into its memory.
 *
 * How: the buffer (a frame) is copied whole into the module's own memory (WebAssembly reaches no
 * other; copying the whole spares making a view of the range), the range padded with zeros to a
 * multiple of 32 bytes (zeros add nothing), and summed there as little-endian
 * 16-bit words into 32-bit lanes (`i32x4.extadd_pairwise_i16x8_u`, two accumulators). RFC 1071
 * §2(B): the one's complement sum does not depend on byte order, so the little-endian sum,
 * folded to 16 bits and byte-swapped once, is the big-endian sum `sum16` returns. Ranges longer
 * than the memory are summed in pieces of an even length, so the byte pairs stay the same.
 *
 * Contract: `createSimdSum16` returns a function with `sum16`'s signature and results (checked
 * against it in test/unit/wire/checksum-simd.test.ts), or undefined where WebAssembly or its SIMD
 * is missing; callers then use `sum16`. Each call makes its own module and memory (no module
 * state here): the runtime makes one and hands it to the stack with its frame allocator
 * (ethernet/frame-buffer.ts), so reducers stay pure and their results do not depend on it.
 */
import { type Sum16, sum16 } from "./checksum.ts"

/** Bytes summed per call into the module (one 64 KiB page; a second page holds the padding). */
const PIECE_BYTES = 65536
/** Shorter ranges go to the JS loop: the call and the copy would cost more than they save. */
const SIMD_MIN_BYTES = 128

/** Unsigned LEB128, as the binary format encodes sizes and indices. */
const leb = (n: number): number[] => {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}
const section = (id: number, body: ReadonlyArray<number>): number[] => [id, ...leb(body.length), ...body]
const name = (s: string): number[] => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))]

// Opcodes used (WebAssembly core 2.0 and its fixed-width SIMD).
const LOCAL_GET = 0x20
const LOCAL_SET = 0x21
const I32_CONST = 0x41
const I32_ADD = 0x6a
const I32_GE_U = 0x4f
const BLOCK = 0x02
const LOOP = 0x03
const BR = 0x0c
const BR_IF = 0x0d
const END = 0x0b
const VOID = 0x40
const I32 = 0x7f
const V128 = 0x7b
const simd = (op: number): number[] => [0xfd, ...leb(op)]
const V128_LOAD = 0x00
const I32X4_EXTRACT_LANE = 0x1b
const I32X4_EXTADD_PAIRWISE_I16X8_U = 0x7f
const I32X4_ADD = 0xae

// Locals: 0 = i (parameter: where to start), 1 = end (parameter: i plus a multiple of 32), 2 = a, 3 = b.
const I = 0
const END_AT = 1
const A = 2
const B = 3
/** acc += the 8 little-endian 16-bit words at i + offset, pairwise into its 4 lanes. */
const addVector = (acc: number, offset: number): number[] => [
  LOCAL_GET, acc,
  LOCAL_GET, I, ...simd(V128_LOAD), 4, ...leb(offset),
  ...simd(I32X4_EXTADD_PAIRWISE_I16X8_U),
  ...simd(I32X4_ADD),
  LOCAL_SET, acc,
]
const lane = (k: number): number[] => [LOCAL_GET, A, ...simd(I32X4_EXTRACT_LANE), k]

/**
 * (func (export "sum") (param i i32) (param end i32) (result i32)): the lanes' total of the
 * little-endian words in [i, end). Loads need no alignment, so any start works.
 * Each lane gains at most 2 * 65535 per 16 bytes, so over one piece (4096 vectors) the four
 * lanes of a + b total under 2^32 (2^31 and more wrap negative): the caller reads it unsigned.
 */
const sumBody = [
  ...leb(1), ...leb(2), V128,
  BLOCK, VOID, LOOP, VOID,
  LOCAL_GET, I, LOCAL_GET, END_AT, I32_GE_U, BR_IF, 1,
  ...addVector(A, 0),
  ...addVector(B, 16),
  LOCAL_GET, I, I32_CONST, 32, I32_ADD, LOCAL_SET, I,
  BR, 0, END, END,
  LOCAL_GET, A, LOCAL_GET, B, ...simd(I32X4_ADD), LOCAL_SET, A,
  ...lane(0), ...lane(1), I32_ADD, ...lane(2), ...lane(3), I32_ADD, I32_ADD,
  END,
]

const moduleBytes = (): Uint8Array =>
  new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // type 0: (i32, i32) -> i32
    ...section(1, [1, 0x60, 2, I32, I32, 1, I32]),
    // function 0 has type 0
    ...section(3, [1, 0]),
    // memory 0: two pages, fixed
    ...section(5, [1, 0x01, 2, 2]),
    // exports: memory "m", function "sum"
    ...section(7, [2, ...name("m"), 0x02, 0, ...name("sum"), 0x00, 0]),
    ...section(10, [1, ...leb(sumBody.length), ...sumBody]),
  ])

/** The part of the WebAssembly JS API used here (the project's libs do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean
  readonly Module: new (bytes: Uint8Array) => object
  readonly Instance: new (module: object) => { readonly exports: unknown }
}

interface Exports {
  readonly m: { readonly buffer: ArrayBuffer }
  readonly sum: (from: number, end: number) => number
}

/** A SIMD `sum16` with its own memory, or undefined where this engine cannot run it. */
export const createSimdSum16 = (): Sum16 | undefined => {
  const wasm = (globalThis as { readonly WebAssembly?: WasmApi }).WebAssembly
  if (wasm === undefined) return undefined
  const bytes = moduleBytes()
  let exports: Exports
  try {
    if (!wasm.validate(bytes)) return undefined
    exports = new wasm.Instance(new wasm.Module(bytes)).exports as Exports
  } catch {
    return undefined
  }
  const mem = new Uint8Array(exports.m.buffer)
  const sum = exports.sum
  /** The words of `mem[from, from + n)`, zero-padded to a multiple of 32, as a big-endian sum. */
  const sumHere = (from: number, n: number): number => {
    const end = from + ((n + 31) & ~31)
    mem.fill(0, from + n, end)
    let t = sum(from, end) >>> 0
    t = (t & 0xffff) + (t >>> 16)
    t = (t & 0xffff) + (t >>> 16)
    // Little-endian words summed: swap once to the big-endian sum.
    return ((t & 0xff) << 8) | (t >>> 8)
  }
  return (buf, start, end, acc = 0) => {
    if (end - start < SIMD_MIN_BYTES) return sum16(buf, start, end, acc)
    // A frame fits whole: copied as it is (no view of the range to make), summed from `start`.
    if (buf.length <= PIECE_BYTES) {
      mem.set(buf, 0)
      return acc + sumHere(start, end - start)
    }
    let s = acc
    for (let from = start; from < end; from += PIECE_BYTES) {
      const n = Math.min(PIECE_BYTES, end - from)
      mem.set(buf.subarray(from, from + n), 0)
      s += sumHere(0, n)
    }
    return s
  }
}
