/** TCP segments from a test guest, and the stack's TCP segments parsed (hostfwd and guestfwd tests). */
import { SYN, TCP_CHECKSUM_OFFSET, emitTcpHeader, parseTcp, tcpChecksum } from "../../../src/protocol/tcp/wire.ts"
import { put16 } from "../../../src/protocol/wire/bytes.ts"
import type { Ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { GW_MAC, decode, ether, ipv4Packet } from "./frames.ts"

export const tcpFrame = (src: Ipv4, dst: Ipv4, sport: number, dport: number, seq: number, ack: number, flags: number, payload = new Uint8Array(0), dstMac = GW_MAC) => {
  const h = emitTcpHeader({ srcPort: sport, dstPort: dport, seq, ack, flags, window: 65535, ...((flags & SYN) !== 0 ? { mss: 1460 } : {}) })
  const seg = new Uint8Array(h.length + payload.length)
  seg.set(h)
  seg.set(payload, h.length)
  put16(seg, TCP_CHECKSUM_OFFSET, tcpChecksum(seg, src, dst))
  return ether(dstMac, 0x0800, ipv4Packet(src, dst, 6, seg))
}

/** The TCP segments among `frames`, parsed. */
export const segments = (frames: ReadonlyArray<Uint8Array>) =>
  frames.flatMap((f) => {
    const d = decode(f)
    if (d.ip?.protocol !== 6) return []
    const p = parseTcp(d.ip.payload, d.ip.src, d.ip.dst)
    if (!p.ok) throw new Error(p.reason)
    return [{ src: d.ip.src, dst: d.ip.dst, tcp: p.tcp, payload: d.ip.payload.subarray(p.tcp.headerLength) }]
  })

