/**
 * The ICMPv4 layer.
 *
 * - Echo requests to the gateway and DNS addresses are answered here (libslirp does the same).
 * - Echo requests to other addresses the policy module lets out (policy/policy.ts) are
 *   forwarded through one host ping socket per guest (address, identifier), a flow in the NAPT
 *   table shared with UDP (flows/napt.ts); the host kernel picks its own identifier, so
 *   replies are mapped back by socket and carry the guest's identifier again. A guest TTL of 1
 *   gets "time exceeded" from the gateway, and the host sends with TTL - 1, so traceroute sees
 *   one extra hop.
 * - Where the host forbids ping sockets (`net.ipv4.ping_group_range`), one warning is logged and
 *   later echoes to external addresses are dropped.
 * - Errors the host reports for an echo become ICMP errors to the guest, quoting a rebuilt copy
 *   of the guest's request.
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
import { type Ipv4, formatIpv4 } from "../wire/ipv4-address.ts"
import { PROTO_ICMP } from "../ipv4/wire.ts"
import { quoteDatagram } from "../ipv4/quote.ts"
import { countOf, flowForGuest, flowForSock, putFlow, removeFlow, touch } from "../flows/flow-table.ts"
import type { EchoFlow, NaptState } from "../flows/napt.ts"
import { guestVisibleAddress, isForwardable } from "../policy/policy.ts"
import type { StackConfig } from "../stack/config.ts"
import type { LayerOutput } from "../stack/output.ts"
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

export const icmpFromGuest = (s: NaptState, ctx: IcmpContext, m: IcmpIn): Result => {
  const p = parseIcmp(m.message)
  if (!p.ok) return [s, [debug(p.reason)]]
  const { icmp } = p
  if (icmp.type !== ICMP_ECHO_REQUEST) return [s, [debug(`icmp: type ${icmp.type} from the guest ignored`)]]
  const c = ctx.config
  if (m.dst === c.host || m.dst === c.dns) return [s, [echoReply(m.dst, m.src, icmp.ident, icmp.sequence, icmp.body)]]
  if (!isForwardable(c, m.dst)) return [s, [debug(`icmp: echo to ${formatIpv4(m.dst)} dropped (nobody there)`, echoFlow(m.src, icmp.ident, m.dst))]]
  if (m.ttl <= 1) return [s, [{ _tag: "ErrorToGuest", family: 4, src: c.host, reason: "ttl-exceeded", original: m.datagram }]]
  if (s.pingForbidden) return [s, [debug(`icmp: echo to ${formatIpv4(m.dst)} dropped: the host forbids ping sockets`, echoFlow(m.src, icmp.ident, m.dst))]]

  const send = (sock: SocketId): StackEffect => ({
    _tag: "IcmpEchoSend",
    sock,
    to: formatIpv4(m.dst),
    sequence: icmp.sequence,
    // A view: the guest's frame is the stack's and nobody writes it again (FrameFromGuest).
    payload: icmp.body,
    ttl: m.ttl - 1,
  })
  const existing = flowForGuest(s.flows, "icmp", m.src, icmp.ident)
  if (existing !== undefined && existing.kind === "icmp") {
    const [flows] = putFlow(s.flows, { ...existing, lastActive: ctx.now, lastSequence: icmp.sequence }, ctx.now)
    return [{ ...s, flows }, [send(existing.sock)]]
  }
  if (countOf(s.flows, "icmp") >= ICMP_MAX_FLOWS) return [s, [debug(`icmp: ${ICMP_MAX_FLOWS} echo flows open, echo dropped`, echoFlow(m.src, icmp.ident, m.dst))]]
  const sock = ctx.newSocket
  const flow: EchoFlow = { kind: "icmp", sock, lastActive: ctx.now, idleMs: ECHO_IDLE_MS, guest: m.src, guestPort: icmp.ident, lastSequence: icmp.sequence }
  const [flows, arm] = putFlow(s.flows, flow, ctx.now)
  return [{ ...s, flows }, [{ _tag: "IcmpOpen", sock, family: 4 }, send(sock), ...arm]]
}

/** Errors that mean the host will never give us ping sockets. */
const FORBIDDEN_CODES: ReadonlyArray<string> = ["EACCES", "EPERM", "EPROTONOSUPPORT", "EAFNOSUPPORT", "ENOADDON"]

export type IcmpHostEvent = HostIcmpEchoReply | HostUnreachable | HostSocketError | HostSocketClosed

/** An event of one of the echo flows' host sockets; events of unknown sockets are ignored. */
export const icmpHostEvent = (s: NaptState, ctx: Omit<IcmpContext, "newSocket">, ev: IcmpHostEvent): Result => {
  const flow = flowForSock(s.flows, ev.sock)
  if (flow === undefined || flow.kind !== "icmp") return [s, []]
  switch (ev._tag) {
    case "HostIcmpEchoReply": {
      const src = guestVisibleAddress(ctx.config, ev.from)
      if (src === undefined) return [s, [debug(`icmp: reply from ${ev.from} has no IPv4 address for the guest`, echoFlow(flow.guest, flow.guestPort))]]
      const flows = touch(s.flows, flow, ctx.now)
      return [flows === s.flows ? s : { ...s, flows }, [echoReply(src, flow.guest, flow.guestPort, ev.sequence, ev.payload, ev.ttl)]]
    }
    case "HostUnreachable": {
      const dst = guestVisibleAddress(ctx.config, ev.to.address)
      if (dst === undefined) return [s, []]
      const head = new Uint8Array(8)
      head[0] = ICMP_ECHO_REQUEST
      put16(head, 4, flow.guestPort)
      put16(head, 6, flow.lastSequence)
      const from = ev.from === undefined ? undefined : guestVisibleAddress(ctx.config, ev.from)
      return [
        s,
        [{ _tag: "ErrorToGuest", family: 4, src: from ?? dst, reason: ev.reason, original: quoteDatagram(PROTO_ICMP, flow.guest, dst, head), ...(ev.mtu === undefined ? {} : { mtu: ev.mtu }) }],
      ]
    }
    case "HostSocketError": {
      const flows = removeFlow(s.flows, ev.sock)
      if (FORBIDDEN_CODES.includes(ev.code)) {
        const first = !s.pingForbidden
        return [
          { ...s, flows, pingForbidden: true },
          first
            ? [{ _tag: "Log", level: "warn", message: `icmp: the host refuses ping sockets (${ev.code}); echo to external addresses is disabled (see net.ipv4.ping_group_range)` }]
            : [],
        ]
      }
      return [{ ...s, flows }, [{ _tag: "SocketClose", sock: ev.sock }, debug(`icmp: echo socket for ${formatIpv4(flow.guest)} failed: ${ev.code}`, echoFlow(flow.guest, flow.guestPort))]]
    }
    case "HostSocketClosed":
      return [{ ...s, flows: removeFlow(s.flows, ev.sock) }, []]
  }
}
