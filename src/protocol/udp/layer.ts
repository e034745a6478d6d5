/**
 * UDP NAPT: one host UDP socket per guest (source address, source port), as libslirp does.
 *
 * - The destination is routed by the policy module (policy/policy.ts): the gateway (and
 *   broadcast) go to the host's 127.0.0.1, the DNS address's port 53 goes to the upstream
 *   resolver, other ports of the DNS address get ICMP port unreachable, and the rest of the
 *   virtual network is dropped.
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
import type { HostSocketClosed, HostSocketError, HostUdpDatagram, HostUnreachable } from "../../effects/event.ts"
import type { HostEndpoint } from "../../effects/address.ts"
import type { SocketId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import { quoteDatagram } from "../ipv4/quote.ts"
import { PROTO_UDP } from "../ipv4/wire.ts"
import { parseDnsHeader } from "../dns/wire.ts"
import { countOf, flowForGuest, flowForSock, putFlow, removeFlow, touch } from "../flows/flow-table.ts"
import type { NaptState, UdpFlow } from "../flows/napt.ts"
import { endpointOf, guestVisibleAddress, route } from "../policy/policy.ts"
import type { StackConfig } from "../stack/config.ts"
import type { LayerOutput } from "../stack/output.ts"
import { type Ipv4, formatIpv4 } from "../wire/ipv4-address.ts"
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

export interface UdpIn {
  readonly src: Ipv4
  readonly dst: Ipv4
  readonly ttl: number
  /** The guest's whole IP datagram, quoted by ICMP errors. */
  readonly datagram: Uint8Array
  readonly udp: UdpView
}

type Result = readonly [NaptState, ReadonlyArray<LayerOutput>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })
const parseDnsId = (b: Uint8Array): number | undefined => parseDnsHeader(b)?.id
const idleOf = (dnsOnly: boolean) => (dnsOnly ? UDP_DNS_IDLE_MS : UDP_IDLE_MS)

export const udpFromGuest = (s: NaptState, ctx: UdpContext, m: UdpIn): Result => {
  const c = ctx.config
  const { udp } = m
  const r = route(c, m.dst, udp.dstPort, true)
  let dnsId: number | undefined
  switch (r._tag) {
    case "Refuse":
      if (m.dst === c.dns) return [s, [{ _tag: "ErrorToGuest", family: 4, src: c.dns, reason: "port", original: m.datagram }]]
      return [s, [debug(`udp: to ${formatIpv4(m.dst)}:${udp.dstPort} dropped: ${r.reason}`)]]
    case "Blackhole":
      return [s, [debug(`udp: to ${formatIpv4(m.dst)}:${udp.dstPort} dropped: ${r.reason}`)]]
    case "Loopback":
      break
    case "External":
      if (m.ttl <= 1) return [s, [{ _tag: "ErrorToGuest", family: 4, src: c.host, reason: "ttl-exceeded", original: m.datagram }]]
      break
    case "DnsProxy":
      dnsId = parseDnsId(udp.payload)
      if (dnsId === undefined) return [s, [debug(`udp: malformed DNS query from ${formatIpv4(m.src)} dropped`)]]
      break
  }
  const to = endpointOf(r, udp.dstPort)!
  const send = (sock: SocketId): StackEffect => ({
    _tag: "UdpSend",
    sock,
    to,
    // A view: the guest's frame is the stack's and nobody writes it again (FrameFromGuest).
    data: udp.payload,
    ...(r._tag === "External" ? { ttl: m.ttl - 1 } : {}),
  })
  const dnsOnly = r._tag === "DnsProxy"
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
        }, ctx.now)[0]
      : touch(s.flows, existing, ctx.now)
    return [flows === s.flows ? s : { ...s, flows }, [send(existing.sock)]]
  }
  if (countOf(s.flows, "udp") >= UDP_MAX_FLOWS) return [s, [debug(`udp: ${UDP_MAX_FLOWS} flows open, datagram from ${formatIpv4(m.src)}:${udp.srcPort} dropped`)]]
  const sock = ctx.newSocket
  const flow: UdpFlow = {
    kind: "udp",
    sock,
    lastActive: ctx.now,
    idleMs: idleOf(dnsOnly),
    guest: m.src,
    guestPort: udp.srcPort,
    dnsPending: dnsId === undefined ? [] : [dnsId],
    dnsOnly,
  }
  const [flows, arm] = putFlow(s.flows, flow, ctx.now)
  return [{ ...s, flows }, [{ _tag: "UdpOpen", sock, family: 4 }, send(sock), ...arm]]
}

const sameEndpoint = (a: HostEndpoint, b: HostEndpoint | undefined) => b !== undefined && a.port === b.port && a.address === b.address

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

export type UdpHostEvent = HostUdpDatagram | HostUnreachable | HostSocketError | HostSocketClosed

/** An event of one of the UDP flows' host sockets; events of unknown sockets are ignored. */
export const udpHostEvent = (s: NaptState, ctx: Omit<UdpContext, "newSocket">, ev: UdpHostEvent): Result => {
  const flow = flowForSock(s.flows, ev.sock)
  if (flow === undefined || flow.kind !== "udp") return [s, []]
  switch (ev._tag) {
    case "HostUdpDatagram": {
      const r = replySource(ctx.config, flow, ev.from, ev.data)
      if (r === undefined) return [s, [debug(`udp: datagram from ${ev.from.address} has no IPv4 address for the guest`)]]
      const flows = r.flow === flow ? touch(s.flows, flow, ctx.now) : putFlow(s.flows, { ...r.flow, lastActive: ctx.now }, ctx.now)[0]
      const out: LayerOutput = {
        _tag: "PacketToGuest",
        family: 4,
        src: r.src,
        dst: flow.guest,
        protocol: PROTO_UDP,
        header: emitUdpHeader(r.port, flow.guestPort, ev.data.length),
        payload: ev.data,
        checksumOffset: UDP_CHECKSUM_OFFSET,
        pseudoHeader: true,
      }
      return [flows === s.flows ? s : { ...s, flows }, [out]]
    }
    case "HostUnreachable": {
      const c = ctx.config
      const dst = sameEndpoint(ev.to, c.dnsUpstream) && flow.dnsPending.length > 0
        ? c.dns
        : guestVisibleAddress(c, ev.to.address)
      if (dst === undefined) return [s, []]
      const dstPort = dst === c.dns ? 53 : ev.to.port
      const from = ev.from === undefined ? undefined : guestVisibleAddress(c, ev.from)
      const original = quoteDatagram(PROTO_UDP, flow.guest, dst, emitUdpHeader(flow.guestPort, dstPort, 0))
      return [s, [{ _tag: "ErrorToGuest", family: 4, src: from ?? dst, reason: ev.reason, original, ...(ev.mtu === undefined ? {} : { mtu: ev.mtu }) }]]
    }
    case "HostSocketError":
      return [{ ...s, flows: removeFlow(s.flows, ev.sock) }, [{ _tag: "SocketClose", sock: ev.sock }, debug(`udp: socket for ${formatIpv4(flow.guest)}:${flow.guestPort} failed: ${ev.code}`)]]
    case "HostSocketClosed":
      return [{ ...s, flows: removeFlow(s.flows, ev.sock) }, []]
  }
}
