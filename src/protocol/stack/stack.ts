/**
 * The stack reducer: one instance per guest. It only routes: each event goes to the layer that
 * owns it (Ethernet/ARP, IPv4 with reassembly, ICMP, UDP, TCP, the DHCP server; IPv6 with NDP,
 * the router's advertisements, ICMPv6 and the DHCPv6 server; UDP and TCP of both families go to
 * the one UDP and the one TCP layer; the TFTP server on the gateway when a TFTP root is set;
 * host events by the owner recorded for their socket, file events to TFTP, timers by their
 * `layer`; forwarding rules: hostfwd to forward/hostfwd.ts, guestfwd into the config, where the
 * policy module reads it), and each output of a layer goes to the IP output of its family
 * (ipv4/send.ts: numbering, frames, fragmentation, ICMP errors, ARP; ipv6/send.ts: the same
 * with NDP) or, for an effect, to the runtime in order. Socket ids come from the one
 * allocator in the state (sockets.ts); addresses and forwarding are decided by the policy
 * module (policy/policy.ts). `reduce` also keeps the stack's counters (counters.ts), from the
 * event and what the layers returned, in one place after routing.
 *
 * Contract: `reduce` never throws on any event; hostile frames are dropped with a debug log.
 * `StackState` is plain data (no functions, no class instances): `structuredClone` of a state
 * is a state that behaves the same. `reduce` never writes to the state it is given nor to
 * anything reachable from it, and the same (state, event) gives equal results, so a caller
 * may keep, replay and branch old states. (The TCP layer is being made pure in its own
 * change; until then its connection records are the exception its header documents.)
 * Frames for the guest are built in buffers from `frames` (default: fresh memory); their
 * bytes do not depend on the allocator. The guest's frame is the stack's from the event on
 * (FrameFromGuest): layers may keep views of it.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { GuestFwdAdd, HostSocketClosed, HostSocketError, HostTcpAccepted, HostUnreachable, StackEvent } from "../../effects/event.ts"
import type { SocketId, SocketOwner, TimerId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import { absurd } from "../../effects/absurd.ts"
import { type DhcpServerState, createDhcpServer, dhcpInput } from "../dhcp/server.ts"
import { parseArp } from "../ethernet/arp-wire.ts"
import { type FrameAllocator, freshFrames } from "../ethernet/frame-buffer.ts"
import { type NeighborContext, arp, arpInput, emptyNeighbors } from "../ethernet/neighbors.ts"
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, parseEthernet } from "../ethernet/wire.ts"
import { type NaptState, closeNapt, emptyNapt, sweepNapt } from "../flows/napt.ts"
import { icmpFromGuest, icmpHostEvent } from "../icmp/layer.ts"
import { type ReassemblyState, addFragment, emptyReassembly, reassemblyShutdown, reassemblyTimeout } from "../ipv4/reassembly.ts"
import { type Ipv4OutState, type Ipv4SendContext, ipv4Send, ipv4SendError } from "../ipv4/send.ts"
import { type Ipv4View, PROTO_ICMP, PROTO_TCP, PROTO_UDP, isFragment, parseIpv4Header } from "../ipv4/wire.ts"
import { gatewayMacOf, isGuestAddress, tcpTargetFor } from "../policy/policy.ts"
import {
  type HostFwdState,
  addHostFwd,
  emptyHostFwd,
  guestOf,
  hostFwdDatagram,
  hostFwdFromGuest,
  hostFwdListenerGone,
  hostFwdListening,
  hostFwdShutdown,
  hostFwdSweep,
  ourPort,
  removeHostFwd,
  ruleForListener,
  visiblePeer,
  visiblePeer6,
} from "../forward/hostfwd.ts"
import { defaultTcpConfig } from "../tcp/config.ts"
import { type TcpContext, type TcpHostEvent, type TcpLayerState, createTcpLayer, tcpConnectToGuest, tcpConnectionFor, tcpFromGuest, tcpHostEvent, tcpShutdown, tcpTimer } from "../tcp/layer.ts"
import { udpFromGuest, udpHostEvent } from "../udp/layer.ts"
import { type TftpContext, type TftpFileEvent, type TftpState, createTftp, isTftpPort, tftpFileEvent, tftpFromGuest, tftpShutdown, tftpTimer } from "../tftp/server.ts"
import { icmpv6FromGuest } from "../icmpv6/layer.ts"
import { parseIcmpv6 } from "../icmpv6/wire.ts"
import { type Ipv6OutState, ipv6Send, ipv6SendError } from "../ipv6/send.ts"
import { IPV6_HEADER_LEN, NH_ICMPV6, NH_TCP, NH_UDP, type Ipv6View, isFragment6, parseIpv6Header } from "../ipv6/wire.ts"
import { emptyNdp, ndp, ndpInput, neighborOf } from "../ndp/neighbors.ts"
import { type Reassembly6State, addFragment6, emptyReassembly6, reassembly6Shutdown, reassembly6Timeout } from "../ipv6/reassembly.ts"
import { type RouterState, createRouter, routerShutdown, routerSolicited, routerTimer } from "../ndp/router.ts"
import { isNdpType, parseNdp } from "../ndp/wire.ts"
import { hostEndpointFor6, isGateway6, isGuestAddress6, isOurIpv6 } from "../policy/policy.ts"
import { ALL_DHCP_AGENTS, formatIpv6, ipv6Equals, isUnspecified } from "../wire/ipv6-address.ts"
import { type Dhcpv6ServerState, dhcpv6Input, emptyDhcpv6 } from "../dhcpv6/server.ts"
import { DHCPV6_SERVER_PORT } from "../dhcpv6/wire.ts"
import { parseUdp, parseUdp6 } from "../udp/wire.ts"
import { IPV4_BROADCAST, formatIpv4 } from "../wire/ipv4-address.ts"
import { type IpAddress, formatIp } from "../wire/ip-address.ts"
import { describeTarget } from "../../effects/address.ts"
import { macEquals } from "../wire/mac.ts"
import { type StackConfig, broadcastAddress, validateConfig } from "./config.ts"
import type { LayerOutput } from "./output.ts"
import { type SocketTable, claimSocket, emptySockets, ownerOf, releaseSocket } from "./sockets.ts"
import { type CounterReport, type StackCounters, countEvent, emptyCounters, formatCounters } from "./counters.ts"

const DHCP_SERVER_PORT = 67

export interface StackState {
  readonly config: StackConfig
  /**
   * What ARP needs to know, derived from the config once (plain data: the config and the MAC
   * our virtual hosts send from), kept so the per-frame path allocates no context.
   */
  readonly link: NeighborContext
  /** The one socket-id allocator and the owner of every live host socket. */
  readonly sockets: SocketTable
  /** IPv4 output: the Identification counter and the ARP cache and queues. */
  readonly ipv4: Ipv4OutState
  /** IPv6 output: the fragment Identification counter and the NDP cache and queues. */
  readonly ipv6: Ipv6OutState
  /** The virtual router's advertisements (ndp/router.ts). */
  readonly router: RouterState
  readonly reassembly: ReassemblyState
  readonly reassembly6: Reassembly6State
  /** UDP and ICMP echo flows. */
  readonly napt: NaptState
  readonly tcp: TcpLayerState
  readonly dhcp: DhcpServerState
  readonly dhcpv6: Dhcpv6ServerState
  /** The TFTP server's transfers (idle unless `config.tftpRoot` is set). */
  readonly tftp: TftpState
  /** hostfwd rules, their listeners and UDP peers (guestfwd rules live in `config.guestFwd`). */
  readonly hostfwd: HostFwdState
  /** Frames, drops, connections, flows... counted in `reduce` from what the layers returned (counters.ts). */
  readonly counters: StackCounters
}

/**
 * Per-connection TCP buffer bound unless the config sets one: the default (512 KiB), or 32
 * full segments at a jumbo MTU, so that a window of data is in flight on a link whose frames
 * are 20-40 times larger (a few ms of scheduling delay would otherwise empty the pipe).
 */
const tcpBufferBytes = (c: StackConfig): number => c.tcpBufferBytes ?? Math.max(defaultTcpConfig.bufferBytes, 32 * c.mtu)

export const createStack = (config: StackConfig, _now?: Instant): StackState => ({
  config,
  link: { config, gatewayMac: gatewayMacOf(config) },
  sockets: emptySockets,
  ipv4: { ipId: config.seed & 0xffff, neighbors: emptyNeighbors },
  ipv6: { fragmentId: config.seed >>> 0, neighbors: emptyNdp },
  router: createRouter(config.seed),
  reassembly: emptyReassembly,
  reassembly6: emptyReassembly6,
  napt: emptyNapt,
  tcp: createTcpLayer(config.seed, { bufferBytes: tcpBufferBytes(config) }),
  dhcp: createDhcpServer(),
  dhcpv6: emptyDhcpv6,
  tftp: createTftp(config.seed),
  hostfwd: emptyHostFwd,
  counters: emptyCounters,
})

type Result = readonly [StackState, ReadonlyArray<StackEffect>]

/** What one call carries besides the state. */
interface Call {
  readonly now: Instant
  readonly frames: FrameAllocator
}

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })

/** Both IP outputs take the same context: the link, the time and the frame allocator. */
const sendContext = (s: StackState, call: Call): Ipv4SendContext => ({ neighbor: s.link, now: call.now, frames: call.frames })

const OPENED_BY: Partial<Record<StackEffect["_tag"], SocketOwner>> = {
  TcpConnect: "tcp",
  UdpOpen: "udp",
  IcmpOpen: "icmp",
  TcpListen: "tcp-listener",
  UdpBind: "udp-listener",
  TcpAdopt: "tcp",
}

/**
 * Routes layer outputs, appending effects to `fx`: packets and errors to the IP output of their
 * family, effects to the runtime (recording the owner of every socket opened, forgetting every
 * socket closed). Returns the state with the IP output and socket table updated.
 */
const emit = (s0: StackState, call: Call, outputs: ReadonlyArray<LayerOutput>, fx: Array<StackEffect>): StackState => {
  let s = s0
  let ipv4 = s.ipv4
  let ipv6 = s.ipv6
  let sockets = s.sockets
  let ctx: Ipv4SendContext | undefined
  for (const o of outputs) {
    switch (o._tag) {
      case "PacketToGuest":
        if (o.family === 4) ipv4 = ipv4Send(ipv4, (ctx ??= sendContext(s, call)), o, fx)
        else ipv6 = ipv6Send(ipv6, (ctx ??= sendContext(s, call)), o, fx)
        break
      case "ErrorToGuest":
        if (o.family === 4) ipv4 = ipv4SendError(ipv4, (ctx ??= sendContext(s, call)), o, fx)
        else ipv6 = ipv6SendError(ipv6, (ctx ??= sendContext(s, call)), o, fx)
        break
      case "TcpConnect":
      case "UdpOpen":
      case "IcmpOpen":
      case "TcpListen":
      case "UdpBind":
      case "TcpAdopt":
        sockets = claimSocket(sockets, o.sock, OPENED_BY[o._tag]!)
        fx.push(o)
        break
      case "SocketClose":
        sockets = releaseSocket(sockets, o.sock)
        fx.push(o)
        break
      default:
        fx.push(o)
    }
  }
  if (ipv4 !== s.ipv4 || ipv6 !== s.ipv6 || sockets !== s.sockets) s = { ...s, ipv4, ipv6, sockets }
  return s
}

const frameFromGuest = (s: StackState, call: Call, frame: Uint8Array): Result => {
  const eth = parseEthernet(frame)
  if (eth === undefined) return [s, [debug(`ethernet: runt frame of ${frame.length} bytes dropped`)]]
  switch (eth.ethertype) {
    case ETHERTYPE_ARP: {
      // ARP is IPv4's neighbour discovery: with IPv4 off nothing answers it.
      if (!s.config.ipv4) return [s, [debug("arp: ipv4 disabled, frame dropped")]]
      const p = parseArp(frame, eth.payloadOffset)
      if (!p.ok) return [s, [debug(p.reason)]]
      const [neighbors, fx] = arpInput(s.ipv4.neighbors, s.link, p.packet)
      return [neighbors === s.ipv4.neighbors ? s : { ...s, ipv4: { ...s.ipv4, neighbors } }, fx]
    }
    case ETHERTYPE_IPV4: {
      if (!s.config.ipv4) return [s, [debug("ipv4: disabled, frame dropped")]]
      const p = parseIpv4Header(frame, eth.payloadOffset)
      if (!p.ok) return [s, [debug(p.reason)]]
      return ipv4FromGuest(s, call, p.ip, frame)
    }
    case ETHERTYPE_IPV6: {
      if (!s.config.ipv6) return [s, [debug("ipv6: disabled, frame dropped")]]
      const p = parseIpv6Header(frame, eth.payloadOffset)
      if (!p.ok) return [s, [debug(p.reason)]]
      return ipv6FromGuest(s, call, p.ip, frame)
    }
    default:
      return [s, [debug(`ethernet: ethertype 0x${eth.ethertype.toString(16).padStart(4, "0")} dropped`)]]
  }
}

const ipv4FromGuest = (s0: StackState, call: Call, ip0: Ipv4View, frame: Uint8Array): Result => {
  const fx: Array<StackEffect> = []
  const { now } = call
  let s = s0
  // Learn the guest's MAC from its IP traffic. Every guest frame passes here, so the common
  // case (the address is known with this MAC) is one map lookup and no allocation.
  const known = s.ipv4.neighbors.cache.get(ip0.src)
  if ((known === undefined || !macEquals(frame, 6, known)) && isGuestAddress(s.config, ip0.src)) {
    const [neighbors, lfx] = arp.learn(s.ipv4.neighbors, s.link, ip0.src, frame.subarray(6, 12))
    if (neighbors !== s.ipv4.neighbors) s = { ...s, ipv4: { ...s.ipv4, neighbors } }
    for (const e of lfx) fx.push(e)
  }
  let ip = ip0
  if (isFragment(ip0)) {
    const [reassembly, whole, rfx] = addFragment(s.reassembly, now, ip0)
    s = { ...s, reassembly }
    for (const e of rfx) fx.push(e)
    if (whole === undefined) return [s, fx]
    const p = parseIpv4Header(whole, 0)
    if (!p.ok) return [s, [...fx, debug(p.reason)]]
    ip = p.ip
  }
  const c = s.config
  const payload = ip.buf.subarray(ip.payloadOffset, ip.payloadOffset + ip.payloadLength)
  // (the whole datagram, for UDP and ICMP errors, is cut only there: a view costs as much as a
  // short segment's parse)
  const datagram = (): Uint8Array => ip.buf.subarray(ip.offset, ip.offset + ip.totalLength)
  switch (ip.protocol) {
    case PROTO_TCP: {
      const [tcp, out] = tcpFromGuest(s.tcp, tcpContext(s, now, call.frames), { src: ip.src, dst: ip.dst, ttl: ip.ttl, ipHeader: ip.buf.subarray(ip.offset, ip.payloadOffset), segment: payload })
      return [emit({ ...s, tcp }, call, out, fx), fx]
    }
    case PROTO_UDP: {
      const u = parseUdp(payload, ip.src, ip.dst)
      if (!u.ok) return [s, [...fx, debug(u.reason)]]
      // An answer to a udp hostfwd peer goes back out of its listener (first: a guest's own DHCP
      // server answering a forwarded peer through the gateway address is not a DHCP client).
      const back = hostFwdFromGuest(s.hostfwd, now, ip.src, u.udp.srcPort, ip.dst, u.udp.dstPort, u.udp.payload)
      if (back !== undefined) return [emit({ ...s, hostfwd: back[0] }, call, back[1], fx), fx]
      if (u.udp.dstPort === DHCP_SERVER_PORT && (ip.dst === IPV4_BROADCAST || ip.dst === c.host || ip.dst === broadcastAddress(c))) {
        const [dhcp, out] = dhcpInput(s.dhcp, c, now, { srcMac: frame.subarray(6, 12), payload: u.udp.payload })
        return [emit({ ...s, dhcp }, call, out, fx), fx]
      }
      if (c.tftpRoot !== undefined && ip.dst === c.host && isTftpPort(s.tftp, u.udp.dstPort)) {
        const [tftp, out] = tftpFromGuest(s.tftp, tftpContext(s, now, c.tftpRoot), { src: ip.src, dst: ip.dst, srcPort: u.udp.srcPort, dstPort: u.udp.dstPort, payload: u.udp.payload })
        return [emit(tftp === s.tftp ? s : { ...s, tftp }, call, out, fx), fx]
      }
      const [napt, out] = udpFromGuest(s.napt, { config: c, now, newSocket: s.sockets.next }, { src: ip.src, dst: ip.dst, ttl: ip.ttl, datagram: datagram(), udp: u.udp })
      return [emit(napt === s.napt ? s : { ...s, napt }, call, out, fx), fx]
    }
    case PROTO_ICMP: {
      const [napt, out] = icmpFromGuest(s.napt, { config: c, now, newSocket: s.sockets.next }, { src: ip.src, dst: ip.dst, ttl: ip.ttl, datagram: datagram(), message: payload })
      return [emit(napt === s.napt ? s : { ...s, napt }, call, out, fx), fx]
    }
    default:
      fx.push(debug(`ipv4: protocol ${ip.protocol} from ${formatIpv4(ip.src)} dropped`))
      return [s, fx]
  }
}

/** Replaces the NDP state (the IPv6 output's neighbours) when it changed. */
const withNdp = (s: StackState, neighbors: Ipv6OutState["neighbors"]): StackState => (neighbors === s.ipv6.neighbors ? s : { ...s, ipv6: { ...s.ipv6, neighbors } })

const ipv6FromGuest = (s0: StackState, call: Call, ip: Ipv6View, frame: Uint8Array): Result => {
  const fx: Array<StackEffect> = []
  const c = s0.config
  let s = s0
  const src = frame.subarray(ip.srcOffset, ip.srcOffset + 16)
  // Learn the guest's MAC from its traffic, as for IPv4: one lookup when nothing changed.
  if (isGuestAddress6(c, src)) {
    const known = neighborOf(s.ipv6.neighbors, src)
    if (known === undefined || !macEquals(frame, 6, known.mac)) {
      const [neighbors, lfx] = ndp.learn(s.ipv6.neighbors, s.link, src, frame.subarray(6, 12))
      s = withNdp(s, neighbors)
      for (const e of lfx) fx.push(e)
    }
  }
  if (isFragment6(ip)) {
    const [reassembly6, whole, rfx] = addFragment6(s.reassembly6, call.now, ip)
    s = { ...s, reassembly6 }
    for (const e of rfx) fx.push(e)
    if (whole === undefined) return [s, fx]
    const p = parseIpv6Header(whole, 0)
    if (!p.ok) return [s, [...fx, debug(p.reason)]]
    // A fragment inside the reassembled datagram would be a second fragment header.
    if (isFragment6(p.ip)) return [s, [...fx, debug("ipv6: fragment inside a reassembled datagram dropped")]]
    // The reassembled datagram has no Ethernet header: its addresses are in `whole`.
    return ipv6Upper(s, call, p.ip, whole, src, frame, fx)
  }
  return ipv6Upper(s, call, ip, frame, src, frame, fx)
}

/**
 * The upper layer of an IPv6 datagram from the guest (`frame`, or a reassembled datagram, holds
 * it at `ip.offset`); `ether` is the guest's Ethernet frame (its source MAC is viewed only where
 * a layer needs it: most frames are TCP and never do).
 */
const ipv6Upper = (s: StackState, call: Call, ip: Ipv6View, frame: Uint8Array, src: Uint8Array, ether: Uint8Array, fx: Array<StackEffect>): Result => {
  const c = s.config
  const dst = frame.subarray(ip.dstOffset, ip.dstOffset + 16)
  const upper = frame.subarray(ip.upperOffset, ip.upperOffset + ip.upperLength)
  switch (ip.protocol) {
    case NH_TCP: {
      // The same TCP layer as IPv4's: the addresses' type tells it the family.
      const segment = { src, dst, ttl: ip.hopLimit, ipHeader: frame.subarray(ip.offset, ip.upperOffset), segment: upper }
      const [tcp, out] = tcpFromGuest(s.tcp, tcpContext(s, call.now, call.frames), segment)
      return [emit({ ...s, tcp }, call, out, fx), fx]
    }
    case NH_ICMPV6: {
      const p = parseIcmpv6(upper, frame, ip.srcOffset, frame, ip.dstOffset)
      if (!p.ok) return [s, [...fx, debug(p.reason)]]
      if (isNdpType(p.icmp.type)) return ndpFromGuest(s, call, ip, src, dst, ether.subarray(6, 12), upper, fx)
      const datagram = frame.subarray(ip.offset, ip.offset + IPV6_HEADER_LEN + ip.payloadLength)
      const [napt, out] = icmpv6FromGuest(s.napt, { config: c, now: call.now, newSocket: s.sockets.next }, { src, dst, hopLimit: ip.hopLimit, datagram, icmp: p.icmp })
      return [emit(napt === s.napt ? s : { ...s, napt }, call, out, fx), fx]
    }
    case NH_UDP: {
      const u = parseUdp6(upper, frame, ip.srcOffset, ip.dstOffset)
      if (!u.ok) return [s, [...fx, debug(u.reason)]]
      // An answer to a udp hostfwd peer of an IPv6 guest address, as in IPv4's path.
      const back = hostFwdFromGuest(s.hostfwd, call.now, src, u.udp.srcPort, dst, u.udp.dstPort, u.udp.payload)
      if (back !== undefined) return [emit({ ...s, hostfwd: back[0] }, call, back[1], fx), fx]
      // RFC 8415 §7.1: clients send to All_DHCP_Relay_Agents_and_Servers (or to us, unicast).
      if (u.udp.dstPort === DHCPV6_SERVER_PORT && (ipv6Equals(dst, 0, ALL_DHCP_AGENTS) || isOurIpv6(c, dst))) {
        const [dhcpv6, out] = dhcpv6Input(s.dhcpv6, c, s.link.gatewayMac, { src, srcMac: ether.subarray(6, 12), payload: u.udp.payload })
        return [emit(dhcpv6 === s.dhcpv6 ? s : { ...s, dhcpv6 }, call, out, fx), fx]
      }
      if (c.tftpRoot !== undefined && isGateway6(c, dst) && isTftpPort(s.tftp, u.udp.dstPort)) {
        const [tftp, out] = tftpFromGuest(s.tftp, tftpContext(s, call.now, c.tftpRoot), { src, dst, srcPort: u.udp.srcPort, dstPort: u.udp.dstPort, payload: u.udp.payload })
        return [emit(tftp === s.tftp ? s : { ...s, tftp }, call, out, fx), fx]
      }
      const datagram = frame.subarray(ip.offset, ip.offset + IPV6_HEADER_LEN + ip.payloadLength)
      const [napt, out] = udpFromGuest(s.napt, { config: c, now: call.now, newSocket: s.sockets.next }, { src, dst, ttl: ip.hopLimit, datagram, udp: u.udp })
      return [emit(napt === s.napt ? s : { ...s, napt }, call, out, fx), fx]
    }
    default:
      fx.push(debug(`ipv6: next header ${ip.protocol} from ${formatIpv6(src)} dropped`))
      return [s, fx]
  }
}

const ndpFromGuest = (s0: StackState, call: Call, ip: Ipv6View, src: Uint8Array, dst: Uint8Array, srcMac: Uint8Array, message: Uint8Array, fx: Array<StackEffect>): Result => {
  let s = s0
  const n = parseNdp(message, ip.hopLimit)
  if (!n.ok) return [s, [...fx, debug(n.reason)]]
  const msg = n.msg
  switch (msg._tag) {
    case "RouterSolicitation": {
      // RFC 4861 §6.2.6: a router may learn the solicitor's link-layer address.
      const sll = msg.options.sourceLinkAddr
      if (sll !== undefined && !isUnspecified(src)) {
        const [neighbors, lfx] = ndp.learn(s.ipv6.neighbors, s.link, src, sll)
        s = withNdp(s, neighbors)
        for (const e of lfx) fx.push(e)
      }
      const [router, rfx] = routerSolicited(s.router, s.link, call.now, src, sll ?? srcMac)
      for (const e of rfx) fx.push(e)
      return [router === s.router ? s : { ...s, router }, fx]
    }
    case "RouterAdvertisement":
      fx.push(debug("ndp: router advertisement from the guest ignored (we are the only router)"))
      return [s, fx]
    case "NeighborSolicitation":
    case "NeighborAdvertisement": {
      const [neighbors, nfx] = ndpInput(s.ipv6.neighbors, s.link, { src, dst, srcMac, msg })
      for (const e of nfx) fx.push(e)
      return [withNdp(s, neighbors), fx]
    }
    default:
      return absurd(msg)
  }
}

const timerFired = (s: StackState, call: Call, timer: TimerId): Result => {
  const fx: Array<StackEffect> = []
  const { now } = call
  switch (timer.layer) {
    case "tcp": {
      const [tcp, out] = tcpTimer(s.tcp, tcpContext(s, now), timer)
      return [emit({ ...s, tcp }, call, out, fx), fx]
    }
    case "flows": {
      const [napt, out] = sweepNapt(s.napt, now)
      return [emit({ ...s, napt }, call, out, fx), fx]
    }
    case "arp": {
      const [neighbors, afx] = arp.timeout(s.ipv4.neighbors, timer, now)
      return [neighbors === s.ipv4.neighbors ? s : { ...s, ipv4: { ...s.ipv4, neighbors } }, afx]
    }
    case "ndp": {
      const [neighbors, nfx] = ndp.timeout(s.ipv6.neighbors, timer, now)
      return [neighbors === s.ipv6.neighbors ? s : { ...s, ipv6: { ...s.ipv6, neighbors } }, nfx]
    }
    case "ra": {
      const [router, rfx] = routerTimer(s.router, s.link, now)
      return [router === s.router ? s : { ...s, router }, rfx]
    }
    case "reassembly6": {
      const [reassembly6, , rfx] = reassembly6Timeout(s.reassembly6, timer.key, now)
      return [reassembly6 === s.reassembly6 ? s : { ...s, reassembly6 }, rfx]
    }
    case "reassembly": {
      const [reassembly, , rfx] = reassemblyTimeout(s.reassembly, timer.key, now)
      return [reassembly === s.reassembly ? s : { ...s, reassembly }, rfx]
    }
    case "tftp": {
      const [tftp, out] = tftpTimer(s.tftp, tftpContext(s, now, s.config.tftpRoot ?? ""), timer)
      return [emit(tftp === s.tftp ? s : { ...s, tftp }, call, out, fx), fx]
    }
    case "hostfwd": {
      const [hostfwd, out] = hostFwdSweep(s.hostfwd, now)
      return [emit({ ...s, hostfwd }, call, out, fx), fx]
    }
    default:
      return absurd(timer.layer)
  }
}

const shutdown = (s: StackState, now: Instant): Result => {
  const fx: Array<StackEffect> = []
  const [, tcpOut] = tcpShutdown(s.tcp, tcpContext(s, now))
  for (const o of tcpOut) if (o._tag !== "PacketToGuest" && o._tag !== "ErrorToGuest") fx.push(o)
  for (const e of closeNapt(s.napt)) fx.push(e)
  for (const e of hostFwdShutdown(s.hostfwd)) fx.push(e)
  for (const e of arp.shutdown(s.ipv4.neighbors)) fx.push(e)
  for (const e of ndp.shutdown(s.ipv6.neighbors)) fx.push(e)
  for (const e of routerShutdown(s.router)) fx.push(e)
  for (const e of reassemblyShutdown(s.reassembly)) fx.push(e)
  for (const e of reassembly6Shutdown(s.reassembly6)) fx.push(e)
  for (const e of tftpShutdown(s.tftp)) fx.push(e)
  fx.push({ _tag: "Log", level: "info", message: "stack: shut down, every host socket closed" })
  fx.push({ _tag: "Log", level: "info", message: `stack: counters: ${formatCounters(stackCounters(s))}` })
  const fresh = createStack(s.config, now)
  // Keep numbering where it was: a late event of a closed socket must not meet a new one.
  return [{ ...fresh, sockets: { ...fresh.sockets, next: s.sockets.next }, ipv4: { ...fresh.ipv4, ipId: s.ipv4.ipId }, ipv6: { ...fresh.ipv6, fragmentId: s.ipv6.fragmentId } }, fx]
}

/** `frames`: the call's allocator, whose SIMD checksum (if any) verifies the guest's segments. */
const tcpContext = (s: StackState, now: Instant, frames?: FrameAllocator): TcpContext => ({
  now,
  sum16: frames?.sum16,
  mtu: s.config.mtu,
  hostEndpointFor: (dst, port) => (typeof dst === "number" ? tcpTargetFor(s.config, dst, port) : hostEndpointFor6(s.config, dst, port)),
  newSocket: s.sockets.next,
})

const tftpContext = (s: StackState, now: Instant, root: string): TftpContext => ({ root, mtu: s.config.mtu, now })

/** A file event goes to the TFTP server, the only layer that opens files. */
const fileEvent = (s: StackState, call: Call, event: TftpFileEvent): Result => {
  const fx: Array<StackEffect> = []
  const [tftp, out] = tftpFileEvent(s.tftp, tftpContext(s, call.now, s.config.tftpRoot ?? ""), event)
  return [emit(tftp === s.tftp ? s : { ...s, tftp }, call, out, fx), fx]
}

type SocketEvent = Exclude<
  StackEvent,
  { readonly _tag: "FrameFromGuest" | "TimerFired" | "Shutdown" | "HostFwdAdd" | "HostFwdRemove" | "GuestFwdAdd" | "GuestFwdRemove" | "HostTcpAccepted" | TftpFileEvent["_tag"] }
>

const unknownSocket = (s: StackState, event: SocketEvent): Result => [s, [debug(`${event._tag} for unknown socket ${event.sock} ignored`)]]

/** After the runtime reports a socket closed or failed, its id has no owner any more. */
const released = (r: Result, sock: SocketId): Result => {
  const [s, fx] = r
  const sockets = releaseSocket(s.sockets, sock)
  return sockets === s.sockets ? r : [{ ...s, sockets }, fx]
}

const hostEvent = (s: StackState, call: Call, event: SocketEvent): Result => {
  const owner = ownerOf(s.sockets, event.sock)
  const fx: Array<StackEffect> = []
  switch (event._tag) {
    case "HostTcpConnected":
    case "HostTcpData":
    case "HostTcpEof":
    case "HostTcpWritten":
      if (owner !== "tcp") return unknownSocket(s, event)
      return toTcp(s, call, event, fx)
    case "HostListening": {
      if (owner !== "tcp-listener" && owner !== "udp-listener") return unknownSocket(s, event)
      const [hostfwd, out] = hostFwdListening(s.hostfwd, event.sock, event.port)
      return [emit({ ...s, hostfwd }, call, out, fx), fx]
    }
    case "HostUdpDatagram":
      if (owner === "udp-listener") {
        const [hostfwd, out] = hostFwdDatagram(s.hostfwd, s.config, event.now, event.sock, event.from, event.data)
        return [emit({ ...s, hostfwd }, call, out, fx), fx]
      }
      if (owner !== "udp") return unknownSocket(s, event)
      return toNapt(s, call, udpHostEvent(s.napt, { config: s.config, now: event.now }, event), fx)
    case "HostIcmpEchoReply":
      if (owner !== "icmp") return unknownSocket(s, event)
      return toNapt(s, call, icmpHostEvent(s.napt, { config: s.config, now: event.now }, event), fx)
    case "HostUnreachable":
    case "HostSocketError":
    case "HostSocketClosed": {
      const r = closingEvent(s, call, owner, event, fx)
      return event._tag === "HostUnreachable" ? r : released(r, event.sock)
    }
    default:
      return absurd(event)
  }
}

const closingEvent = (s: StackState, call: Call, owner: SocketOwner | undefined, event: HostUnreachable | HostSocketError | HostSocketClosed, fx: Array<StackEffect>): Result => {
  const ctx = { config: s.config, now: event.now }
  switch (owner) {
    case "udp":
      return toNapt(s, call, udpHostEvent(s.napt, ctx, event), fx)
    case "icmp":
      return toNapt(s, call, icmpHostEvent(s.napt, ctx, event), fx)
    case "tcp":
      if (event._tag === "HostUnreachable") return unknownSocket(s, event)
      return toTcp(s, call, event, fx)
    case "tcp-listener":
    case "udp-listener": {
      // A peer of a udp hostfwd listener that cannot be reached: nothing to tell the guest.
      if (event._tag === "HostUnreachable") return [s, [debug(`hostfwd: udp peer ${event.to.address}:${event.to.port} unreachable (${event.reason})`)]]
      const [hostfwd, out] = hostFwdListenerGone(s.hostfwd, event.sock, event._tag === "HostSocketError" ? event.code : undefined)
      return [emit({ ...s, hostfwd }, call, out, fx), fx]
    }
    case undefined:
      return unknownSocket(s, event)
    default:
      return absurd(owner)
  }
}

const toTcp = (s: StackState, call: Call, event: TcpHostEvent, fx: Array<StackEffect>): Result => {
  const [tcp, out] = tcpHostEvent(s.tcp, tcpContext(s, event.now), event)
  return [emit({ ...s, tcp }, call, out, fx), fx]
}

const toNapt = (s: StackState, call: Call, [napt, out]: readonly [NaptState, ReadonlyArray<LayerOutput>], fx: Array<StackEffect>): Result =>
  [emit(napt === s.napt ? s : { ...s, napt }, call, out, fx), fx]

/**
 * A host client connected to a tcp hostfwd listener: adopt its socket and open toward the
 * guest (RFC 9293 §3.10.1 active OPEN) over the family of the rule's guest address, from the
 * address the guest should see (hostfwd.ts `visiblePeer`, `visiblePeer6`), or refuse it (reset)
 * when the rule is gone, that family is off, or the table is full.
 */
const hostTcpAccepted = (s: StackState, call: Call, ev: HostTcpAccepted): Result => {
  const fx: Array<StackEffect> = []
  const r = ruleForListener(s.hostfwd, ev.listener)
  const refuse = (why: string): Result => [s, [{ _tag: "TcpRefuse", accepted: ev.accepted }, { _tag: "Log", level: "info", message: `hostfwd: client refused: ${why}` }]]
  if (r === undefined || r.proto !== "tcp" || ownerOf(s.sockets, ev.listener) !== "tcp-listener") return refuse(`no tcp rule for socket ${ev.listener}`)
  const guestIp = guestOf(s.config, r)
  if (typeof guestIp === "number" ? !s.config.ipv4 : !s.config.ipv6) return refuse(`ipv${typeof guestIp === "number" ? 4 : 6} is off (the rule's guest address is IPv${typeof guestIp === "number" ? 4 : 6})`)
  if (s.tcp.conns.size >= s.tcp.config.maxConnections) return refuse(`${s.tcp.conns.size} connections (the limit)`)
  const remoteIp: IpAddress = typeof guestIp === "number" ? visiblePeer(s.config, ev.peer) : visiblePeer6(s.config, guestIp, ev.peer)
  let hostfwd = s.hostfwd
  let remotePort = ev.peer?.port ?? 0
  // No port of its own (a unix client), or the pair the guest would see is in use: one of ours.
  for (let tries = 0; (remotePort === 0 || tcpConnectionFor(s.tcp, guestIp, r.guestPort, remoteIp, remotePort) !== undefined) && tries < 16384; tries++) {
    ;[hostfwd, remotePort] = ourPort(hostfwd)
  }
  const sock = s.sockets.next
  const [tcp, , out] = tcpConnectToGuest(s.tcp, { now: call.now, mtu: s.config.mtu, newSocket: sock }, { guestIp, guestPort: r.guestPort, remoteIp, remotePort })
  const from = ev.peer === undefined ? "a unix client" : `${ev.peer.address}:${ev.peer.port}`
  const head: Array<LayerOutput> = [
    { _tag: "TcpAdopt", sock, accepted: ev.accepted },
    { _tag: "Log", level: "debug", message: `hostfwd: ${from} -> ${formatIp(guestIp)} port ${r.guestPort} as ${formatIp(remoteIp)} port ${remotePort} (socket ${sock})` },
  ]
  return [emit({ ...s, tcp, hostfwd }, call, [...head, ...out], fx), fx]
}

/** A guestfwd rule: into the config (the policy module routes by it; ARP answers for its server). */
const guestFwdAdd = (s: StackState, ev: GuestFwdAdd): Result => {
  const rule = { id: ev.id, server: ev.server, port: ev.port, target: ev.target }
  const others = s.config.guestFwd.filter((g) => g.id !== ev.id && !(g.server === ev.server && g.port === ev.port))
  const config = { ...s.config, guestFwd: [...others, rule] }
  const problems = validateConfig(config)
  const where = `guestfwd ${formatIpv4(ev.server)}:${ev.port}`
  if (problems.length > 0) return [s, [{ _tag: "Log", level: "warn", message: `${where}: refused: ${problems.join("; ")}` }]]
  return [{ ...s, config, link: { ...s.link, config } }, [{ _tag: "Log", level: "info", message: `${where} -> ${describeTarget(ev.target)}` }]]
}

const guestFwdRemove = (s: StackState, id: number): Result => {
  const guestFwd = s.config.guestFwd.filter((g) => g.id !== id)
  if (guestFwd.length === s.config.guestFwd.length) return [s, [debug(`guestfwd: no rule ${id} to remove`)]]
  const config = { ...s.config, guestFwd }
  return [{ ...s, config, link: { ...s.link, config } }, [{ _tag: "Log", level: "info", message: `guestfwd: rule ${id} removed` }]]
}

/** The counters of a stack (counters.ts), with the open TCP connections read from its table. */
export const stackCounters = (s: StackState): CounterReport => ({ ...s.counters, tcpOpen: s.tcp.conns.size })

export const reduce = (s: StackState, event: StackEvent, frames: FrameAllocator = freshFrames): Result => {
  const [next, fx] = route(s, event, frames)
  // Counted from the state before (the next one is fresh after Shutdown) and what was returned.
  const newPeers = next.hostfwd.udpPeerCount - s.hostfwd.udpPeerCount
  const counters = countEvent(s.counters, s.config, s.tcp, event, fx, newPeers > 0 ? newPeers : 0)
  return [counters === next.counters ? next : { ...next, counters }, fx]
}

const route = (s: StackState, event: StackEvent, frames: FrameAllocator): Result => {
  switch (event._tag) {
    case "HostFwdAdd": {
      const fx: Array<StackEffect> = []
      const [hostfwd, out] = addHostFwd(s.hostfwd, event, s.sockets.next)
      return [emit({ ...s, hostfwd }, { now: event.now, frames }, out, fx), fx]
    }
    case "HostFwdRemove": {
      const fx: Array<StackEffect> = []
      const [hostfwd, out] = removeHostFwd(s.hostfwd, event.id)
      return [emit({ ...s, hostfwd }, { now: event.now, frames }, out, fx), fx]
    }
    case "HostTcpAccepted":
      return hostTcpAccepted(s, { now: event.now, frames }, event)
    case "GuestFwdAdd":
      return guestFwdAdd(s, event)
    case "GuestFwdRemove":
      return guestFwdRemove(s, event.id)
    case "FrameFromGuest":
      return frameFromGuest(s, { now: event.now, frames }, event.frame)
    case "TimerFired":
      return timerFired(s, { now: event.now, frames }, event.timer)
    case "Shutdown":
      return shutdown(s, event.now)
    case "HostFileOpened":
    case "HostFileData":
    case "HostFileError":
      return fileEvent(s, { now: event.now, frames }, event)
    default:
      return hostEvent(s, { now: event.now, frames }, event)
  }
}
