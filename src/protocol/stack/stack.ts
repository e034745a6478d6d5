/**
 * The stack reducer: one instance per guest. It routes each event to the layer that owns it
 * (Ethernet/ARP, IPv4 with reassembly, ICMP, UDP, TCP, the DHCP server) and turns the layers'
 * outputs into effects: packets for the guest become frames (built once, fragmented to the MTU,
 * addressed through ARP), everything else passes through in order.
 *
 * Contract: `reduce` never throws on any event; hostile frames are dropped with a debug log.
 * The state passed in is not modified (layers replace what they change), so a caller may keep
 * old states; the TCP layer documents its own ownership rule for its connection table.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { StackEvent } from "../../effects/event.ts"
import type { TimerId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import { absurd } from "../../effects/absurd.ts"
import { type DhcpServerState, createDhcpServer, dhcpInput } from "../dhcp/server.ts"
import { parseArp } from "../ethernet/arp-wire.ts"
import { type FrameAllocator, freshFrames } from "../ethernet/frame-buffer.ts"
import { type NeighborContext, type NeighborState, arpInput, arpTimerId, arpTimeout, emptyNeighbors, learn, sendIpv4Frame } from "../ethernet/neighbors.ts"
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN, parseEthernet } from "../ethernet/wire.ts"
import { type IcmpState, createIcmpLayer, icmpFromGuest, icmpHostEvent, icmpShutdown, icmpTimer, isIcmpSocket } from "../icmp/layer.ts"
import { emitIcmpError, isIcmpError } from "../icmp/wire.ts"
import { buildIpv4Frames } from "../ipv4/output.ts"
import { REASS_TIMER_PREFIX, type ReassemblyState, addFragment, emptyReassembly, reassemblyTimeout, reassemblyTimer } from "../ipv4/reassembly.ts"
import { type Ipv4View, IPV4_HEADER_LEN, PROTO_ICMP, PROTO_TCP, PROTO_UDP, isFragment, parseIpv4Header } from "../ipv4/wire.ts"
import { defaultTcpConfig } from "../tcp/config.ts"
import { type TcpContext, type TcpLayerState, createTcpLayer, isTcpSocket, tcpFromGuest, tcpHostEvent, tcpShutdown, tcpTimer } from "../tcp/layer.ts"
import { type UdpState, createUdpLayer, isUdpSocket, udpFromGuest, udpHostEvent, udpShutdown, udpTimer } from "../udp/layer.ts"
import { parseUdp } from "../udp/wire.ts"
import { get16, get32 } from "../wire/bytes.ts"
import { IPV4_BROADCAST, type Ipv4, formatIpv4, inSubnet } from "../wire/ipv4-address.ts"
import { macEquals, virtualMac } from "../wire/mac.ts"
import { type StackConfig, broadcastAddress, netmask } from "./config.ts"
import type { Ipv4ToGuest, LayerOutput } from "./output.ts"
import { hostEndpointFor } from "./routing.ts"

const DHCP_SERVER_PORT = 67

/** Values derived once from the config. */
interface StackEnv {
  readonly neighbors: NeighborContext
  readonly tcpEndpointFor: TcpContext["hostEndpointFor"]
  readonly isGuestAddress: (ip: Ipv4) => boolean
}

export interface StackState {
  readonly config: StackConfig
  readonly env: StackEnv
  readonly neighbors: NeighborState
  readonly reassembly: ReassemblyState
  readonly icmp: IcmpState
  readonly udp: UdpState
  readonly tcp: TcpLayerState
  readonly dhcp: DhcpServerState
  /** IPv4 Identification of our next datagram. */
  readonly ipId: number
}

const makeEnv = (c: StackConfig): StackEnv => {
  const mask = netmask(c)
  const bcast = broadcastAddress(c)
  const isGuestAddress = (ip: Ipv4) => inSubnet(ip, c.network, mask) && ip !== c.network && ip !== bcast && ip !== c.host && ip !== c.dns
  const gatewayMac = virtualMac(c.host)
  const hostMac = gatewayMac
  const dnsMac = virtualMac(c.dns)
  return {
    neighbors: {
      gatewayMac,
      gatewayIp: c.host,
      isGuestAddress,
      virtualMacFor: (ip) => (ip === c.host ? hostMac : ip === c.dns ? dnsMac : undefined),
    },
    tcpEndpointFor: (dst, port) => hostEndpointFor(c, dst, port),
    isGuestAddress,
  }
}

/**
 * Per-connection TCP buffer bound unless the config sets one: the default (256 KiB), or 32
 * full segments at a jumbo MTU, so that a window of data is in flight on a link whose frames
 * are 20-40 times larger (a few ms of scheduling delay would otherwise empty the pipe).
 */
const tcpBufferBytes = (c: StackConfig): number => c.tcpBufferBytes ?? Math.max(defaultTcpConfig.bufferBytes, 32 * c.mtu)

export const createStack = (config: StackConfig, _now?: Instant): StackState => ({
  config,
  env: makeEnv(config),
  neighbors: emptyNeighbors,
  reassembly: emptyReassembly,
  icmp: createIcmpLayer(),
  udp: createUdpLayer(),
  tcp: createTcpLayer(config.seed, { bufferBytes: tcpBufferBytes(config) }),
  dhcp: createDhcpServer(),
  ipId: config.seed & 0xffff,
})

type Result = readonly [StackState, ReadonlyArray<StackEffect>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })

/** Turns layer outputs into effects, appending to `fx`; returns the state with ARP and ip id updated. */
const emit = (s0: StackState, now: Instant, outputs: ReadonlyArray<LayerOutput>, fx: Array<StackEffect>, alloc: FrameAllocator): StackState => {
  let s = s0
  for (const o of outputs) {
    switch (o._tag) {
      case "Ipv4ToGuest":
        s = sendToGuest(s, now, o, fx, alloc)
        break
      case "IcmpErrorToGuest": {
        const p = icmpErrorPacket(s, o.src, o.type, o.code, o.original, o.mtu)
        if (p === undefined) fx.push(debug(`icmp: no error sent about a datagram that must not get one`))
        else s = sendToGuest(s, now, p, fx, alloc)
        break
      }
      default:
        fx.push(o)
    }
  }
  return s
}

const sendToGuest = (s: StackState, now: Instant, o: Ipv4ToGuest, fx: Array<StackEffect>, alloc: FrameAllocator): StackState => {
  const built = buildIpv4Frames(o, s.ipId, s.config.mtu, alloc)
  const ipId = (s.ipId + 1) & 0xffff
  if (!built.ok) {
    fx.push({ _tag: "Log", level: "warn", message: built.reason })
    return { ...s, ipId }
  }
  let neighbors = s.neighbors
  // A reply addressed by MAC (DHCP) teaches us the guest's address for what follows.
  if (o.dstMac !== undefined && s.env.isGuestAddress(o.dst)) {
    const [n, lfx] = learn(neighbors, s.env.neighbors, o.dst, o.dstMac)
    neighbors = n
    for (const e of lfx) fx.push(e)
  }
  for (const f of built.frames) {
    const [n, nfx] = sendIpv4Frame(neighbors, s.env.neighbors, now, o.dst, f, o.dstMac)
    neighbors = n
    for (const e of nfx) fx.push(e)
  }
  return { ...s, neighbors, ipId }
}

/**
 * RFC 1122 §3.2.2: no ICMP error about an ICMP error, a non-initial fragment, or a datagram
 * whose source is not a single guest host.
 */
const icmpErrorPacket = (s: StackState, src: Ipv4, type: number, code: number, original: Uint8Array, mtu: number | undefined): Ipv4ToGuest | undefined => {
  if (original.length < IPV4_HEADER_LEN) return undefined
  const ihl = (original[0]! & 0x0f) * 4
  const origSrc = get32(original, 12)
  if (!s.env.isGuestAddress(origSrc)) return undefined
  if ((get16(original, 6) & 0x1fff) !== 0) return undefined
  if (original[9] === PROTO_ICMP && original.length > ihl && isIcmpError(original[ihl]!)) return undefined
  return {
    _tag: "Ipv4ToGuest",
    src,
    dst: origSrc,
    protocol: PROTO_ICMP,
    header: emitIcmpError(type, code, original, mtu),
    checksumOffset: -1,
    pseudoHeader: false,
  }
}

const frameFromGuest = (s: StackState, now: Instant, frame: Uint8Array, alloc: FrameAllocator): Result => {
  const eth = parseEthernet(frame)
  if (eth === undefined) return [s, [debug(`ethernet: runt frame of ${frame.length} bytes dropped`)]]
  switch (eth.ethertype) {
    case ETHERTYPE_ARP: {
      const p = parseArp(frame, eth.payloadOffset)
      if (!p.ok) return [s, [debug(p.reason)]]
      const [neighbors, fx] = arpInput(s.neighbors, s.env.neighbors, p.packet)
      return [neighbors === s.neighbors ? s : { ...s, neighbors }, fx]
    }
    case ETHERTYPE_IPV4: {
      if (!s.config.ipv4) return [s, [debug("ipv4: disabled, frame dropped")]]
      const p = parseIpv4Header(frame, eth.payloadOffset)
      if (!p.ok) return [s, [debug(p.reason)]]
      return ipv4FromGuest(s, now, p.ip, frame, alloc)
    }
    default:
      return [s, [debug(`ethernet: ethertype 0x${eth.ethertype.toString(16).padStart(4, "0")} dropped`)]]
  }
}

const ipv4FromGuest = (s0: StackState, now: Instant, ip0: Ipv4View, frame: Uint8Array, alloc: FrameAllocator): Result => {
  const fx: Array<StackEffect> = []
  let s = s0
  // Learn the guest's MAC from its IP traffic. Every guest frame passes here, so the common
  // case (the address is known with this MAC) is one map lookup and no allocation.
  const known = s.neighbors.cache.get(ip0.src)
  if ((known === undefined || !macEquals(frame, 6, known)) && s.env.isGuestAddress(ip0.src)) {
    const [neighbors, lfx] = learn(s.neighbors, s.env.neighbors, ip0.src, frame.subarray(6, 12))
    if (neighbors !== s.neighbors) s = { ...s, neighbors }
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
  const datagram = ip.buf.subarray(ip.offset, ip.offset + ip.totalLength)
  const payload = ip.buf.subarray(ip.payloadOffset, ip.payloadOffset + ip.payloadLength)
  switch (ip.protocol) {
    case PROTO_TCP: {
      const [tcp, out] = tcpFromGuest(s.tcp, tcpContext(s, now), { src: ip.src, dst: ip.dst, ttl: ip.ttl, ipHeader: ip.buf.subarray(ip.offset, ip.payloadOffset), segment: payload })
      return [emit({ ...s, tcp }, now, out, fx, alloc), fx]
    }
    case PROTO_UDP: {
      const u = parseUdp(payload, ip.src, ip.dst)
      if (!u.ok) return [s, [...fx, debug(u.reason)]]
      if (u.udp.dstPort === DHCP_SERVER_PORT && (ip.dst === IPV4_BROADCAST || ip.dst === c.host || ip.dst === broadcastAddress(c))) {
        const [dhcp, out] = dhcpInput(s.dhcp, c, now, { srcMac: frame.subarray(6, 12), payload: u.udp.payload })
        return [emit({ ...s, dhcp }, now, out, fx, alloc), fx]
      }
      const [udp, out] = udpFromGuest(s.udp, { config: c, now }, { src: ip.src, dst: ip.dst, ttl: ip.ttl, datagram, udp: u.udp })
      return [emit(udp === s.udp ? s : { ...s, udp }, now, out, fx, alloc), fx]
    }
    case PROTO_ICMP: {
      const [icmp, out] = icmpFromGuest(s.icmp, { config: c, now }, { src: ip.src, dst: ip.dst, ttl: ip.ttl, datagram, message: payload })
      return [emit(icmp === s.icmp ? s : { ...s, icmp }, now, out, fx, alloc), fx]
    }
    default:
      fx.push(debug(`ipv4: protocol ${ip.protocol} from ${formatIpv4(ip.src)} dropped`))
      return [s, fx]
  }
}

const timerFired = (s: StackState, now: Instant, timer: TimerId, alloc: FrameAllocator): Result => {
  const fx: Array<StackEffect> = []
  const ctx = { config: s.config, now }
  if (timer.startsWith("tcp:")) {
    const [tcp, out] = tcpTimer(s.tcp, tcpContext(s, now), timer)
    return [emit({ ...s, tcp }, now, out, fx, alloc), fx]
  }
  if (timer.startsWith("udp:")) {
    const [udp, out] = udpTimer(s.udp, ctx, timer)
    return [emit({ ...s, udp }, now, out, fx, alloc), fx]
  }
  if (timer.startsWith("icmp:")) {
    const [icmp, out] = icmpTimer(s.icmp, ctx, timer)
    return [emit({ ...s, icmp }, now, out, fx, alloc), fx]
  }
  if (timer.startsWith("arp:")) {
    const ip = Number(timer.slice(4))
    if (!Number.isInteger(ip)) return [s, []]
    const [neighbors, afx] = arpTimeout(s.neighbors, ip, now)
    return [{ ...s, neighbors }, afx]
  }
  if (timer.startsWith(REASS_TIMER_PREFIX)) {
    const [reassembly, , rfx] = reassemblyTimeout(s.reassembly, timer.slice(REASS_TIMER_PREFIX.length), now)
    return [{ ...s, reassembly }, rfx]
  }
  return [s, [debug(`timer ${timer} has no owner`)]]
}

const shutdown = (s: StackState, now: Instant): Result => {
  const fx: Array<StackEffect> = []
  const [, tcpOut] = tcpShutdown(s.tcp, tcpContext(s, now))
  const [, udpOut] = udpShutdown(s.udp)
  const [, icmpOut] = icmpShutdown(s.icmp)
  for (const o of [...tcpOut, ...udpOut, ...icmpOut]) if (o._tag !== "Ipv4ToGuest" && o._tag !== "IcmpErrorToGuest") fx.push(o)
  for (const ip of s.neighbors.pending.keys()) fx.push({ _tag: "CancelTimer", timer: arpTimerId(ip) })
  for (const key of s.reassembly.datagrams.keys()) fx.push({ _tag: "CancelTimer", timer: reassemblyTimer(key) })
  fx.push({ _tag: "Log", level: "info", message: "stack: shut down, every host socket closed" })
  return [{ ...createStack(s.config, now), ipId: s.ipId }, fx]
}

const tcpContext = (s: StackState, now: Instant): TcpContext => ({ now, mtu: s.config.mtu, hostEndpointFor: s.env.tcpEndpointFor })

const toTcp = (s: StackState, event: Parameters<typeof tcpHostEvent>[2], alloc: FrameAllocator): Result => {
  const fx: Array<StackEffect> = []
  const [tcp, out] = tcpHostEvent(s.tcp, tcpContext(s, event.now), event)
  return [emit({ ...s, tcp }, event.now, out, fx, alloc), fx]
}

const toUdp = (s: StackState, event: Parameters<typeof udpHostEvent>[2], alloc: FrameAllocator): Result => {
  const fx: Array<StackEffect> = []
  const [udp, out] = udpHostEvent(s.udp, { config: s.config, now: event.now }, event)
  return [emit(udp === s.udp ? s : { ...s, udp }, event.now, out, fx, alloc), fx]
}

const toIcmp = (s: StackState, event: Parameters<typeof icmpHostEvent>[2], alloc: FrameAllocator): Result => {
  const fx: Array<StackEffect> = []
  const [icmp, out] = icmpHostEvent(s.icmp, { config: s.config, now: event.now }, event)
  return [emit(icmp === s.icmp ? s : { ...s, icmp }, event.now, out, fx, alloc), fx]
}

export const reduce = (s: StackState, event: StackEvent, alloc: FrameAllocator = freshFrames): Result => {
  switch (event._tag) {
    case "FrameFromGuest":
      return frameFromGuest(s, event.now, event.frame, alloc)
    case "HostTcpConnected":
    case "HostTcpData":
    case "HostTcpEof":
    case "HostTcpWritten":
      return toTcp(s, event, alloc)
    case "HostUdpDatagram":
      return toUdp(s, event, alloc)
    case "HostIcmpEchoReply":
      return toIcmp(s, event, alloc)
    case "HostUnreachable":
    case "HostSocketError":
    case "HostSocketClosed":
      if (isUdpSocket(event.sock)) return toUdp(s, event, alloc)
      if (isIcmpSocket(event.sock)) return toIcmp(s, event, alloc)
      if (isTcpSocket(event.sock) && event._tag !== "HostUnreachable") return toTcp(s, event, alloc)
      return [s, [debug(`${event._tag} for unknown socket ${event.sock} ignored`)]]
    case "TimerFired":
      return timerFired(s, event.now, event.timer, alloc)
    case "Shutdown":
      return shutdown(s, event.now)
    default:
      return absurd(event)
  }
}
