/**
 * A persistent map from 32-bit unsigned integer keys to values: a bitmap-indexed trie over the
 * key's bits, five bits a level (a HAMT whose hash is the key itself, so keys never collide).
 *
 * Why our own and not Effect's HashMap: reducer states must be plain data (DESIGN.md §3), so
 * that `structuredClone` copies a state that still works and a test can compare two states;
 * Effect's HashMap is a class instance whose methods a clone loses. Every node here is a plain
 * object or array.
 *
 * Contract: no function ever writes to a map or node it was given; `set` and `remove` return a
 * new map that shares every untouched node with the old one (a change copies one path: at most
 * seven nodes of at most 32 slots), and the old map stays valid. `set` of a value that is
 * already there (`===`) returns the same map. Keys are integers in [0, 2^32); other numbers are
 * taken modulo 2^32 (`>>> 0`), so callers pass integers. The trie's shape depends only on the
 * set of keys (a leaf sits at the shallowest level no other key shares; removal pulls lone
 * leaves back up), so two maps with equal entries are structurally equal and iterate in the
 * same order, whatever the order of the operations that built them.
 */

export interface IntMapLeaf<V> {
  readonly key: number
  readonly value: V
}

export interface IntMapNode<V> {
  /** Bit i is set when slot i (the key's five bits at this level) is occupied. */
  readonly bitmap: number
  /** Occupied slots in bit order: a leaf, or a node one level down. */
  readonly slots: ReadonlyArray<IntMapLeaf<V> | IntMapNode<V>>
}

export interface IntMap<K extends number, V> {
  readonly size: number
  readonly root: IntMapNode<V>
  /** Phantom: the key type (a branded id, say); never set. */
  readonly _key?: K
}

const BITS = 5
const MASK = 31
const EMPTY_NODE: IntMapNode<never> = { bitmap: 0, slots: [] }

const isLeaf = <V>(x: IntMapLeaf<V> | IntMapNode<V>): x is IntMapLeaf<V> => (x as IntMapLeaf<V>).key !== undefined

const popcount = (x: number): number => {
  x = x - ((x >>> 1) & 0x55555555)
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333)
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24)
}

/** Position of slot `bit` among the occupied slots of `bitmap`. */
const indexOf = (bitmap: number, bit: number): number => popcount(bitmap & (bit - 1))

export const emptyIntMap = <K extends number, V>(): IntMap<K, V> => ({ size: 0, root: EMPTY_NODE })

export const intMapGet = <K extends number, V>(m: IntMap<K, V>, key: K): V | undefined => {
  const k = key >>> 0
  let node: IntMapNode<V> = m.root
  for (let shift = 0; ; shift += BITS) {
    const bit = 1 << ((k >>> shift) & MASK)
    if ((node.bitmap & bit) === 0) return undefined
    const slot = node.slots[indexOf(node.bitmap, bit)]!
    if (isLeaf(slot)) return slot.key === k ? slot.value : undefined
    node = slot
  }
}

export const intMapHas = <K extends number, V>(m: IntMap<K, V>, key: K): boolean => intMapGet(m, key) !== undefined

const withSlot = <V>(slots: ReadonlyArray<IntMapLeaf<V> | IntMapNode<V>>, i: number, x: IntMapLeaf<V> | IntMapNode<V>): Array<IntMapLeaf<V> | IntMapNode<V>> => {
  const copy = slots.slice()
  copy[i] = x
  return copy
}

/** A node holding two leaves whose keys agree below `shift`. */
const pair = <V>(a: IntMapLeaf<V>, b: IntMapLeaf<V>, shift: number): IntMapNode<V> => {
  const ia = (a.key >>> shift) & MASK
  const ib = (b.key >>> shift) & MASK
  if (ia === ib) return { bitmap: 1 << ia, slots: [pair(a, b, shift + BITS)] }
  return ia < ib ? { bitmap: (1 << ia) | (1 << ib), slots: [a, b] } : { bitmap: (1 << ia) | (1 << ib), slots: [b, a] }
}

/** Returns the new node and whether a key was added (not replaced); the same node when unchanged. */
const setIn = <V>(node: IntMapNode<V>, shift: number, leaf: IntMapLeaf<V>): readonly [IntMapNode<V>, boolean] => {
  const bit = 1 << ((leaf.key >>> shift) & MASK)
  const i = indexOf(node.bitmap, bit)
  if ((node.bitmap & bit) === 0) {
    const slots = node.slots.slice()
    slots.splice(i, 0, leaf)
    return [{ bitmap: node.bitmap | bit, slots }, true]
  }
  const slot = node.slots[i]!
  if (isLeaf(slot)) {
    if (slot.key === leaf.key) return slot.value === leaf.value ? [node, false] : [{ bitmap: node.bitmap, slots: withSlot(node.slots, i, leaf) }, false]
    return [{ bitmap: node.bitmap, slots: withSlot(node.slots, i, pair(slot, leaf, shift + BITS)) }, true]
  }
  const [child, added] = setIn(slot, shift + BITS, leaf)
  return child === slot ? [node, false] : [{ bitmap: node.bitmap, slots: withSlot(node.slots, i, child) }, added]
}

export const intMapSet = <K extends number, V>(m: IntMap<K, V>, key: K, value: V): IntMap<K, V> => {
  const [root, added] = setIn(m.root, 0, { key: key >>> 0, value })
  return root === m.root ? m : { size: added ? m.size + 1 : m.size, root }
}

/** The node without `key`; the same node when absent; a lone leaf is pulled up into its parent. */
const removeIn = <V>(node: IntMapNode<V>, shift: number, key: number): IntMapNode<V> | IntMapLeaf<V> | undefined => {
  const bit = 1 << ((key >>> shift) & MASK)
  if ((node.bitmap & bit) === 0) return node
  const i = indexOf(node.bitmap, bit)
  const slot = node.slots[i]!
  let replacement: IntMapNode<V> | IntMapLeaf<V> | undefined
  if (isLeaf(slot)) {
    if (slot.key !== key) return node
    replacement = undefined
  } else {
    replacement = removeIn(slot, shift + BITS, key)
    if (replacement === slot) return node
  }
  if (replacement === undefined) {
    if (node.slots.length === 1) return undefined
    if (node.slots.length === 2 && shift > 0) {
      const other = node.slots[1 - i]!
      if (isLeaf(other)) return other
    }
    const slots = node.slots.slice()
    slots.splice(i, 1)
    return { bitmap: node.bitmap & ~bit, slots }
  }
  // A subtree that shrank to one leaf is replaced by that leaf (keeps paths short).
  if (isLeaf(replacement) && node.slots.length === 1 && shift > 0) return replacement
  return { bitmap: node.bitmap, slots: withSlot(node.slots, i, replacement) }
}

export const intMapRemove = <K extends number, V>(m: IntMap<K, V>, key: K): IntMap<K, V> => {
  const r = removeIn(m.root, 0, key >>> 0)
  if (r === m.root) return m
  // The root is never replaced by a leaf (removeIn pulls leaves up only below the root).
  return { size: m.size - 1, root: r === undefined ? EMPTY_NODE : (r as IntMapNode<V>) }
}

/** Every entry, in the map's deterministic order. */
export function* intMapEntries<K extends number, V>(m: IntMap<K, V>): IterableIterator<readonly [K, V]> {
  const stack: Array<IntMapNode<V>> = [m.root]
  while (stack.length > 0) {
    const node = stack.pop()!
    for (let i = node.slots.length - 1; i >= 0; i--) {
      const s = node.slots[i]!
      if (isLeaf(s)) yield [s.key as K, s.value]
      else stack.push(s)
    }
  }
}

export function* intMapValues<K extends number, V>(m: IntMap<K, V>): IterableIterator<V> {
  for (const [, v] of intMapEntries(m)) yield v
}

export const intMapFromEntries = <K extends number, V>(entries: Iterable<readonly [K, V]>): IntMap<K, V> => {
  let m = emptyIntMap<K, V>()
  for (const [k, v] of entries) m = intMapSet(m, k, v)
  return m
}
