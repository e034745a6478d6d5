/**
 * UDP NAPT: one host UDP socket per guest (source address, source port), as libslirp does.
 *
 * - The destination is routed by `routing.ts`: the gateway (and broadcast) go to the host's
 *   127.0.0.1, the DNS address's port 53 goes to the upstream resolver, other ports of the DNS
 *   address get ICMP port unreachable, and the rest of the virtual network is dropped.
 * - Replies from any remote are accepted and delivered to the guest from the address the remote
 *   appears as (127.0.0.1 appears as the gateway). A reply from the upstream resolver whose
 *   DNS id matches a query the guest sent to the DNS address comes from the DNS address, port 53.
 * - Flows expire after 4 minutes idle, or 10 s when they only ever carried DNS queries
 *   (libslirp's SO_EXPIRE and SO_EXPIREFAST); a sweep timer runs while any flow exists.
 * - The host's ICMP errors for a flow become ICMP errors to the guest.
 * - At most UDP_MAX_FLOWS flows; a datagram needing one more is dropped with a log line.
 * The table is keyed by the guest side only, so a later feature (host forwarding) can add flows
 * that the host side opened.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { HostSocketClosed, HostSocketError, HostUdpDatagram, HostUnreachable } from "../../effects/event.ts"
import type { HostEndpoint } from "../../effects/address.ts"
import { type SocketId, type TimerId, socketId, timerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"
import { icmpForHostReason } from "../icmp/host-errors.ts"
import { ICMP_DEST_UNREACHABLE, ICMP_TIME_EXCEEDED, UNREACH_PORT } from "../icmp/wire.ts"
import { quoteDatagram } from "../ipv4/quote.ts"
import { PROTO_UDP } from "../ipv4/wire.ts"
import { parseDnsHeader } from "../dns/wire.ts"
import type { StackConfig } from "../stack/config.ts"
import { type Flow, type FlowTable, closeAllFlows, emptyFlows, flowForSock, putFlow, removeFlow, sweepFlows, touch } from "../stack/flows.ts"
import type { LayerOutput } from "../stack/output.ts"
import { guestVisibleAddress, route } from "../stack/routing.ts"
import { type Ipv4, formatIpv4 } from "../wire/ipv4-address.ts"
import { UDP_CHECKSUM_OFFSET, type UdpView, emitUdpHeader } from "./wire.ts"

export const UDP_IDLE_MS = 240_000
export const UDP_DNS_IDLE_MS = 10_000
export const UDP_SWEEP_MS = 5_000
export const UDP_MAX_FLOWS = 1024
/** Outstanding DNS ids remembered per flow: a resolver library rarely has more than a few. */
export const DNS_PENDING_MAX = 64
export const UDP_SOCKET_BASE = 0x40000000
export const UDP_SWEEP_TIMER: TimerId = timerId("udp:sweep")

interface UdpFlow extends Flow {
  readonly guest: Ipv4
  readonly guestPort: number
  /** DNS ids of queries sent through the DNS proxy and not yet answered, oldest first. */
  readonly dnsPending: ReadonlyArray<number>
  /** Every datagram so far went to the DNS proxy: expire fast. */
  readonly dnsOnly: boolean
}

export interface UdpState {
  readonly flows: FlowTable<UdpFlow>
  readonly nextSock: number
  readonly sweepArmed: boolean
}

export const createUdpLayer = (): UdpState => ({ flows: emptyFlows(), nextSock: UDP_SOCKET_BASE, sweepArmed: false })

export const isUdpSocket = (sock: SocketId): boolean => sock >= UDP_SOCKET_BASE && sock < UDP_SOCKET_BASE + 0x20000000

export interface UdpContext {
  readonly config: StackConfig
  readonly now: Instant
}

export interface UdpIn {
  readonly src: Ipv4
  readonly dst: Ipv4
  readonly ttl: number
  /** The guest's whole IP datagram, quoted by ICMP errors. */
  readonly datagram: Uint8Array
  readonly udp: UdpView
}

type Result = readonly [UdpState, ReadonlyArray<LayerOutput>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })
const parseDnsId = (b: Uint8Array): number | undefined => parseDnsHeader(b)?.id
const keyOf = (guest: Ipv4, port: number) => `${guest}:${port}`

export const udpFromGuest = (s: UdpState, ctx: UdpContext, m: UdpIn): Result => {
  const c = ctx.config
  const { udp } = m
  const r = route(c, m.dst, udp.dstPort, true)
  let to: HostEndpoint
  let dnsId: number | undefined
  switch (r._tag) {
    case "Refuse":
      if (m.dst === c.dns) return [s, [{ _tag: "IcmpErrorToGuest", src: c.dns, type: ICMP_DEST_UNREACHABLE, code: UNREACH_PORT, original: m.datagram }]]
      return [s, [debug(`udp: to ${formatIpv4(m.dst)}:${udp.dstPort} dropped: ${r.reason}`)]]
    case "Loopback":
      to = { family: 4, address: "127.0.0.1", port: udp.dstPort }
      break
    case "External":
      if (m.ttl <= 1) return [s, [{ _tag: "IcmpErrorToGuest", src: c.host, type: ICMP_TIME_EXCEEDED, code: 0, original: m.datagram }]]
      to = { family: 4, address: r.address, port: udp.dstPort }
      break
    case "DnsProxy":
      dnsId = parseDnsId(udp.payload)
      if (dnsId === undefined) return [s, [debug(`udp: malformed DNS query from ${formatIpv4(m.src)} dropped`)]]
      to = c.dnsUpstream
      break
  }
  const send: StackEffect = {
    _tag: "UdpSend",
    sock: socketId(0),
    to,
    // The guest's frame is not ours after this call: the datagram is copied once, here.
    data: udp.payload.slice(),
    ...(r._tag === "External" ? { ttl: m.ttl - 1 } : {}),
  }
  const key = keyOf(m.src, udp.srcPort)
  const existing = s.flows.byKey.get(key)
  if (existing !== undefined) {
    const changed = dnsId !== undefined || (existing.dnsOnly && r._tag !== "DnsProxy")
    const flows = changed
      ? putFlow(s.flows, key, {
          ...existing,
          lastActive: ctx.now,
          dnsPending: dnsId === undefined ? existing.dnsPending : [...existing.dnsPending.slice(-(DNS_PENDING_MAX - 1)), dnsId],
          dnsOnly: existing.dnsOnly && r._tag === "DnsProxy",
        })
      : touch(s.flows, key, existing, ctx.now)
    return [{ ...s, flows }, [{ ...send, sock: existing.sock }]]
  }
  if (s.flows.byKey.size >= UDP_MAX_FLOWS) return [s, [debug(`udp: ${UDP_MAX_FLOWS} flows open, datagram from ${key} dropped`)]]
  const sock = socketId(s.nextSock)
  const flow: UdpFlow = {
    sock,
    lastActive: ctx.now,
    guest: m.src,
    guestPort: udp.srcPort,
    dnsPending: dnsId === undefined ? [] : [dnsId],
    dnsOnly: r._tag === "DnsProxy",
  }
  const out: Array<LayerOutput> = [{ _tag: "UdpOpen", sock, family: 4 }, { ...send, sock }]
  if (!s.sweepArmed) out.push({ _tag: "SetTimer", timer: UDP_SWEEP_TIMER, at: addMillis(ctx.now, UDP_SWEEP_MS) })
  return [{ flows: putFlow(s.flows, key, flow), nextSock: s.nextSock + 1, sweepArmed: true }, out]
}

const sameEndpoint = (a: HostEndpoint, b: HostEndpoint) => a.port === b.port && a.address === b.address

/** Where a datagram from `from` appears to come from, and the flow after matching DNS ids. */
const replySource = (c: StackConfig, f: UdpFlow, from: HostEndpoint, data: Uint8Array): { src: Ipv4; port: number; flow: UdpFlow } | undefined => {
  if (f.dnsPending.length > 0 && sameEndpoint(from, c.dnsUpstream)) {
    const id = parseDnsId(data)
    const i = id === undefined ? -1 : f.dnsPending.indexOf(id)
    if (i >= 0) return { src: c.dns, port: 53, flow: { ...f, dnsPending: [...f.dnsPending.slice(0, i), ...f.dnsPending.slice(i + 1)] } }
  }
  const src = guestVisibleAddress(c, from.address)
  return src === undefined ? undefined : { src, port: from.port, flow: f }
}

export const udpHostEvent = (s: UdpState, ctx: UdpContext, ev: HostUdpDatagram | HostUnreachable | HostSocketError | HostSocketClosed): Result => {
  const flow = flowForSock(s.flows, ev.sock)
  if (flow === undefined) return [s, []]
  const key = keyOf(flow.guest, flow.guestPort)
  switch (ev._tag) {
    case "HostUdpDatagram": {
      const r = replySource(ctx.config, flow, ev.from, ev.data)
      if (r === undefined) return [s, [debug(`udp: datagram from ${ev.from.address} has no IPv4 address for the guest`)]]
      const flows = r.flow === flow ? touch(s.flows, key, flow, ctx.now) : putFlow(s.flows, key, { ...r.flow, lastActive: ctx.now })
      const out: LayerOutput = {
        _tag: "Ipv4ToGuest",
        src: r.src,
        dst: flow.guest,
        protocol: PROTO_UDP,
        header: emitUdpHeader(r.port, flow.guestPort, ev.data.length),
        payload: ev.data,
        checksumOffset: UDP_CHECKSUM_OFFSET,
        pseudoHeader: true,
      }
      return [{ ...s, flows }, [out]]
    }
    case "HostUnreachable": {
      const dst = ev.to.address === ctx.config.dnsUpstream.address && ev.to.port === ctx.config.dnsUpstream.port && flow.dnsPending.length > 0
        ? ctx.config.dns
        : guestVisibleAddress(ctx.config, ev.to.address)
      if (dst === undefined) return [s, []]
      const dstPort = dst === ctx.config.dns ? 53 : ev.to.port
      const { type, code } = icmpForHostReason(ev.reason)
      const from = ev.from === undefined ? undefined : guestVisibleAddress(ctx.config, ev.from)
      const original = quoteDatagram(PROTO_UDP, flow.guest, dst, emitUdpHeader(flow.guestPort, dstPort, 0))
      return [s, [{ _tag: "IcmpErrorToGuest", src: from ?? dst, type, code, original, ...(ev.mtu === undefined ? {} : { mtu: ev.mtu }) }]]
    }
    case "HostSocketError":
      return [{ ...s, flows: removeFlow(s.flows, ev.sock) }, [{ _tag: "SocketClose", sock: ev.sock }, debug(`udp: socket for ${formatIpv4(flow.guest)}:${flow.guestPort} failed: ${ev.code}`)]]
    case "HostSocketClosed":
      return [{ ...s, flows: removeFlow(s.flows, ev.sock) }, []]
  }
}

export const udpTimer = (s: UdpState, ctx: UdpContext, timer: TimerId): Result => {
  if (timer !== UDP_SWEEP_TIMER) return [s, []]
  const idle = (f: UdpFlow) => (f.dnsOnly ? UDP_DNS_IDLE_MS : UDP_IDLE_MS)
  const [flows, sweepArmed, out] = sweepFlows(s.flows, ctx.now, idle, UDP_SWEEP_TIMER, UDP_SWEEP_MS, (f) => `udp: flow ${formatIpv4(f.guest)}:${f.guestPort}`)
  return [{ ...s, flows, sweepArmed }, out]
}

export const udpShutdown = (s: UdpState): Result => [createUdpLayer(), closeAllFlows(s.flows, UDP_SWEEP_TIMER, s.sweepArmed)]
