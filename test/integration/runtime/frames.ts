/**
 * Test-side frame builders: an independent, obviously-correct way to make the Ethernet/ARP/
 * IPv4/UDP frames a guest sends, and to read the ones it gets back.
 */
import { checksum, finish, sum16, sumWords } from "../../../src/protocol/wire/checksum.ts"

export const GUEST_MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)
export const ip = (s: string): Uint8Array => Uint8Array.from(s.split(".").map(Number))
export const ipText = (b: Uint8Array, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`

export const arpRequest = (senderIp: string, targetIp: string, mac: Uint8Array = GUEST_MAC): Uint8Array => {
  const f = new Uint8Array(42)
  f.fill(0xff, 0, 6)
  f.set(mac, 6)
  f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1], 12)
  f.set(mac, 22)
  f.set(ip(senderIp), 28)
  f.set(ip(targetIp), 38)
  return f
}

export const udpFrame = (o: {
  dstMac: Uint8Array
  src: string
  dst: string
  srcPort: number
  dstPort: number
  payload: Uint8Array
  srcMac?: Uint8Array
}): Uint8Array => {
  const udpLen = 8 + o.payload.length
  const f = new Uint8Array(14 + 20 + udpLen)
  f.set(o.dstMac, 0)
  f.set(o.srcMac ?? GUEST_MAC, 6)
  f.set([0x08, 0x00], 12)
  const i = 14
  f.set([0x45, 0, (20 + udpLen) >> 8, (20 + udpLen) & 0xff, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0], i)
  f.set(ip(o.src), i + 12)
  f.set(ip(o.dst), i + 16)
  const hc = checksum(f, i, i + 20)
  f[i + 10] = hc >> 8
  f[i + 11] = hc & 0xff
  const u = i + 20
  f.set([o.srcPort >> 8, o.srcPort & 0xff, o.dstPort >> 8, o.dstPort & 0xff, udpLen >> 8, udpLen & 0xff, 0, 0], u)
  f.set(o.payload, u + 8)
  const pseudo = sumWords(sum16(f, i + 12, i + 20), 17, udpLen)
  let c = finish(sum16(f, u, u + udpLen, pseudo))
  if (c === 0) c = 0xffff
  f[u + 6] = c >> 8
  f[u + 7] = c & 0xff
  return f
}

export interface UdpSeen {
  readonly src: string
  readonly dst: string
  readonly srcPort: number
  readonly dstPort: number
  readonly payload: Uint8Array
}

/** The UDP datagram in an Ethernet frame, if it is one (no fragments). */
export const readUdp = (f: Uint8Array): UdpSeen | undefined => {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 17) return undefined
  const ihl = (f[14]! & 0x0f) * 4
  const u = 14 + ihl
  const len = (f[u + 4]! << 8) | f[u + 5]!
  return {
    src: ipText(f, 26),
    dst: ipText(f, 30),
    srcPort: (f[u]! << 8) | f[u + 1]!,
    dstPort: (f[u + 2]! << 8) | f[u + 3]!,
    payload: Uint8Array.from(f.subarray(u + 8, u + len)),
  }
}

/** For an ARP reply frame: [sender IP, sender MAC bytes]. */
export const readArpReply = (f: Uint8Array): { ip: string; mac: Uint8Array } | undefined => {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06 || f[21] !== 2) return undefined
  return { ip: ipText(f, 28), mac: f.slice(22, 28) }
}

/** A DNS query for an A record. */
export const dnsQuery = (id: number, name: string): Uint8Array => {
  const labels = name.split(".").flatMap((l) => [l.length, ...Buffer.from(l)])
  return Uint8Array.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1])
}
