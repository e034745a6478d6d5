/**
 * Domain names on the wire (RFC 1035 §3.1, §4.1.4), the one place where names are encoded and
 * decoded: DNS messages use it, and so does DHCP option 119 (RFC 3397), whose search list is a
 * sequence of names compressed against each other.
 *
 * Decoding never throws and cannot loop: a compression pointer must point strictly before the
 * pointer itself, so every jump moves backwards, and the decoded name is bounded by 255 octets.
 * Encoding refuses (returns undefined) names that break the RFC 1035 limits: labels of 1..63
 * octets, 255 octets in all.
 */

/** RFC 1035 §2.3.4. */
export const DNS_MAX_NAME = 255
export const DNS_MAX_LABEL = 63
const POINTER = 0xc0
/** A pointer holds a 14-bit offset. */
const MAX_POINTER_TARGET = 0x3fff

/** Splits a presentation name ("eng.apple.com", trailing dot optional) into label bytes. */
const labelsOf = (name: string): ReadonlyArray<Uint8Array> | undefined => {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name
  if (trimmed === "") return []
  const labels: Array<Uint8Array> = []
  for (const part of trimmed.split(".")) {
    const bytes = new TextEncoder().encode(part)
    if (bytes.length === 0 || bytes.length > DNS_MAX_LABEL) return undefined
    labels.push(bytes)
  }
  return labels
}

const wireLength = (labels: ReadonlyArray<Uint8Array>): number => labels.reduce((n, l) => n + 1 + l.length, 1)

/** Uncompressed wire form of one name, or undefined if a label is empty/too long or the name exceeds 255 octets. */
export const encodeDnsName = (name: string): Uint8Array | undefined => {
  const labels = labelsOf(name)
  if (labels === undefined || wireLength(labels) > DNS_MAX_NAME) return undefined
  const out = new Uint8Array(wireLength(labels))
  let o = 0
  for (const l of labels) {
    out[o++] = l.length
    out.set(l, o)
    o += l.length
  }
  out[o] = 0
  return out
}

/** Case-insensitive key of a label suffix, for finding compression targets (RFC 1035 §2.3.3). */
const suffixKey = (labels: ReadonlyArray<Uint8Array>, from: number): string =>
  labels
    .slice(from)
    .map((l) => Array.from(l, (c) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c).toString(16).padStart(2, "0")).join(""))
    .join(".")

/**
 * A list of names, each compressed against the names before it (RFC 1035 §4.1.4): the form of
 * DHCP option 119 (RFC 3397 §2). Offsets are relative to the start of the returned bytes,
 * which is what RFC 3397 asks for (the concatenated option data). Undefined if any name is invalid.
 */
export const encodeDomainSearch = (names: ReadonlyArray<string>): Uint8Array | undefined => {
  const out: Array<number> = []
  const seen = new Map<string, number>()
  for (const name of names) {
    const labels = labelsOf(name)
    if (labels === undefined || wireLength(labels) > DNS_MAX_NAME) return undefined
    let i = 0
    for (; i < labels.length; i++) {
      const key = suffixKey(labels, i)
      const at = seen.get(key)
      if (at !== undefined) {
        out.push(POINTER | (at >> 8), at & 0xff)
        break
      }
      if (out.length <= MAX_POINTER_TARGET) seen.set(key, out.length)
      const l = labels[i]!
      out.push(l.length, ...l)
    }
    if (i === labels.length) out.push(0)
  }
  return new Uint8Array(out)
}

/** One octet of a label in presentation form: printable ASCII as is, '.' and '\' escaped, the rest as \DDD. */
const presentOctet = (c: number): string =>
  c === 0x2e || c === 0x5c ? `\\${String.fromCharCode(c)}` : c > 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\${c.toString().padStart(3, "0")}`

export interface DnsNameRead {
  /** Presentation form without the trailing dot; the root is "". Unusual octets are escaped like dig does. */
  readonly name: string
  /** Offset just after the name where it started (after the first pointer, if any). */
  readonly next: number
}

/**
 * Reads a possibly compressed name starting at `offset` of `b`. Pointer offsets are relative to
 * the start of `b` (the DNS message, or the concatenated option 119 data). Undefined when the
 * name runs off the end, uses a reserved label type (0x40/0x80), points forward or to itself,
 * or exceeds 255 octets.
 */
export const readDnsName = (b: Uint8Array, offset: number): DnsNameRead | undefined => {
  let p = offset
  let next = -1
  let length = 1
  const parts: Array<string> = []
  for (;;) {
    if (p >= b.length) return undefined
    const len = b[p]!
    if (len === 0) {
      return { name: parts.join("."), next: next === -1 ? p + 1 : next }
    }
    const kind = len & POINTER
    if (kind === POINTER) {
      if (p + 1 >= b.length) return undefined
      const target = ((len & 0x3f) << 8) | b[p + 1]!
      // Strictly backwards: every jump lowers p, so decoding ends in at most b.length jumps.
      if (target >= p) return undefined
      if (next === -1) next = p + 2
      p = target
      continue
    }
    if (kind !== 0) return undefined
    length += 1 + len
    if (length > DNS_MAX_NAME || p + 1 + len > b.length) return undefined
    let s = ""
    for (let i = p + 1; i <= p + len; i++) s += presentOctet(b[i]!)
    parts.push(s)
    p += 1 + len
  }
}

/** Decodes a whole RFC 3397 search list (option 119 data, already concatenated per RFC 3396). */
export const decodeDomainSearch = (data: Uint8Array): ReadonlyArray<string> | undefined => {
  const names: Array<string> = []
  let o = 0
  while (o < data.length) {
    const r = readDnsName(data, o)
    if (r === undefined) return undefined
    names.push(r.name)
    o = r.next
  }
  return names
}
