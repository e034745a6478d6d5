/**
 * The referential-transparency harness (DESIGN.md §3): a reducer never writes to the state it
 * was given, and the same (state, event) always gives equal results.
 *
 * `checkedReduce(reduce, s, e)` deep-freezes `s` (any write to an object or array reachable from
 * it throws; Maps and Sets get throwing mutators), fingerprints the bytes of every typed array
 * reachable from it (those cannot be frozen), reduces twice, and fails when the two results
 * differ anywhere or when a byte of a state it was given changed. It returns the first result,
 * so a test drives its reducer through this function and changes nothing else.
 *
 * What each call costs, and why that is no weaker than walking everything every call:
 * - Freezing stops at objects this module already deep-froze (a WeakSet of them): persistent
 *   states share unchanged subtrees with the states before them, so a call freezes only the
 *   nodes that are new since the last one. (Not at any `Object.isFrozen` object: src freezes
 *   some constants shallowly, which says nothing about what they hold.)
 * - A typed array (or ArrayBuffer) is fingerprinted once, when the freezing walk first meets it
 *   (a WeakMap array -> fingerprint). Its bytes are re-verified in bulk by `verifyBytes()`: after
 *   a call once the bytes first seen since the last check reach half of all bytes held (so
 *   re-hashing costs a constant factor of first sight, not the state's size per call), at the
 *   end of every test (test/support/referential-setup.ts) and at the end of each simulation run.
 *   A write into any array of any state passed in since the test or run began (the input of
 *   this call or an older one) is caught at the next check; REFERENTIAL_STRICT=1 checks after
 *   every call, to name the call. When a test or run ends the harness forgets what it saw (its
 *   states are dropped); what a later call reaches again is walked and fingerprinted afresh
 *   before that call, as the first call of a test does.
 * - The two results of one call share every subtree they took unchanged from the input, so the
 *   deep comparison stops at identical references (a === b) and walks only what was rebuilt.
 */

let frozenHere = new WeakSet<object>()

const throwingMutator = (what: string) => () => {
  throw new TypeError(`referential: ${what} on a Map or Set of a state passed to a reducer`)
}

const isView = (x: object): x is ArrayBufferView => ArrayBuffer.isView(x)

/** A typed array's or ArrayBuffer's bytes as one Uint8Array over the same memory. */
const bytesOf = (x: ArrayBufferView | ArrayBuffer): Uint8Array =>
  x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength)

/**
 * FNV-1a style hash of the bytes: byte by byte up to 4-byte alignment and at the tail, and in
 * between on 32-bit words in four independent lanes (four multiplications in flight instead of
 * one chain), folded at the end. Any single changed byte changes its word and so its lane.
 */
const fingerprint = (b: Uint8Array): number => {
  hashedBytes += b.length
  let h = 0x811c9dc5
  let i = 0
  const head = Math.min(b.length, (4 - (b.byteOffset & 3)) & 3)
  for (; i < head; i++) h = Math.imul(h ^ b[i]!, 0x01000193)
  const words = (b.length - i) >>> 2
  if (words > 0) {
    const w = new Int32Array(b.buffer, b.byteOffset + i, words)
    let h1 = h ^ 0x1b873593
    let h2 = h ^ 0x5bd1e995
    let h3 = h ^ 0x27d4eb2f
    let k = 0
    for (; k + 4 <= words; k += 4) {
      h = Math.imul(h ^ w[k]!, 0x01000193)
      h1 = Math.imul(h1 ^ w[k + 1]!, 0x01000193)
      h2 = Math.imul(h2 ^ w[k + 2]!, 0x01000193)
      h3 = Math.imul(h3 ^ w[k + 3]!, 0x01000193)
    }
    for (; k < words; k++) h = Math.imul(h ^ w[k]!, 0x01000193)
    h = Math.imul(Math.imul(Math.imul(h ^ h1, 0x01000193) ^ h2, 0x01000193) ^ h3, 0x01000193)
    i += words * 4
  }
  for (; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193)
  return h >>> 0
}

/** One fingerprinted array awaiting bulk verification (held until `verifyBytes({ release: true })`). */
interface Watched {
  readonly bytes: Uint8Array
  readonly fp: number
  /** The `checkedReduce` call whose input first held it (1-based), for the error message. */
  readonly call: number
}

let fingerprinted = new WeakMap<object, number>()
let watched: Array<Watched> = []
let watchedBytes = 0
let bytesSinceCheck = 0
let calls = 0
let checks = 0
let hashedBytes = 0

/** `strict`: check every array's bytes after every call (REFERENTIAL_STRICT=1, or set by a test). */
export const referentialOptions: { strict: boolean } = {
  strict: typeof process !== "undefined" && process.env?.["REFERENTIAL_STRICT"] === "1",
}

const watch = (x: ArrayBufferView | ArrayBuffer): void => {
  if (fingerprinted.has(x)) return
  const bytes = bytesOf(x)
  const fp = fingerprint(bytes)
  fingerprinted.set(x, fp)
  watched.push({ bytes, fp, call: calls + 1 })
  watchedBytes += bytes.length
  bytesSinceCheck += bytes.length
}

/** Replaces a Map's or Set's mutator by one that throws (unless done before: see `forgetWatched`). */
const guard = (o: Map<unknown, unknown> | Set<unknown>, m: string): void => {
  if (Object.getOwnPropertyDescriptor(o, m) === undefined) Object.defineProperty(o, m, { value: throwingMutator(m) })
}

/**
 * Freezes `x` and everything reachable from it, except what this module froze before (already
 * frozen all the way down); typed arrays and ArrayBuffers, which cannot be frozen, are
 * fingerprinted instead, each once.
 */
export const deepFreeze = (x: unknown): void => {
  const stack: Array<unknown> = [x]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v === null || (typeof v !== "object" && typeof v !== "function")) continue
    const o = v as object
    if (frozenHere.has(o)) continue
    if (isView(o) || o instanceof ArrayBuffer) {
      watch(o)
      continue
    }
    frozenHere.add(o)
    if (o instanceof Map) {
      for (const [k, val] of o) stack.push(k, val)
      for (const m of ["set", "delete", "clear"]) guard(o, m)
    } else if (o instanceof Set) {
      for (const val of o) stack.push(val)
      for (const m of ["add", "delete", "clear"]) guard(o, m)
    } else if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) stack.push(o[i])
    } else {
      // What `structuredClone` copies (own enumerable string keys; the comparison below looks at
      // the same), in one call rather than a descriptor per key. The object is frozen whole
      // below; only what a symbol, non-enumerable or non-index array key holds is not walked,
      // and states, being plain data, keep nothing there.
      for (const val of Object.values(o)) stack.push(val)
    }
    Object.freeze(o)
  }
}

/** Thrown when a reducer is not referentially transparent; the message says where. */
export class NotReferentiallyTransparent extends Error {
  override readonly name = "NotReferentiallyTransparent"
}

const changed = (w: Watched): boolean => fingerprint(w.bytes) !== w.fp

const written = (w: Watched): NotReferentiallyTransparent =>
  new NotReferentiallyTransparent(
    `a reducer wrote into bytes of a state it was given (${w.bytes.length} bytes first held by the input of checked call ${w.call}, ` +
      `found changed at check ${checks} after call ${calls}; REFERENTIAL_STRICT=1 checks after every call to name the call)`,
  )

/**
 * Re-fingerprints every array of every state passed to `checkedReduce` since the last release
 * and throws `NotReferentiallyTransparent` if one changed. With `release` (a test or a run is
 * over, its states dropped), the harness then forgets what it saw (`forgetWatched`), so memory
 * does not grow across runs: whatever a later call reaches again is walked and fingerprinted
 * afresh before that call, so a write into it during a call is still caught.
 */
export const verifyBytes = (opts: { readonly release?: boolean } = {}): void => {
  checks++
  bytesSinceCheck = 0
  for (const w of watched) if (changed(w)) throw written(w)
  if (opts.release === true) forgetWatched()
}

/** Equal bytes, by the host's memcmp where there is one (Node's Buffer): frames are compared whole. */
const sameBytes = (x: Uint8Array, y: Uint8Array): boolean => {
  const B = (globalThis as { Buffer?: typeof Buffer }).Buffer
  if (B !== undefined) return B.from(x.buffer, x.byteOffset, x.byteLength).equals(B.from(y.buffer, y.byteOffset, y.byteLength))
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  return true
}

/**
 * Deep structural equality for plain data: identical references are equal without looking
 * inside (the two results of one call share what they took unchanged from the input);
 * primitives by `Object.is` (NaN equals NaN), arrays and plain objects by their own enumerable
 * keys, typed arrays by bytes, Maps and Sets by their entries in order. Functions are never
 * equal to anything (states and effects are plain data). Returns the path of the first
 * difference, or undefined when equal.
 */
export const firstDifference = (a: unknown, b: unknown, path = "$"): string | undefined => {
  const d = diff(a, b, new Map(), 0)
  return d === undefined ? undefined : `${path}${d.at.reverse().join("")}: ${d.what}`
}

/** A difference: what differs, and the path to it, innermost segment first (built only on the way out). */
interface Found {
  readonly at: Array<string>
  readonly what: string
}
const found = (what: string): Found => ({ at: [], what })
const under = (d: Found, segment: string): Found => (d.at.push(segment), d)

/**
 * Pairs already compared are remembered only below depth 32: shallower, states are trees whose
 * shared parts are caught by identity, and a Map operation per object would cost more than the
 * comparison; deeper, the memo ends cycles (and repeated walks of one shared subtree).
 */
const MEMO_DEPTH = 32

const diff = (a: unknown, b: unknown, seen: Map<object, object>, depth: number): Found | undefined => {
  if (Object.is(a, b)) return undefined
  if (typeof a === "function" || typeof b === "function") return found("a function (states and effects must be plain data)")
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return found(`${String(a)} vs ${String(b)}`)
  if (depth > MEMO_DEPTH) {
    if (seen.get(a) === b) return undefined
    seen.set(a, b)
  }
  if (isView(a) || isView(b)) {
    if (!isView(a) || !isView(b) || a.constructor !== b.constructor) return found("typed array vs other")
    if (a.byteLength !== b.byteLength) return found(`${a.byteLength} bytes vs ${b.byteLength}`)
    const x = bytesOf(a)
    const y = bytesOf(b)
    if (sameBytes(x, y)) return undefined
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return under(found(`${x[i]} vs ${y[i]}`), `[byte ${i}]`)
    return undefined
  }
  if (a instanceof Map || b instanceof Map || a instanceof Set || b instanceof Set) {
    if (a.constructor !== b.constructor) return found(`${a.constructor.name} vs ${b.constructor.name}`)
    const ea = [...(a as Map<unknown, unknown> | Set<unknown>).entries()]
    const eb = [...(b as Map<unknown, unknown> | Set<unknown>).entries()]
    if (ea.length !== eb.length) return found(`${ea.length} entries vs ${eb.length}`)
    for (let i = 0; i < ea.length; i++) {
      const d = diff(ea[i], eb[i], seen, depth + 1)
      if (d !== undefined) return under(d, `.entry(${i})`)
    }
    return undefined
  }
  if (Array.isArray(a) !== Array.isArray(b)) return found("array vs object")
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return found("different prototypes")
  if (Array.isArray(a)) {
    const y = b as Array<unknown>
    if (a.length !== y.length) return found(`${a.length} elements vs ${y.length}`)
    for (let i = 0; i < a.length; i++) {
      const d = diff(a[i], y[i], seen, depth + 1)
      if (d !== undefined) return under(d, `.${i}`)
    }
    return undefined
  }
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return found(`keys [${ka.join(",")}] vs [${kb.join(",")}]`)
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return found(`key ${k} missing on one side`)
    const d = diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], seen, depth + 1)
    if (d !== undefined) return under(d, `.${k}`)
  }
  return undefined
}

/**
 * Reduces `e` twice on the frozen state `s` and checks the two results are equal; the bytes of
 * `s` (and of every earlier input) are verified in bulk as the header says. Returns the first
 * result.
 */
export const checkedReduce = <S, E, R>(reduce: (s: S, e: E) => R, s: S, e: E): R => {
  deepFreeze(s)
  calls++
  const r1 = reduce(s, e)
  const r2 = reduce(s, e)
  const d = firstDifference(r1, r2)
  if (d !== undefined) throw new NotReferentiallyTransparent(`the same (state, event) gave different results: ${d}`)
  // Amortized: a full check once the new bytes reach half of those held, so over a run each
  // byte is re-hashed a bounded number of times (about 3) however many calls see it.
  if (referentialOptions.strict || bytesSinceCheck * 2 >= watchedBytes) verifyBytes()
  return r1
}

/** `reduce` wrapped with `checkedReduce`, for harnesses that take a reducer. */
export const checked = <S, E, R>(reduce: (s: S, e: E) => R): ((s: S, e: E) => R) => (s, e) => checkedReduce(reduce, s, e)

/**
 * Forgets every fingerprint and which objects were frozen (they stay frozen; the next call walks
 * and fingerprints them afresh): at a release, and in the harness's own tests after a violation
 * they provoked on purpose (otherwise the check after the test would report it again).
 */
export function forgetWatched(): void {
  frozenHere = new WeakSet<object>()
  fingerprinted = new WeakMap<object, number>()
  watched = []
  watchedBytes = 0
  bytesSinceCheck = 0
}

/** How much the harness has done in this process (for tests of it and for the bench). */
export const harnessCounters = (): { readonly calls: number; readonly checks: number; readonly watchedBytes: number; readonly hashedBytes: number } => ({
  calls,
  checks,
  watchedBytes,
  hashedBytes,
})
