/**
 * The ICMPv4 layer, and the echo NAPT of both families (icmpv6/layer.ts forwards IPv6 echoes
 * through `forwardEcho` here; `icmpHostEvent` serves the flows of both, the flow's guest address
 * telling its family).
 *
 * - Echo requests to the gateway and DNS addresses are answered here (libslirp does the same).
 * - Echo requests to other addresses the policy module lets out (policy/policy.ts) are
 *   forwarded through one host ping socket per guest (address, identifier), a flow in the NAPT
 *   table shared with UDP (flows/napt.ts); the host kernel picks its own identifier, so
 *   replies are mapped back by socket and carry the guest's identifier again. A guest TTL of 1
 *   gets "time exceeded" from the gateway, and the host sends with TTL - 1, so traceroute sees
 *   one extra hop.
 * - Where the host forbids ping sockets (`net.ipv4.ping_group_range`, which governs ICMPv6 ping
 *   sockets too; or no IPv6 on the host), one warning is logged and later echoes of that family
 *   to external addresses are dropped.
 * - Errors the host reports for an echo become ICMP(v6) errors to the guest, quoting a rebuilt
 *   copy of the guest's request.
 * - Flows expire after ECHO_IDLE_MS without traffic (the stack runs the table's sweep); a new
 *   flow's socket is `ctx.newSocket`.
 * Pure: the NAPT state is replaced, never written; echo payloads to the host are views of the
 * guest's frame, which the stack owns (FrameFromGuest).
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { LogFlow } from "../../effects/log.ts"
import type { HostIcmpEchoReply, HostSocketClosed, HostSocketError, HostUnreachable } from "../../effects/event.ts"
import type { SocketId } from "../../effects/ids.ts"
import type { Instant } from "../../effects/instant.ts"
import { echoFlow, logLine } from "../flows/log-flow.ts"
import { put16 } from "../wire/bytes.ts"
import { type IpAddress, formatIp } from "../wire/ip-address.ts"
import { type Ipv4, formatIpv4 } from "../wire/ipv4-address.ts"
import { PROTO_ICMP } from "../ipv4/wire.ts"
import { quoteDatagram } from "../ipv4/quote.ts"
import { quoteDatagram6 } from "../ipv6/quote.ts"
import { NH_ICMPV6 } from "../ipv6/wire.ts"
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, emitEcho6 } from "../icmpv6/wire.ts"
import { countOf, flowForGuest, flowForSock, putFlow, removeFlow, touch } from "../flows/flow-table.ts"
import type { EchoFlow, NaptState } from "../flows/napt.ts"
import { guestVisibleAddress, guestVisibleAddress6, isForwardable } from "../policy/policy.ts"
import type { StackConfig } from "../stack/config.ts"
import { type LayerOutput, errorToGuest } from "../stack/output.ts"
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, emitEcho, parseIcmp } from "./wire.ts"

export const ECHO_IDLE_MS = 60_000
export const ICMP_MAX_FLOWS = 256

export interface IcmpContext {
  readonly config: StackConfig
  readonly now: Instant
  /** The socket id a flow opened during this call gets. */
  readonly newSocket: SocketId
}

/** An ICMP message from the guest: `datagram` is its whole IP datagram, `message` the ICMP part. */
export interface IcmpIn {
  readonly src: Ipv4
  readonly dst: Ipv4
  readonly ttl: number
  readonly datagram: Uint8Array
  readonly message: Uint8Array
}

type Result = readonly [NaptState, ReadonlyArray<LayerOutput>]

const debug = (message: string, flow?: LogFlow): StackEffect => logLine("debug", message, flow)

const echoReply = (src: Ipv4, dst: Ipv4, ident: number, sequence: number, data: Uint8Array, ttl?: number): LayerOutput => ({
  _tag: "PacketToGuest",
  family: 4,
  src,
  dst,
  protocol: PROTO_ICMP,
  ...(ttl === undefined ? {} : { ttl }),
  header: emitEcho(ICMP_ECHO_REPLY, ident, sequence, data),
  checksumOffset: -1,
  pseudoHeader: false,
})

/** An echo reply to the guest of `dst`'s family (ICMPv6's checksum covers the pseudo header, so it is sealed here). */
const echoReplyTo = (src: IpAddress, dst: IpAddress, ident: number, sequence: number, data: Uint8Array, ttl?: number): LayerOutput =>
  typeof dst === "number"
    ? echoReply(src as Ipv4, dst, ident, sequence, data, ttl)
    : {
        _tag: "PacketToGuest",
        family: 6,
        src: src as Uint8Array,
        dst,
        protocol: NH_ICMPV6,
        ...(ttl === undefined ? {} : { ttl }),
        header: emitEcho6(ICMPV6_ECHO_REPLY, ident, sequence, data, src as Uint8Array, dst),
        checksumOffset: -1,
        pseudoHeader: false,
      }

/** An echo request of either family that the policy lets out, as the IP layers hand it over. */
export interface EchoOut {
  readonly src: IpAddress
  readonly dst: IpAddress
  readonly ttl: number
  readonly ident: number
  readonly sequence: number
  /** The echo's data: a view of the guest's frame, sent to the host as is. */
  readonly body: Uint8Array
  /** The guest's whole datagram (quoted by time exceeded). */
  readonly datagram: Uint8Array
  /** Where time exceeded comes from: the gateway of the guest's family (and scope). */
  readonly gateway: IpAddress
}

const forbidden = (s: NaptState, a: IpAddress): boolean => (typeof a === "number" ? s.pingForbidden : s.ping6Forbidden)

/**
 * Forwards an echo request through the host ping socket of its (guest address, identifier)
 * flow, opening one of the family if needed; hop limit 1 gets time exceeded from the gateway.
 */
export const forwardEcho = (s: NaptState, ctx: IcmpContext, m: EchoOut): Result => {
  if (m.ttl <= 1) return [s, [errorToGuest(m.gateway, "ttl-exceeded", m.datagram)]]
  if (forbidden(s, m.src))
    return [s, [debug(`icmp: echo to ${formatIp(m.dst)} dropped: the host forbids IPv${typeof m.src === "number" ? 4 : 6} ping sockets`, echoFlow(m.src, m.ident, m.dst))]]
  const send = (sock: SocketId): StackEffect => ({
    _tag: "IcmpEchoSend",
    sock,
    to: formatIp(m.dst),
    sequence: m.sequence,
    // A view: the guest's frame is the stack's and nobody writes it again (FrameFromGuest).
    payload: m.body,
    ttl: m.ttl - 1,
  })
  const existing = flowForGuest(s.flows, "icmp", m.src, m.ident)
  if (existing !== undefined && existing.kind === "icmp") {
    const [flows] = putFlow(s.flows, { ...existing, lastActive: ctx.now, lastSequence: m.sequence }, ctx.now)
    return [{ ...s, flows }, [send(existing.sock)]]
  }
  if (countOf(s.flows, "icmp") >= ICMP_MAX_FLOWS) return [s, [debug(`icmp: ${ICMP_MAX_FLOWS} echo flows open, echo dropped`, echoFlow(m.src, m.ident, m.dst))]]
  const sock = ctx.newSocket
  // An IPv6 guest address may be a view of its frame: copied before it is kept.
  const guest = typeof m.src === "number" ? m.src : m.src.slice(0, 16)
  const flow: EchoFlow = { kind: "icmp", sock, lastActive: ctx.now, idleMs: ECHO_IDLE_MS, guest, guestPort: m.ident, lastSequence: m.sequence }
  const [flows, arm] = putFlow(s.flows, flow, ctx.now)
  return [{ ...s, flows }, [{ _tag: "IcmpOpen", sock, family: typeof m.src === "number" ? 4 : 6 }, send(sock), ...arm]]
}

export const icmpFromGuest = (s: NaptState, ctx: IcmpContext, m: IcmpIn): Result => {
  const p = parseIcmp(m.message)
  if (!p.ok) return [s, [debug(p.reason)]]
  const { icmp } = p
  if (icmp.type !== ICMP_ECHO_REQUEST) return [s, [debug(`icmp: type ${icmp.type} from the guest ignored`)]]
  const c = ctx.config
  if (m.dst === c.host || m.dst === c.dns) return [s, [echoReply(m.dst, m.src, icmp.ident, icmp.sequence, icmp.body)]]
  if (!isForwardable(c, m.dst)) return [s, [debug(`icmp: echo to ${formatIpv4(m.dst)} dropped (nobody there)`, echoFlow(m.src, icmp.ident, m.dst))]]
  return forwardEcho(s, ctx, { src: m.src, dst: m.dst, ttl: m.ttl, ident: icmp.ident, sequence: icmp.sequence, body: icmp.body, datagram: m.datagram, gateway: c.host })
}

/** The address a host peer appears as to a guest of `guest`'s family (undefined: it cannot be shown). */
const visibleTo = (c: StackConfig, guest: IpAddress, hostAddress: string): IpAddress | undefined =>
  typeof guest === "number" ? guestVisibleAddress(c, hostAddress) : guestVisibleAddress6(c, hostAddress)

/** Errors that mean the host will never give us ping sockets. */
const FORBIDDEN_CODES: ReadonlyArray<string> = ["EACCES", "EPERM", "EPROTONOSUPPORT", "EAFNOSUPPORT", "ENOADDON"]

export type IcmpHostEvent = HostIcmpEchoReply | HostUnreachable | HostSocketError | HostSocketClosed

/** An event of one of the echo flows' host sockets; events of unknown sockets are ignored. */
export const icmpHostEvent = (s: NaptState, ctx: Omit<IcmpContext, "newSocket">, ev: IcmpHostEvent): Result => {
  const flow = flowForSock(s.flows, ev.sock)
  if (flow === undefined || flow.kind !== "icmp") return [s, []]
  switch (ev._tag) {
    case "HostIcmpEchoReply": {
      const src = visibleTo(ctx.config, flow.guest, ev.from)
      if (src === undefined)
        return [s, [debug(`icmp: reply from ${ev.from} has no IPv${typeof flow.guest === "number" ? 4 : 6} address for the guest`, echoFlow(flow.guest, flow.guestPort))]]
      const flows = touch(s.flows, flow, ctx.now)
      return [flows === s.flows ? s : { ...s, flows }, [echoReplyTo(src, flow.guest, flow.guestPort, ev.sequence, ev.payload, ev.ttl)]]
    }
    case "HostUnreachable": {
      const dst = visibleTo(ctx.config, flow.guest, ev.to.address)
      if (dst === undefined) return [s, []]
      const v4 = typeof flow.guest === "number"
      const head = new Uint8Array(8)
      head[0] = v4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST
      put16(head, 4, flow.guestPort)
      put16(head, 6, flow.lastSequence)
      const from = ev.from === undefined ? undefined : visibleTo(ctx.config, flow.guest, ev.from)
      const original = v4 ? quoteDatagram(PROTO_ICMP, flow.guest as Ipv4, dst as Ipv4, head) : quoteDatagram6(NH_ICMPV6, flow.guest as Uint8Array, dst as Uint8Array, head)
      return [s, [errorToGuest(from ?? dst, ev.reason, original, ev.mtu)]]
    }
    case "HostSocketError": {
      const flows = removeFlow(s.flows, ev.sock)
      if (FORBIDDEN_CODES.includes(ev.code)) {
        const v4 = typeof flow.guest === "number"
        const first = !(v4 ? s.pingForbidden : s.ping6Forbidden)
        return [
          v4 ? { ...s, flows, pingForbidden: true } : { ...s, flows, ping6Forbidden: true },
          first
            ? [{ _tag: "Log", level: "warn", message: `icmp: the host refuses IPv${v4 ? 4 : 6} ping sockets (${ev.code}); echo to external addresses is disabled (see net.ipv4.ping_group_range)` }]
            : [],
        ]
      }
      return [{ ...s, flows }, [{ _tag: "SocketClose", sock: ev.sock }, debug(`icmp: echo socket for ${formatIp(flow.guest)} failed: ${ev.code}`, echoFlow(flow.guest, flow.guestPort))]]
    }
    case "HostSocketClosed":
      return [{ ...s, flows: removeFlow(s.flows, ev.sock) }, []]
  }
}
