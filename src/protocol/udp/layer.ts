/**
 * UDP NAPT: one host UDP socket per guest (source address, source port), as libslirp does, for
 * IPv4 and IPv6 alike: an address's type tells its family (wire/ip-address.ts), and each
 * family's rules come from the policy module (`route` / `route6`).
 *
 * - The destination is routed by the policy module (policy/policy.ts): the gateway (and, for
 *   IPv4, broadcast) go to the host's 127.0.0.1 or ::1, the DNS address's port 53 (IPv6: global
 *   or link-local) goes to the upstream resolver, other ports of the DNS address get ICMP(v6)
 *   port unreachable, and the rest of the virtual network is dropped. An IPv6 flow opens an
 *   IPv6 host socket.
 * - Replies from any remote are accepted and delivered to the guest from the address the remote
 *   appears as (policy: 127.0.0.1 appears as the gateway). A reply from the upstream resolver
 *   whose DNS id matches a query the guest sent to the DNS address comes from the DNS address,
 *   port 53.
 * - Flows live in the NAPT flow table shared with ICMP (flows/napt.ts) and expire after 4
 *   minutes idle, or 10 s when they only ever carried DNS queries (libslirp's SO_EXPIRE and
 *   SO_EXPIREFAST); the stack runs the table's sweep.
 * - The host's ICMP errors for a flow become ICMP errors to the guest.
 * - At most UDP_MAX_FLOWS flows; a datagram needing one more is dropped with a log line.
 * - A new flow's socket is `ctx.newSocket` (the stack's allocator records the owner when it
 *   sees the `UdpOpen`).
 * - Datagrams to the host are views of the guest's frame, which the stack owns (FrameFromGuest).
 * Pure: the NAPT state is replaced, never written.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { LogFlow } from "../../effects/log.ts"
import type { HostSocketClosed, HostSocketError, HostUdpDatagram, HostUnreachable } from "../../effects/event.ts"
import type { HostEndpoint } from "../../effects/address.ts"
import type { SocketId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import { quoteDatagram } from "../ipv4/quote.ts"
import { PROTO_UDP } from "../ipv4/wire.ts"
import { quoteDatagram6 } from "../ipv6/quote.ts"
import { parseDnsHeader } from "../dns/wire.ts"
import { countOf, flowForGuest, flowForSock, putFlow, removeFlow, touch } from "../flows/flow-table.ts"
import type { NaptState, UdpFlow } from "../flows/napt.ts"
import { type Route, endpointOf, gatewayFor6, guestVisibleAddress, guestVisibleAddress6, isDns6, isGateway6, route, route6, unmappedHostAddress } from "../policy/policy.ts"
import type { StackConfig } from "../stack/config.ts"
import { type LayerOutput, errorToGuest } from "../stack/output.ts"
import { logLine, portFlow } from "../flows/log-flow.ts"
import { type IpAddress, familyOf, formatIp } from "../wire/ip-address.ts"
import { UDP_CHECKSUM_OFFSET, type UdpView, emitUdpHeader } from "./wire.ts"

export const UDP_IDLE_MS = 240_000
export const UDP_DNS_IDLE_MS = 10_000
export const UDP_MAX_FLOWS = 1024
/** Outstanding DNS ids remembered per flow: a resolver library rarely has more than a few. */
export const DNS_PENDING_MAX = 64

export interface UdpContext {
  readonly config: StackConfig
  readonly now: Instant
  /** The socket id a flow opened during this call gets. */
  readonly newSocket: SocketId
}

/** A datagram from the guest; `src` and `dst` are of one family. */
export interface UdpIn {
  readonly src: IpAddress
  readonly dst: IpAddress
  readonly ttl: number
  /** The guest's whole IP datagram, quoted by ICMP errors. */
  readonly datagram: Uint8Array
  readonly udp: UdpView
}

type Result = readonly [NaptState, ReadonlyArray<LayerOutput>]

const debug = (message: string, flow?: LogFlow): StackEffect => logLine("debug", message, flow)
const parseDnsId = (b: Uint8Array): number | undefined => parseDnsHeader(b)?.id
const idleOf = (dnsOnly: boolean) => (dnsOnly ? UDP_DNS_IDLE_MS : UDP_IDLE_MS)

/** An ICMP(v6) error about the guest's datagram `original`, from our address `src` of its family. */
const errorTo = errorToGuest

const routeOf = (c: StackConfig, dst: IpAddress, port: number): Route => (typeof dst === "number" ? route(c, dst, port, true) : route6(c, dst, port))
const isDnsAddress = (c: StackConfig, a: IpAddress): boolean => (typeof a === "number" ? a === c.dns : isDns6(c, a))
/** The gateway of `a`'s family, on its scope (fe80::2 for a link-local IPv6 peer). */
const gatewayFor = (c: StackConfig, a: IpAddress): IpAddress => (typeof a === "number" ? c.host : gatewayFor6(c, a))

export const udpFromGuest = (s: NaptState, ctx: UdpContext, m: UdpIn): Result => {
  const c = ctx.config
  const { udp } = m
  const family = familyOf(m.src)
  const r = routeOf(c, m.dst, udp.dstPort)
  let dnsId: number | undefined
  switch (r._tag) {
    case "Refuse":
      if (isDnsAddress(c, m.dst)) return [s, [errorTo(m.dst, "port", m.datagram)]]
      return [s, [debug(`udp: to ${formatIp(m.dst)}:${udp.dstPort} dropped: ${r.reason}`, portFlow("udp", m.src, udp.srcPort, m.dst, udp.dstPort))]]
    case "Blackhole":
      return [s, [debug(`udp: to ${formatIp(m.dst)}:${udp.dstPort} dropped: ${r.reason}`, portFlow("udp", m.src, udp.srcPort, m.dst, udp.dstPort))]]
    case "Loopback":
      break
    case "External":
      if (m.ttl <= 1) return [s, [errorTo(gatewayFor(c, m.src), "ttl-exceeded", m.datagram)]]
      break
    case "DnsProxy":
      dnsId = parseDnsId(udp.payload)
      if (dnsId === undefined) return [s, [debug(`udp: malformed DNS query from ${formatIp(m.src)} dropped`, portFlow("udp", m.src, udp.srcPort, m.dst, udp.dstPort))]]
      break
  }
  const to = endpointOf(r, udp.dstPort, family)!
  const send = (sock: SocketId): StackEffect => ({
    _tag: "UdpSend",
    sock,
    to,
    // A view: the guest's frame is the stack's and nobody writes it again (FrameFromGuest).
    data: udp.payload,
    ...(r._tag === "External" ? { ttl: m.ttl - 1 } : {}),
  })
  const dnsOnly = r._tag === "DnsProxy"
  // IPv4 has one DNS address; IPv6 two (global, link-local): remember which one was asked.
  const dnsVia = dnsId !== undefined && typeof m.dst !== "number" ? m.dst.slice(0, 16) : undefined
  const existing = flowForGuest(s.flows, "udp", m.src, udp.srcPort)
  if (existing !== undefined && existing.kind === "udp") {
    const changed = dnsId !== undefined || (existing.dnsOnly && !dnsOnly)
    const flows = changed
      ? putFlow(s.flows, {
          ...existing,
          lastActive: ctx.now,
          dnsPending: dnsId === undefined ? existing.dnsPending : [...existing.dnsPending.slice(-(DNS_PENDING_MAX - 1)), dnsId],
          dnsOnly: existing.dnsOnly && dnsOnly,
          idleMs: idleOf(existing.dnsOnly && dnsOnly),
          ...(dnsVia === undefined ? {} : { dnsVia }),
        }, ctx.now)[0]
      : touch(s.flows, existing, ctx.now)
    return [flows === s.flows ? s : { ...s, flows }, [send(existing.sock)]]
  }
  if (countOf(s.flows, "udp") >= UDP_MAX_FLOWS)
    return [s, [debug(`udp: ${UDP_MAX_FLOWS} flows open, datagram from ${formatIp(m.src)}:${udp.srcPort} dropped`, portFlow("udp", m.src, udp.srcPort, m.dst, udp.dstPort))]]
  const sock = ctx.newSocket
  const flow: UdpFlow = {
    kind: "udp",
    sock,
    lastActive: ctx.now,
    idleMs: idleOf(dnsOnly),
    // The guest's address may be a view of its frame: an IPv6 one is copied before it is kept.
    guest: typeof m.src === "number" ? m.src : m.src.slice(0, 16),
    guestPort: udp.srcPort,
    dnsPending: dnsId === undefined ? [] : [dnsId],
    dnsOnly,
    ...(dnsVia === undefined ? {} : { dnsVia }),
  }
  const [flows, arm] = putFlow(s.flows, flow, ctx.now)
  return [{ ...s, flows }, [{ _tag: "UdpOpen", sock, family }, send(sock), ...arm]]
}

/** Same host endpoint; an IPv6 socket reports an IPv4 peer as ::ffff:a.b.c.d (policy's one form). */
const sameEndpoint = (a: HostEndpoint, b: HostEndpoint | undefined) =>
  b !== undefined && a.port === b.port && unmappedHostAddress(a.address) === unmappedHostAddress(b.address)

/** The DNS address a flow's answers come from: the one its guest asked. */
const dnsAddressOf = (c: StackConfig, f: UdpFlow): IpAddress => (typeof f.guest === "number" ? c.dns : (f.dnsVia ?? c.ipv6Dns))

/** The address a host peer appears as to a guest of `guest`'s family. */
const visibleTo = (c: StackConfig, guest: IpAddress, hostAddress: string): IpAddress | undefined => {
  if (typeof guest === "number") return guestVisibleAddress(c, hostAddress)
  const a = guestVisibleAddress6(c, hostAddress)
  // A link-local guest talks to our link-local gateway.
  return a !== undefined && isGateway6(c, a) ? gatewayFor(c, guest) : a
}

/** Where a datagram from `from` appears to come from, and the flow after matching DNS ids. */
const replySource = (c: StackConfig, f: UdpFlow, from: HostEndpoint, data: Uint8Array): { src: IpAddress; port: number; flow: UdpFlow } | undefined => {
  if (f.dnsPending.length > 0 && sameEndpoint(from, c.dnsUpstream)) {
    const id = parseDnsId(data)
    const i = id === undefined ? -1 : f.dnsPending.indexOf(id)
    if (i >= 0) return { src: dnsAddressOf(c, f), port: 53, flow: { ...f, dnsPending: [...f.dnsPending.slice(0, i), ...f.dnsPending.slice(i + 1)] } }
  }
  const src = visibleTo(c, f.guest, from.address)
  return src === undefined ? undefined : { src, port: from.port, flow: f }
}

/** A datagram to the guest of the flow, from `src` (same family as the flow's guest). */
const toGuest = (f: UdpFlow, src: IpAddress, srcPort: number, data: Uint8Array): LayerOutput | undefined => {
  const fields = { _tag: "PacketToGuest", protocol: PROTO_UDP, header: emitUdpHeader(srcPort, f.guestPort, data.length), payload: data, checksumOffset: UDP_CHECKSUM_OFFSET, pseudoHeader: true } as const
  if (typeof f.guest === "number") return typeof src === "number" ? { ...fields, family: 4, src, dst: f.guest } : undefined
  return typeof src === "number" ? undefined : { ...fields, family: 6, src, dst: f.guest }
}

export type UdpHostEvent = HostUdpDatagram | HostUnreachable | HostSocketError | HostSocketClosed

/** An event of one of the UDP flows' host sockets; events of unknown sockets are ignored. */
export const udpHostEvent = (s: NaptState, ctx: Omit<UdpContext, "newSocket">, ev: UdpHostEvent): Result => {
  const flow = flowForSock(s.flows, ev.sock)
  if (flow === undefined || flow.kind !== "udp") return [s, []]
  switch (ev._tag) {
    case "HostUdpDatagram": {
      const r = replySource(ctx.config, flow, ev.from, ev.data)
      const out = r === undefined ? undefined : toGuest(flow, r.src, r.port, ev.data)
      if (r === undefined || out === undefined)
        return [s, [debug(`udp: datagram from ${ev.from.address} has no IPv${familyOf(flow.guest)} address for the guest`, portFlow("udp", flow.guest, flow.guestPort))]]
      const flows = r.flow === flow ? touch(s.flows, flow, ctx.now) : putFlow(s.flows, { ...r.flow, lastActive: ctx.now }, ctx.now)[0]
      return [flows === s.flows ? s : { ...s, flows }, [out]]
    }
    case "HostUnreachable": {
      const c = ctx.config
      const viaDns = sameEndpoint(ev.to, c.dnsUpstream) && flow.dnsPending.length > 0
      const dst = viaDns ? dnsAddressOf(c, flow) : visibleTo(c, flow.guest, ev.to.address)
      if (dst === undefined || familyOf(dst) !== familyOf(flow.guest)) return [s, []]
      const head = emitUdpHeader(flow.guestPort, viaDns ? 53 : ev.to.port, 0)
      const from = ev.from === undefined ? undefined : visibleTo(c, flow.guest, ev.from)
      const src = from !== undefined && familyOf(from) === familyOf(dst) ? from : dst
      const original = typeof flow.guest === "number" ? quoteDatagram(PROTO_UDP, flow.guest, dst as number, head) : quoteDatagram6(PROTO_UDP, flow.guest, dst as Uint8Array, head)
      return [s, [errorTo(src, ev.reason, original, ev.mtu)]]
    }
    case "HostSocketError":
      return [
        { ...s, flows: removeFlow(s.flows, ev.sock) },
        [{ _tag: "SocketClose", sock: ev.sock }, debug(`udp: socket for ${formatIp(flow.guest)}:${flow.guestPort} failed: ${ev.code}`, portFlow("udp", flow.guest, flow.guestPort))],
      ]
    case "HostSocketClosed":
      return [{ ...s, flows: removeFlow(s.flows, ev.sock) }, []]
  }
}
