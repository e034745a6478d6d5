/**
 * The referential-transparency harness (DESIGN.md §3): a reducer never writes to the state it
 * was given, and the same (state, event) always gives equal results.
 *
 * `checkedReduce(reduce, s, e)` deep-freezes `s` (any write to an object or array reachable from
 * it throws; Maps and Sets get throwing mutators), fingerprints the bytes of every typed array
 * reachable from it (those cannot be frozen), reduces twice, and fails when the two results
 * differ anywhere or when a byte of the input changed. It returns the first result, so a test
 * drives its reducer through this function and changes nothing else.
 *
 * Cost: freezing is incremental (objects frozen here are remembered and not walked again); the
 * byte fingerprints and the comparison walk the whole input and both results, every call.
 */

const frozenHere = new WeakSet<object>()

const throwingMutator = (what: string) => () => {
  throw new TypeError(`referential: ${what} on a Map or Set of a state passed to a reducer`)
}

const isView = (x: object): x is ArrayBufferView => ArrayBuffer.isView(x)

/** Freezes `x` and everything reachable from it; typed arrays are left to the fingerprints. */
export const deepFreeze = (x: unknown): void => {
  const stack: Array<unknown> = [x]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v === null || (typeof v !== "object" && typeof v !== "function")) continue
    const o = v as object
    if (frozenHere.has(o) || isView(o) || o instanceof ArrayBuffer) continue
    frozenHere.add(o)
    if (o instanceof Map) {
      for (const [k, val] of o) stack.push(k, val)
      for (const m of ["set", "delete", "clear"]) Object.defineProperty(o, m, { value: throwingMutator(m) })
    } else if (o instanceof Set) {
      for (const val of o) stack.push(val)
      for (const m of ["add", "delete", "clear"]) Object.defineProperty(o, m, { value: throwingMutator(m) })
    } else {
      for (const k of Reflect.ownKeys(o)) {
        const d = Object.getOwnPropertyDescriptor(o, k)
        if (d !== undefined && "value" in d) stack.push(d.value)
      }
    }
    Object.freeze(o)
  }
}

/** FNV-1a over the bytes of a view. */
const fingerprint = (v: ArrayBufferView): number => {
  const b = new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
  let h = 0x811c9dc5
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193)
  return h >>> 0
}

/** Every typed array reachable from `x` (each once). */
const viewsOf = (x: unknown): Array<ArrayBufferView> => {
  const out: Array<ArrayBufferView> = []
  const seen = new Set<object>()
  const stack: Array<unknown> = [x]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v === null || typeof v !== "object") continue
    if (seen.has(v)) continue
    seen.add(v)
    if (isView(v)) out.push(v)
    else if (v instanceof Map) for (const [k, val] of v) stack.push(k, val)
    else if (v instanceof Set) for (const val of v) stack.push(val)
    else for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k])
  }
  return out
}

/**
 * Deep structural equality for plain data: primitives by `Object.is` (NaN equals NaN), arrays
 * and plain objects by their own enumerable keys, typed arrays by bytes, Maps and Sets by their
 * entries in order. Functions are never equal to anything (states and effects are plain data).
 * Returns the path of the first difference, or undefined when equal.
 */
export const firstDifference = (a: unknown, b: unknown, path = "$", seen = new Map<object, object>()): string | undefined => {
  if (Object.is(a, b)) return undefined
  if (typeof a === "function" || typeof b === "function") return `${path}: a function (states and effects must be plain data)`
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return `${path}: ${String(a)} vs ${String(b)}`
  if (seen.get(a) === b) return undefined
  seen.set(a, b)
  if (isView(a) || isView(b)) {
    if (!isView(a) || !isView(b) || a.constructor !== b.constructor) return `${path}: typed array vs other`
    if (a.byteLength !== b.byteLength) return `${path}: ${a.byteLength} bytes vs ${b.byteLength}`
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `${path}[byte ${i}]: ${x[i]} vs ${y[i]}`
    return undefined
  }
  if (a instanceof Map || b instanceof Map || a instanceof Set || b instanceof Set) {
    if (a.constructor !== b.constructor) return `${path}: ${a.constructor.name} vs ${b.constructor.name}`
    const ea = [...(a as Map<unknown, unknown> | Set<unknown>).entries()]
    const eb = [...(b as Map<unknown, unknown> | Set<unknown>).entries()]
    if (ea.length !== eb.length) return `${path}: ${ea.length} entries vs ${eb.length}`
    for (let i = 0; i < ea.length; i++) {
      const d = firstDifference(ea[i], eb[i], `${path}.entry(${i})`, seen)
      if (d !== undefined) return d
    }
    return undefined
  }
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs object`
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return `${path}: different prototypes`
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return `${path}: keys [${ka.join(",")}] vs [${kb.join(",")}]`
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return `${path}: key ${k} missing on one side`
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, seen)
    if (d !== undefined) return d
  }
  return undefined
}

/** Thrown when a reducer is not referentially transparent; the message says where. */
export class NotReferentiallyTransparent extends Error {
  override readonly name = "NotReferentiallyTransparent"
}

/**
 * Reduces `e` twice on the frozen state `s` and checks the two results are equal and that `s`'s
 * bytes did not change. Returns the first result.
 */
export const checkedReduce = <S, E, R>(reduce: (s: S, e: E) => R, s: S, e: E): R => {
  const views = viewsOf(s)
  const before = views.map(fingerprint)
  deepFreeze(s)
  const r1 = reduce(s, e)
  const r2 = reduce(s, e)
  for (let i = 0; i < views.length; i++) {
    if (fingerprint(views[i]!) !== before[i]) {
      throw new NotReferentiallyTransparent(`the reducer wrote into bytes of the state it was given (a ${views[i]!.constructor.name} of ${views[i]!.byteLength} bytes)`)
    }
  }
  const d = firstDifference(r1, r2)
  if (d !== undefined) throw new NotReferentiallyTransparent(`the same (state, event) gave different results: ${d}`)
  return r1
}

/** `reduce` wrapped with `checkedReduce`, for harnesses that take a reducer. */
export const checked = <S, E, R>(reduce: (s: S, e: E) => R): ((s: S, e: E) => R) => (s, e) => checkedReduce(reduce, s, e)
