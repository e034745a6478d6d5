/**
 * What transport layers and local services hand down to the IP layer for the guest.
 * The IP layer builds one frame buffer (Ethernet + IP + `header` + `payload`, payload copied
 * exactly once), fills the transport checksum over the pseudo header if `checksumOffset >= 0`,
 * fragments if the datagram exceeds the MTU, and resolves the guest's MAC through ARP.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { Ipv4 } from "../wire/ipv4-address.ts"
import type { Mac } from "../wire/mac.ts"

export interface Ipv4ToGuest {
  readonly _tag: "Ipv4ToGuest"
  readonly src: Ipv4
  readonly dst: Ipv4
  /** IP protocol number (1 ICMP, 6 TCP, 17 UDP). */
  readonly protocol: number
  /** Defaults to 64. */
  readonly ttl?: number
  /** Transport header (or the whole ICMP message), checksum field zero when `checksumOffset >= 0`. */
  readonly header: Uint8Array
  /** Transport payload, a view that is copied once into the frame. */
  readonly payload?: Uint8Array
  /** Offset in `header` of the 16-bit checksum over header + payload to fill in; -1 for none. */
  readonly checksumOffset: number
  /** The checksum also covers the IPv4 pseudo header (TCP, UDP; not ICMP). UDP's 0 is sent as 0xffff. */
  readonly pseudoHeader: boolean
  /** Send to this MAC instead of resolving `dst` (DHCP replies to a client without an address). */
  readonly dstMac?: Mac
  /** IPv4 "don't fragment". */
  readonly dontFragment?: boolean
}

/**
 * An ICMPv4 error about a datagram the guest sent (RFC 792): destination unreachable (type 3)
 * or time exceeded (type 11). The ICMP layer builds the message: `original` is the guest's IP
 * header plus at least the first 8 bytes of its payload (more is trimmed to fit 576 bytes, RFC
 * 1812 §4.3.2.3). `src` is the address the error claims to come from (usually the original
 * destination, or the gateway). `mtu` fills the next-hop MTU field of code 4 (RFC 1191).
 */
export interface IcmpErrorToGuest {
  readonly _tag: "IcmpErrorToGuest"
  readonly src: Ipv4
  readonly type: 3 | 11
  readonly code: number
  readonly original: Uint8Array
  readonly mtu?: number
}

/** A layer's outputs: packets for the guest, or effects for the runtime. */
export type LayerOutput = Ipv4ToGuest | IcmpErrorToGuest | StackEffect
