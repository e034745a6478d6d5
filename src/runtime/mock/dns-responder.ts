/**
 * A tiny authoritative DNS answerer for scripted hosts in tests: A queries for the names it
 * knows get one A record (TTL 60), anything else NXDOMAIN. Not a general DNS codec: the
 * stack's own DNS code lives in `src/protocol/dns`; this only needs to be obviously right.
 */
import { parseIpv4 } from "../../protocol/wire/ipv4-address.ts"

/** Parses the question name at offset 12; returns [name, offset after the name] or undefined. */
const readQuestionName = (q: Uint8Array): [string, number] | undefined => {
  const labels: Array<string> = []
  let off = 12
  for (;;) {
    const len = q[off]
    if (len === undefined || len > 63) return undefined
    off++
    if (len === 0) break
    if (off + len > q.length) return undefined
    labels.push(String.fromCharCode(...q.subarray(off, off + len)))
    off += len
  }
  return [labels.join(".").toLowerCase(), off]
}

/** The answer to `query`, or undefined if it is not a one-question query. */
export const answerDns = (query: Uint8Array, records: ReadonlyMap<string, string>): Uint8Array | undefined => {
  if (query.length < 12 || (query[2]! & 0x80) !== 0) return undefined
  const qdcount = (query[4]! << 8) | query[5]!
  if (qdcount !== 1) return undefined
  const parsed = readQuestionName(query)
  if (parsed === undefined) return undefined
  const [name, nameEnd] = parsed
  const questionEnd = nameEnd + 4
  if (questionEnd > query.length) return undefined
  const qtype = (query[nameEnd]! << 8) | query[nameEnd + 1]!
  const address = records.get(name)
  const a = address === undefined ? undefined : parseIpv4(address)
  const answer = qtype === 1 && a !== undefined
  const out = new Uint8Array(questionEnd + (answer ? 16 : 0))
  out.set(query.subarray(0, questionEnd), 0)
  out[2] = 0x84 | (query[2]! & 0x01) // QR, AA, keep RD
  out[3] = 0x80 | (address === undefined ? 3 : 0) // RA; NXDOMAIN for unknown names
  out[6] = 0
  out[7] = answer ? 1 : 0
  out.fill(0, 8, 12) // no authority / additional records
  if (answer) {
    const o = questionEnd
    out.set([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4], o)
    out[o + 12] = a >>> 24
    out[o + 13] = (a >>> 16) & 0xff
    out[o + 14] = (a >>> 8) & 0xff
    out[o + 15] = a & 0xff
  }
  return out
}

