/** Builders of IPv4 fragments for the reassembly tests: real frames, parsed by the real codec. */
import { type Ipv4View, parseIpv4Header, writeIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"

export interface FragmentSpec {
  readonly offset: number
  readonly data: Uint8Array
  readonly more: boolean
  readonly id?: number
  readonly src?: number
  readonly dst?: number
  readonly protocol?: number
  readonly ttl?: number
  readonly tos?: number
  /** Ethernet padding bytes after the datagram. */
  readonly padding?: number
}

export const GUEST = ipv4(10, 0, 2, 15)
export const HOST = ipv4(10, 0, 2, 2)

/** One Ethernet frame carrying the fragment, parsed: what the stack would hand to reassembly. */
export const fragment = (f: FragmentSpec): Ipv4View => {
  const frame = new Uint8Array(14 + 20 + f.data.length + (f.padding ?? 0))
  frame.set(f.data, 34)
  writeIpv4Header(frame, 14, {
    totalLength: 20 + f.data.length,
    id: f.id ?? 0x1234,
    dontFragment: false,
    moreFragments: f.more,
    fragmentOffset: f.offset,
    ttl: f.ttl ?? 64,
    protocol: f.protocol ?? 17,
    src: f.src ?? GUEST,
    dst: f.dst ?? HOST,
    tos: f.tos ?? 0,
  })
  const p = parseIpv4Header(frame, 14)
  if (!p.ok) throw new Error(p.reason)
  return p.ip
}

export const bytesOf = (n: number, seed = 1): Uint8Array => {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff
  return b
}

/** Splits `payload` into fragments of `size` bytes (a multiple of 8) in order. */
export const split = (payload: Uint8Array, size: number, extra: Partial<FragmentSpec> = {}): Array<Ipv4View> => {
  const out: Array<Ipv4View> = []
  for (let off = 0; off < payload.length; off += size) {
    const end = Math.min(payload.length, off + size)
    out.push(fragment({ ...extra, offset: off, data: payload.subarray(off, end), more: end < payload.length }))
  }
  return out
}

