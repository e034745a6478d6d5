/**
 * Builds the frames for one IPv4 datagram to the guest (`PacketToGuest`, family 4): one buffer per frame
 * (from the allocator the caller passes: ethernet/frame-buffer.ts),
 * with 14 bytes left at the front for the Ethernet header (the ARP layer fills it), the payload
 * copied exactly once, the transport checksum computed into the new frame over the pseudo header, and
 * fragmentation (RFC 791 §3.2) when the datagram exceeds the link MTU. Frames shorter than the
 * Ethernet minimum are zero-padded to 60 bytes.
 */
import type { Ipv4PacketToGuest } from "../stack/output.ts"
import { put16 } from "../wire/bytes.ts"
import { finish, sum32 } from "../wire/checksum.ts"
import { allocatorSum16, type FrameAllocator, freshFrames } from "../ethernet/frame-buffer.ts"
import { ETH_HEADER_LEN, ETH_MIN_FRAME } from "../ethernet/wire.ts"
import { IPV4_HEADER_LEN, IPV4_MAX_DATAGRAM, PROTO_UDP, writeIpv4Header } from "./wire.ts"

export const DEFAULT_TTL = 64

export type Ipv4Build = { readonly ok: true; readonly frames: ReadonlyArray<Uint8Array> } | { readonly ok: false; readonly reason: string }

const frameOf = (alloc: FrameAllocator, ipLength: number): Uint8Array => alloc.frame(Math.max(ETH_MIN_FRAME, ETH_HEADER_LEN + ipLength))

/** Fills the transport checksum of the transport bytes `buf[start, start+len)`. */
const fillChecksum = (out: Ipv4PacketToGuest, buf: Uint8Array, start: number, len: number, alloc: FrameAllocator): void => {
  if (out.checksumOffset < 0) return
  const pseudo = out.pseudoHeader ? sum32(sum32(out.protocol + len, out.src), out.dst) : 0
  let c = finish(allocatorSum16(alloc, buf, start, start + len, pseudo))
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
  if (c === 0 && out.protocol === PROTO_UDP) c = 0xffff
  put16(buf, start + out.checksumOffset, c)
}

export const buildIpv4Frames = (out: Ipv4PacketToGuest, id: number, mtu: number, alloc: FrameAllocator = freshFrames): Ipv4Build => {
  const headerLen = out.header.length
  const payloadLen = out.payload?.length ?? 0
  const transportLen = headerLen + payloadLen
  const totalLength = IPV4_HEADER_LEN + transportLen
  if (totalLength > IPV4_MAX_DATAGRAM) return { ok: false, reason: `ipv4 output: datagram of ${totalLength} bytes exceeds 65535` }
  const ttl = out.ttl ?? DEFAULT_TTL
  const dontFragment = out.dontFragment ?? false

  if (totalLength <= mtu) {
    const f = frameOf(alloc, totalLength)
    const t = ETH_HEADER_LEN + IPV4_HEADER_LEN
    f.set(out.header, t)
    if (out.payload !== undefined) f.set(out.payload, t + headerLen)
    fillChecksum(out, f, t, transportLen, alloc)
    writeIpv4Header(f, ETH_HEADER_LEN, { totalLength, id, dontFragment, moreFragments: false, fragmentOffset: 0, ttl, protocol: out.protocol, src: out.src, dst: out.dst })
    return { ok: true, frames: [f] }
  }
  if (dontFragment) return { ok: false, reason: `ipv4 output: ${totalLength}-byte datagram with DF exceeds MTU ${mtu}` }

  // Rare path (large UDP datagrams from the host): assemble the transport bytes once, then cut.
  const whole = new Uint8Array(transportLen)
  whole.set(out.header, 0)
  if (out.payload !== undefined) whole.set(out.payload, headerLen)
  fillChecksum(out, whole, 0, transportLen, alloc)
  const step = (mtu - IPV4_HEADER_LEN) & ~7
  if (step <= 0) return { ok: false, reason: `ipv4 output: MTU ${mtu} too small to fragment` }
  const frames: Array<Uint8Array> = []
  for (let off = 0; off < transportLen; off += step) {
    const len = Math.min(step, transportLen - off)
    const f = frameOf(alloc, IPV4_HEADER_LEN + len)
    f.set(whole.subarray(off, off + len), ETH_HEADER_LEN + IPV4_HEADER_LEN)
    writeIpv4Header(f, ETH_HEADER_LEN, {
      totalLength: IPV4_HEADER_LEN + len,
      id,
      dontFragment: false,
      moreFragments: off + len < transportLen,
      fragmentOffset: off,
      ttl,
      protocol: out.protocol,
      src: out.src,
      dst: out.dst,
    })
    frames.push(f)
  }
  return { ok: true, frames }
}
