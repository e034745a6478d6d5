/**
 * hostfwd: host listeners whose clients reach a port of the guest (QEMU's `hostfwd=`,
 * slirp4netns's `add_hostfwd`). This module keeps the rules of one stack (one guest) and decides;
 * the stack (stack.ts) allocates the socket ids and runs the TCP active open.
 *
 * - `HostFwdAdd` opens a listener (`TcpListen` / `UdpBind`, owner `tcp-listener` /
 *   `udp-listener`); `HostListening` marks it bound; a failure to bind (`HostSocketError`, e.g.
 *   EADDRINUSE because another guest's session holds the port: the first to bind wins) is
 *   logged as a warning and the rule is dropped. `HostFwdRemove` closes the listener only.
 * - TCP: each accepted client becomes an active open toward `guest`:`guestPort` (first DHCP
 *   lease, `dhcpStart`, when the rule names none) from `visiblePeer` (below).
 * - UDP: each host peer of a listener gets a mapping (guest sees the peer as `visiblePeer`'s
 *   address and the peer's port, or a port of ours when that pair is taken); the guest's
 *   datagrams from the guest port to that pair go back out of the listener to the peer.
 *   Mappings idle for `UDP_PEER_IDLE_MS` expire (libslirp's SO_EXPIRE); one sweep timer
 *   `{ layer: "hostfwd", key: 0 }` runs while any exists.
 * - `visiblePeer` is libslirp's `sotranslate_accept`: a client on the host's loopback (or
 *   unspecified) appears as the gateway; any other IPv4 client as itself (the guest's server
 *   sees who connected); an IPv6 client, a unix socket client, or an address the guest would
 *   take for its own network appears as the gateway, since the guest connection is IPv4.
 *
 * Pure: plain data replaced on change (rules and peers in IntMaps), no function writes to what
 * it is given; outputs go into an array made for the call.
 */
import type { HostBind, HostEndpoint } from "../../effects/address.ts"
import { describeTarget } from "../../effects/address.ts"
import type { StackEffect } from "../../effects/effect.ts"
import type { HostFwdAdd } from "../../effects/event.ts"
import { type SocketId, type TimerId, timerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"
import { type IntMap, emptyIntMap, intMapGet, intMapRemove, intMapSet, intMapValues } from "../data/int-map.ts"
import { PROTO_UDP } from "../ipv4/wire.ts"
import { unmappedHostAddress } from "../policy/policy.ts"
import { type StackConfig, netmask } from "../stack/config.ts"
import type { LayerOutput } from "../stack/output.ts"
import { UDP_CHECKSUM_OFFSET, emitUdpHeader } from "../udp/wire.ts"
import { type Ipv4, formatIpv4, inSubnet, parseIpv4 } from "../wire/ipv4-address.ts"

/** libslirp's SO_EXPIRE: a UDP mapping without traffic for 240 s is forgotten. */
export const UDP_PEER_IDLE_MS = 240_000
export const HOSTFWD_SWEEP_MS = 5_000
export const HOSTFWD_SWEEP_TIMER: TimerId = timerId("hostfwd", 0)
/** Ports we show the guest for peers that have none of their own (unix clients, clashes). */
const PORT_FIRST = 49152
const PORT_COUNT = 65536 - PORT_FIRST

export interface HostFwdRule {
  readonly id: number
  readonly proto: "tcp" | "udp"
  readonly bind: HostBind
  /** undefined: the first DHCP lease. */
  readonly guest: Ipv4 | undefined
  readonly guestPort: number
  /** The listener's socket. */
  readonly sock: SocketId
  readonly bound: boolean
}

/** A host peer of a UDP rule and how the guest sees it. */
export interface UdpPeer {
  readonly listener: SocketId
  readonly peer: HostEndpoint
  readonly guest: Ipv4
  readonly guestPort: number
  readonly remoteIp: Ipv4
  readonly remotePort: number
  readonly lastActive: Instant
}

export interface HostFwdState {
  readonly rules: IntMap<number, HostFwdRule>
  /** Listener socket -> rule id. */
  readonly byListener: IntMap<SocketId, number>
  /** `guestPort * 65536 + remotePort` -> the peers with those ports (a few). */
  readonly udpPeers: IntMap<number, ReadonlyArray<UdpPeer>>
  readonly udpPeerCount: number
  readonly sweepArmed: boolean
  /** Next port (offset into the dynamic range) `ourPort` hands out. */
  readonly nextPort: number
}

export const emptyHostFwd: HostFwdState = {
  rules: emptyIntMap(),
  byListener: emptyIntMap(),
  udpPeers: emptyIntMap(),
  udpPeerCount: 0,
  sweepArmed: false,
  nextPort: 0,
}

type Out = Array<LayerOutput>

const log = (level: "debug" | "info" | "warn", message: string): StackEffect => ({ _tag: "Log", level, message })

const describeRule = (r: Pick<HostFwdRule, "proto" | "bind" | "guest" | "guestPort">): string =>
  `hostfwd ${r.proto}:${describeTarget(r.bind)} -> ${r.guest === undefined ? "" : formatIpv4(r.guest)}:${r.guestPort}`

export const ruleForListener = (s: HostFwdState, sock: SocketId): HostFwdRule | undefined => {
  const id = intMapGet(s.byListener, sock)
  return id === undefined ? undefined : intMapGet(s.rules, id)
}

/** The guest address a rule forwards to. */
export const guestOf = (c: StackConfig, r: HostFwdRule): Ipv4 => r.guest ?? c.dhcpStart

/** How the guest sees a host client (see the header): its IPv4 address, or the gateway. */
export const visiblePeer = (c: StackConfig, peer: HostEndpoint | undefined): Ipv4 => {
  if (peer === undefined) return c.host
  const v4 = parseIpv4(unmappedHostAddress(peer.address))
  if (v4 === undefined) return c.host
  const top = v4 >>> 24
  if (top === 127 || top === 0 || top >= 224 || inSubnet(v4, c.network, netmask(c))) return c.host
  return v4
}

/**
 * A new rule: its listener is `sock` (the stack's next id; the stack claims it when it sees the
 * `TcpListen`/`UdpBind`). A rule id already in use is refused with a warning.
 */
export const addHostFwd = (s: HostFwdState, ev: HostFwdAdd, sock: SocketId): readonly [HostFwdState, Out] => {
  const rule: HostFwdRule = { id: ev.id, proto: ev.proto, bind: ev.bind, guest: ev.guest, guestPort: ev.guestPort, sock, bound: false }
  if (intMapGet(s.rules, ev.id) !== undefined) return [s, [log("warn", `${describeRule(rule)}: rule id ${ev.id} already in use, ignored`)]]
  if (ev.proto === "udp" && ev.bind.family === "unix") return [s, [log("warn", `${describeRule(rule)}: udp cannot listen on a unix socket, ignored`)]]
  const open: StackEffect =
    ev.proto === "tcp" ? { _tag: "TcpListen", sock, bind: ev.bind } : { _tag: "UdpBind", sock, bind: ev.bind as HostEndpoint }
  return [
    { ...s, rules: intMapSet(s.rules, ev.id, rule), byListener: intMapSet(s.byListener, sock, ev.id) },
    [open, log("debug", `${describeRule(rule)}: opening`)],
  ]
}

const dropRule = (s: HostFwdState, r: HostFwdRule): HostFwdState => {
  let udpPeers = s.udpPeers
  let udpPeerCount = s.udpPeerCount
  if (r.proto === "udp") {
    for (const bucket of intMapValues(s.udpPeers)) {
      for (const p of bucket) {
        if (p.listener !== r.sock) continue
        udpPeers = withoutPeer(udpPeers, p)
        udpPeerCount--
      }
    }
  }
  return { ...s, rules: intMapRemove(s.rules, r.id), byListener: intMapRemove(s.byListener, r.sock), udpPeers, udpPeerCount }
}

/** Removes a rule: its listener closes; forwarded TCP connections stay, UDP mappings go. */
export const removeHostFwd = (s: HostFwdState, id: number): readonly [HostFwdState, Out] => {
  const r = intMapGet(s.rules, id)
  if (r === undefined) return [s, [log("debug", `hostfwd: no rule ${id} to remove`)]]
  return [dropRule(s, r), [{ _tag: "SocketClose", sock: r.sock }, log("info", `${describeRule(r)}: removed`)]]
}

/** The listener is bound (`port`: the one the host gave, for a rule that asked for 0). */
export const hostFwdListening = (s: HostFwdState, sock: SocketId, port: number): readonly [HostFwdState, Out] => {
  const r = ruleForListener(s, sock)
  if (r === undefined) return [s, []]
  const bind = r.bind.family === "unix" || port === 0 ? r.bind : { ...r.bind, port }
  const next: HostFwdRule = { ...r, bind, bound: true }
  return [{ ...s, rules: intMapSet(s.rules, r.id, next) }, [log("info", `${describeRule(next)}: listening`)]]
}

/** The listener failed or closed: the rule is gone (a failure to bind is a warning: the port is someone else's). */
export const hostFwdListenerGone = (s: HostFwdState, sock: SocketId, code: string | undefined): readonly [HostFwdState, Out] => {
  const r = ruleForListener(s, sock)
  if (r === undefined) return [s, []]
  const why = code === undefined ? "listener closed" : r.bound ? `listener failed: ${code}` : `cannot listen: ${code}`
  return [dropRule(s, r), [log(code === undefined ? "info" : "warn", `${describeRule(r)}: ${why}; rule dropped`)]]
}

/** A port from the dynamic range for a peer without a usable one of its own. */
export const ourPort = (s: HostFwdState): readonly [HostFwdState, number] => [
  { ...s, nextPort: (s.nextPort + 1) % PORT_COUNT },
  PORT_FIRST + s.nextPort,
]

// ---- UDP ---------------------------------------------------------------------------------

const peerKey = (guestPort: number, remotePort: number): number => guestPort * 0x10000 + remotePort

const withoutPeer = (m: IntMap<number, ReadonlyArray<UdpPeer>>, p: UdpPeer): IntMap<number, ReadonlyArray<UdpPeer>> => {
  const k = peerKey(p.guestPort, p.remotePort)
  const rest = (intMapGet(m, k) ?? []).filter((x) => x !== p)
  return rest.length === 0 ? intMapRemove(m, k) : intMapSet(m, k, rest)
}

const withPeer = (m: IntMap<number, ReadonlyArray<UdpPeer>>, p: UdpPeer): IntMap<number, ReadonlyArray<UdpPeer>> => {
  const k = peerKey(p.guestPort, p.remotePort)
  return intMapSet(m, k, [...(intMapGet(m, k) ?? []), p])
}

const findPeer = (s: HostFwdState, guest: Ipv4, guestPort: number, remoteIp: Ipv4, remotePort: number): UdpPeer | undefined => {
  for (const p of intMapGet(s.udpPeers, peerKey(guestPort, remotePort)) ?? []) if (p.guest === guest && p.remoteIp === remoteIp) return p
  return undefined
}

const sameEndpoint = (a: HostEndpoint, b: HostEndpoint): boolean => a.port === b.port && unmappedHostAddress(a.address) === unmappedHostAddress(b.address)

const touched = (s: HostFwdState, p: UdpPeer, now: Instant): HostFwdState => {
  if (now - p.lastActive < 1000) return s
  const next = { ...p, lastActive: now }
  return { ...s, udpPeers: withPeer(withoutPeer(s.udpPeers, p), next) }
}

/** A datagram from a host peer on a UDP listener: to the guest, through the peer's mapping. */
export const hostFwdDatagram = (s0: HostFwdState, c: StackConfig, now: Instant, sock: SocketId, from: HostEndpoint, data: Uint8Array): readonly [HostFwdState, Out] => {
  const r = ruleForListener(s0, sock)
  if (r === undefined || r.proto !== "udp") return [s0, []]
  const guest = guestOf(c, r)
  const out: Out = []
  let s = s0
  // The peer's mapping, if it has one already.
  let mapping: UdpPeer | undefined
  for (const bucket of intMapValues(s.udpPeers)) {
    for (const p of bucket) if (p.listener === sock && sameEndpoint(p.peer, from)) mapping = p
    if (mapping !== undefined) break
  }
  if (mapping === undefined) {
    const remoteIp = visiblePeer(c, from)
    let remotePort = from.port
    // Two peers the guest would see as one (two loopback clients on one port, IPv4 and IPv6):
    // the later one gets a port of ours.
    for (let tries = 0; findPeer(s, guest, r.guestPort, remoteIp, remotePort) !== undefined && tries < PORT_COUNT; tries++) {
      ;[s, remotePort] = ourPort(s)
    }
    mapping = { listener: sock, peer: from, guest, guestPort: r.guestPort, remoteIp, remotePort, lastActive: now }
    s = { ...s, udpPeers: withPeer(s.udpPeers, mapping), udpPeerCount: s.udpPeerCount + 1 }
    out.push(log("debug", `${describeRule(r)}: peer ${describeTarget(from)} is ${formatIpv4(remoteIp)}:${remotePort} to the guest`))
    if (!s.sweepArmed) {
      s = { ...s, sweepArmed: true }
      out.push({ _tag: "SetTimer", timer: HOSTFWD_SWEEP_TIMER, at: addMillis(now, HOSTFWD_SWEEP_MS) })
    }
  } else s = touched(s, mapping, now)
  out.push({
    _tag: "PacketToGuest",
    family: 4,
    src: mapping.remoteIp,
    dst: guest,
    protocol: PROTO_UDP,
    header: emitUdpHeader(mapping.remotePort, mapping.guestPort, data.length),
    payload: data,
    checksumOffset: UDP_CHECKSUM_OFFSET,
    pseudoHeader: true,
  })
  return [s, out]
}

/**
 * A UDP datagram from the guest: if it answers a hostfwd peer (from the forwarded port to the
 * pair the peer appears as), it goes out of the listener to the peer. undefined: not ours.
 */
export const hostFwdFromGuest = (
  s: HostFwdState,
  now: Instant,
  src: Ipv4,
  srcPort: number,
  dst: Ipv4,
  dstPort: number,
  payload: Uint8Array,
): readonly [HostFwdState, Out] | undefined => {
  if (s.udpPeerCount === 0) return undefined
  const p = findPeer(s, src, srcPort, dst, dstPort)
  if (p === undefined) return undefined
  return [touched(s, p, now), [{ _tag: "UdpSend", sock: p.listener, to: p.peer, data: payload }]]
}

/** The sweep: mappings idle for `UDP_PEER_IDLE_MS` are forgotten; re-armed while any is left. */
export const hostFwdSweep = (s: HostFwdState, now: Instant): readonly [HostFwdState, Out] => {
  if (!s.sweepArmed) return [s, []]
  let udpPeers = s.udpPeers
  let udpPeerCount = s.udpPeerCount
  const out: Out = []
  for (const bucket of intMapValues(s.udpPeers)) {
    for (const p of bucket) {
      if (now - p.lastActive < UDP_PEER_IDLE_MS) continue
      udpPeers = withoutPeer(udpPeers, p)
      udpPeerCount--
      out.push(log("debug", `hostfwd: udp peer ${describeTarget(p.peer)} expired`))
    }
  }
  const armed = udpPeerCount > 0
  if (armed) out.push({ _tag: "SetTimer", timer: HOSTFWD_SWEEP_TIMER, at: addMillis(now, HOSTFWD_SWEEP_MS) })
  return [{ ...s, udpPeers, udpPeerCount, sweepArmed: armed }, out]
}

/** Stack shutdown: every listener closes, the sweep is cancelled. */
export const hostFwdShutdown = (s: HostFwdState): ReadonlyArray<StackEffect> => {
  const out: Array<StackEffect> = []
  for (const r of intMapValues(s.rules)) out.push({ _tag: "SocketClose", sock: r.sock })
  if (s.sweepArmed) out.push({ _tag: "CancelTimer", timer: HOSTFWD_SWEEP_TIMER })
  return out
}

/** Every rule, in id order of insertion into the map (for listings). */
export const hostFwdRules = (s: HostFwdState): IterableIterator<HostFwdRule> => intMapValues(s.rules)
