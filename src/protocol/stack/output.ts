/**
 * What transport layers and local services hand down to the IP layer for the guest, the same
 * for every address family: the stack routes a `PacketToGuest` or `ErrorToGuest` to the IP
 * layer of its `family` (ipv4/send.ts or ipv6/send.ts) and passes every other output (an
 * effect for the runtime) through in order.
 *
 * The IP layer builds one frame buffer (Ethernet + IP + `header` + `payload`, payload copied
 * exactly once), fills the transport checksum over the pseudo header if `checksumOffset >= 0`,
 * fragments if the datagram exceeds the MTU, and resolves the guest's MAC through neighbour
 * resolution (ARP for IPv4, NDP for IPv6).
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { HostUnreachableReason } from "../../effects/event.ts"
import type { IpAddress } from "../wire/ip-address.ts"
import type { Ipv4 } from "../wire/ipv4-address.ts"
import type { Ipv6 } from "../wire/ipv6-address.ts"
import type { Mac } from "../wire/mac.ts"

interface PacketFields {
  readonly _tag: "PacketToGuest"
  /** IP protocol number / next header (1 ICMP, 6 TCP, 17 UDP). */
  readonly protocol: number
  /** TTL / hop limit; defaults to 64. */
  readonly ttl?: number
  /** Transport header (or the whole ICMP message), checksum field zero when `checksumOffset >= 0`. */
  readonly header: Uint8Array
  /** Transport payload, a view that is copied once into the frame. */
  readonly payload?: Uint8Array
  /** Offset in `header` of the 16-bit checksum over header + payload to fill in; -1 for none. */
  readonly checksumOffset: number
  /** The checksum also covers the pseudo header (TCP, UDP; not ICMPv4). UDP's 0 is sent as 0xffff. */
  readonly pseudoHeader: boolean
  /** Send to this MAC instead of resolving `dst` (DHCP replies to a client without an address). */
  readonly dstMac?: Mac
  /** IPv4 "don't fragment" (IPv6 never fragments on our side). */
  readonly dontFragment?: boolean
}

/** An IPv4 datagram to the guest. */
export interface Ipv4PacketToGuest extends PacketFields {
  readonly family: 4
  readonly src: Ipv4
  readonly dst: Ipv4
}

/**
 * An IPv6 datagram to the guest (ipv6/send.ts). `ttl` is the hop limit; `dontFragment` has no
 * meaning (IPv6 routers never fragment; we fragment only as the source, RFC 8200 §4.5).
 * Addresses are 16-byte arrays the IP layer copies into the frame.
 */
export interface Ipv6PacketToGuest extends PacketFields {
  readonly family: 6
  readonly src: Ipv6
  readonly dst: Ipv6
}

/** A datagram to the guest, routed by `family` to ipv4/send.ts or ipv6/send.ts. */
export type PacketToGuest = Ipv4PacketToGuest | Ipv6PacketToGuest

/**
 * Why a datagram of the guest's did not get through, as the IP layer of its family reports it
 * (ipv4/send.ts and ipv6/icmp-error.ts map each reason to a type and code).
 */
export type GuestErrorReason = HostUnreachableReason

/**
 * An ICMP error about a datagram the guest sent. `original` is the guest's IP header plus at
 * least the first 8 bytes of its payload (the IP layer trims it to its family's limit). `src`
 * is the address the error claims to come from (usually the original destination, or the
 * gateway). `mtu` is the next-hop MTU of `fragmentation-needed` (RFC 1191). The IP layer sends
 * nothing about a datagram that must not get an error (RFC 1122 §3.2.2).
 */
export interface Ipv4ErrorToGuest {
  readonly _tag: "ErrorToGuest"
  readonly family: 4
  readonly src: Ipv4
  readonly reason: GuestErrorReason
  readonly original: Uint8Array
  readonly mtu?: number
}

/**
 * An ICMPv6 error about a datagram the guest sent (ipv6/icmp-error.ts): `original` is the
 * guest's datagram from its IPv6 header on (trimmed to the minimum MTU by the IP layer); `mtu`
 * is the MTU of Packet Too Big (`fragmentation-needed`). RFC 4443 §2.4 (e) decides what must
 * not get an error.
 */
export interface Ipv6ErrorToGuest {
  readonly _tag: "ErrorToGuest"
  readonly family: 6
  readonly src: Ipv6
  readonly reason: GuestErrorReason
  readonly original: Uint8Array
  readonly mtu?: number
}

export type ErrorToGuest = Ipv4ErrorToGuest | Ipv6ErrorToGuest

/**
 * An ICMP or ICMPv6 error about the guest's datagram `original`, claiming to come from `src`
 * (whose type tells the family): what a layer that carries both families returns.
 */
export const errorToGuest = (src: IpAddress, reason: GuestErrorReason, original: Uint8Array, mtu?: number): ErrorToGuest =>
  typeof src === "number"
    ? { _tag: "ErrorToGuest", family: 4, src, reason, original, ...(mtu === undefined ? {} : { mtu }) }
    : { _tag: "ErrorToGuest", family: 6, src, reason, original, ...(mtu === undefined ? {} : { mtu }) }

/** A layer's outputs: packets and errors for the guest (either family), or effects for the runtime. */
export type LayerOutput = PacketToGuest | ErrorToGuest | StackEffect
