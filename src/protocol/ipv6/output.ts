/**
 * Builds the frames for one IPv6 datagram to the guest (`PacketToGuest`, family 6): one buffer
 * per frame from the caller's allocator, 14 bytes left at the front for the Ethernet header
 * (neighbour discovery fills it), the payload copied exactly once, and the transport checksum
 * computed into the frame just built, over the IPv6 pseudo header (RFC 8200 §8.1: mandatory for UDP too, so a
 * computed zero is sent as 0xffff).
 *
 * A datagram larger than the link MTU is fragmented here, as its source (RFC 8200 §4.5: only
 * the source fragments, never a router): we are the source of every datagram we send the guest
 * (replies of our own, and the host's data rewritten as coming from the virtual network).
 * Fragments carry a Fragment header with the caller's Identification and data in multiples of
 * 8 bytes. Frames shorter than the Ethernet minimum are zero-padded to 60 bytes.
 */
import type { Ipv6PacketToGuest } from "../stack/output.ts"
import { put16, put32 } from "../wire/bytes.ts"
import { finish, sumIpv6Pseudo } from "../wire/checksum.ts"
import { allocatorSum16, type FrameAllocator, freshFrames } from "../ethernet/frame-buffer.ts"
import { ETH_HEADER_LEN, ETH_MIN_FRAME } from "../ethernet/wire.ts"
import { FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN, NH_FRAGMENT, NH_UDP, writeIpv6Header } from "./wire.ts"

export const DEFAULT_HOP_LIMIT = 64
/** The largest payload a (non-jumbo) IPv6 datagram can carry. */
export const IPV6_MAX_PAYLOAD = 65535

export type Ipv6Build = { readonly ok: true; readonly frames: ReadonlyArray<Uint8Array> } | { readonly ok: false; readonly reason: string }

const frameOf = (alloc: FrameAllocator, ipLength: number): Uint8Array => alloc.frame(Math.max(ETH_MIN_FRAME, ETH_HEADER_LEN + ipLength))

const fillChecksum = (out: Ipv6PacketToGuest, buf: Uint8Array, start: number, len: number, alloc: FrameAllocator): void => {
  if (out.checksumOffset < 0) return
  put16(buf, start + out.checksumOffset, 0)
  let c = finish(allocatorSum16(alloc, buf, start, start + len, sumIpv6Pseudo(0, out.src, 0, out.dst, 0, len, out.protocol)))
  if (c === 0 && out.protocol === NH_UDP) c = 0xffff
  put16(buf, start + out.checksumOffset, c)
}

export const buildIpv6Frames = (out: Ipv6PacketToGuest, id: number, mtu: number, alloc: FrameAllocator = freshFrames): Ipv6Build => {
  const headerLen = out.header.length
  const transportLen = headerLen + (out.payload?.length ?? 0)
  if (transportLen > IPV6_MAX_PAYLOAD) return { ok: false, reason: `ipv6 output: payload of ${transportLen} bytes exceeds 65535` }
  const hopLimit = out.ttl ?? DEFAULT_HOP_LIMIT
  if (IPV6_HEADER_LEN + transportLen <= mtu) {
    const f = frameOf(alloc, IPV6_HEADER_LEN + transportLen)
    const t = ETH_HEADER_LEN + IPV6_HEADER_LEN
    f.set(out.header, t)
    if (out.payload !== undefined) f.set(out.payload, t + headerLen)
    fillChecksum(out, f, t, transportLen, alloc)
    writeIpv6Header(f, ETH_HEADER_LEN, { payloadLength: transportLen, nextHeader: out.protocol, hopLimit, src: out.src, dst: out.dst })
    return { ok: true, frames: [f] }
  }
  // Rare path (a large datagram from the host): assemble once, checksum, then cut.
  const whole = new Uint8Array(transportLen)
  whole.set(out.header, 0)
  if (out.payload !== undefined) whole.set(out.payload, headerLen)
  fillChecksum(out, whole, 0, transportLen, alloc)
  const step = (mtu - IPV6_HEADER_LEN - FRAGMENT_HEADER_LEN) & ~7
  if (step <= 0) return { ok: false, reason: `ipv6 output: MTU ${mtu} too small to fragment` }
  const frames: Array<Uint8Array> = []
  for (let off = 0; off < transportLen; off += step) {
    const len = Math.min(step, transportLen - off)
    const f = frameOf(alloc, IPV6_HEADER_LEN + FRAGMENT_HEADER_LEN + len)
    const h = ETH_HEADER_LEN + IPV6_HEADER_LEN
    writeIpv6Header(f, ETH_HEADER_LEN, { payloadLength: FRAGMENT_HEADER_LEN + len, nextHeader: NH_FRAGMENT, hopLimit, src: out.src, dst: out.dst })
    f[h] = out.protocol
    f[h + 1] = 0
    put16(f, h + 2, off | (off + len < transportLen ? 1 : 0))
    put32(f, h + 4, id)
    f.set(whole.subarray(off, off + len), h + FRAGMENT_HEADER_LEN)
    frames.push(f)
  }
  return { ok: true, frames }
}

/**
 * One small IPv6 frame of our own (NDP, echo replies), Ethernet header space at 0: the message
 * is copied in after the fixed header. Used by neighbour discovery, which addresses it itself.
 */
export const ipv6Frame = (src: Uint8Array, dst: Uint8Array, nextHeader: number, hopLimit: number, message: Uint8Array): Uint8Array => {
  const f = new Uint8Array(Math.max(ETH_MIN_FRAME, ETH_HEADER_LEN + IPV6_HEADER_LEN + message.length))
  writeIpv6Header(f, ETH_HEADER_LEN, { payloadLength: message.length, nextHeader, hopLimit, src, dst })
  f.set(message, ETH_HEADER_LEN + IPV6_HEADER_LEN)
  return f
}
