/**
 * Ethernet II framing. Contract: `parseEthernet` never throws and never copies; it returns
 * undefined for frames too short to carry a header. 802.1Q-tagged frames are reported with
 * their tag's ethertype so the caller can drop them (the virtual network has no VLANs).
 */
import { get16, put16 } from "../wire/bytes.ts"

export const ETH_HEADER_LEN = 14
/** The minimum frame without FCS: shorter frames are padded (libslirp does the same since 4.8). */
export const ETH_MIN_FRAME = 60

export const ETHERTYPE_IPV4 = 0x0800
export const ETHERTYPE_ARP = 0x0806
export const ETHERTYPE_VLAN = 0x8100
export const ETHERTYPE_IPV6 = 0x86dd

export interface EthernetView {
  readonly frame: Uint8Array
  readonly ethertype: number
  /** Offset of the payload in `frame` (always 14 here). */
  readonly payloadOffset: number
}

export const parseEthernet = (frame: Uint8Array): EthernetView | undefined =>
  frame.length < ETH_HEADER_LEN ? undefined : { frame, ethertype: get16(frame, 12), payloadOffset: ETH_HEADER_LEN }

/** Writes destination, source and ethertype at the start of `frame`. */
export const writeEthernetHeader = (frame: Uint8Array, dst: Uint8Array, src: Uint8Array, ethertype: number): void => {
  // Byte by byte: two 6-byte `subarray` + `set` pairs cost two views per frame (~4x slower).
  for (let i = 0; i < 6; i++) {
    frame[i] = dst[i]!
    frame[6 + i] = src[i]!
  }
  put16(frame, 12, ethertype)
}

/** Is the destination MAC the broadcast address, or a multicast group (I/G bit)? */
export const isGroupMac = (frame: Uint8Array, off = 0): boolean => (frame[off]! & 1) === 1
