/**
 * The ICMPv4 layer.
 *
 * - Echo requests to the gateway and DNS addresses are answered here (libslirp does the same).
 * - Echo requests to other (external) addresses are forwarded through one host ping socket per
 *   guest (address, identifier); the host kernel picks its own identifier, so replies are mapped
 *   back by socket and carry the guest's identifier again. A guest TTL of 1 gets "time exceeded"
 *   from the gateway, and the host sends with TTL - 1, so traceroute sees one extra hop.
 * - Where the host forbids ping sockets (`net.ipv4.ping_group_range`), one warning is logged and
 *   later echoes to external addresses are dropped.
 * - Errors the host reports for an echo become ICMP errors to the guest, quoting a rebuilt copy
 *   of the guest's request.
 * Flows expire after ECHO_IDLE_MS without traffic; a sweep timer runs while any flow exists.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { HostIcmpEchoReply, HostSocketClosed, HostSocketError, HostUnreachable } from "../../effects/event.ts"
import { type SocketId, type TimerId, socketId, timerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"
import { put16 } from "../wire/bytes.ts"
import { type Ipv4, formatIpv4 } from "../wire/ipv4-address.ts"
import { PROTO_ICMP } from "../ipv4/wire.ts"
import { quoteDatagram } from "../ipv4/quote.ts"
import type { StackConfig } from "../stack/config.ts"
import { type Flow, type FlowTable, closeAllFlows, emptyFlows, flowForSock, putFlow, removeFlow, sweepFlows, touch } from "../stack/flows.ts"
import type { LayerOutput } from "../stack/output.ts"
import { guestVisibleAddress, isForwardable } from "../stack/routing.ts"
import { icmpForHostReason } from "./host-errors.ts"
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_TIME_EXCEEDED, emitEcho, parseIcmp } from "./wire.ts"

export const ECHO_IDLE_MS = 60_000
export const ICMP_SWEEP_MS = 10_000
export const ICMP_MAX_FLOWS = 256
export const ICMP_SOCKET_BASE = 0x60000000
export const ICMP_SWEEP_TIMER: TimerId = timerId("icmp:sweep")

interface EchoFlow extends Flow {
  readonly guest: Ipv4
  readonly ident: number
  /** The sequence of the last echo sent, quoted when the host reports it unreachable. */
  readonly lastSequence: number
}

export interface IcmpState {
  readonly flows: FlowTable<EchoFlow>
  readonly nextSock: number
  /** The host refused ping sockets: echoes to external addresses are dropped. */
  readonly forbidden: boolean
  readonly sweepArmed: boolean
}

export const createIcmpLayer = (): IcmpState => ({ flows: emptyFlows(), nextSock: ICMP_SOCKET_BASE, forbidden: false, sweepArmed: false })

export const isIcmpSocket = (sock: SocketId): boolean => sock >= ICMP_SOCKET_BASE

export interface IcmpContext {
  readonly config: StackConfig
  readonly now: Instant
}

/** An ICMP message from the guest: `datagram` is its whole IP datagram, `message` the ICMP part. */
export interface IcmpIn {
  readonly src: Ipv4
  readonly dst: Ipv4
  readonly ttl: number
  readonly datagram: Uint8Array
  readonly message: Uint8Array
}

type Result = readonly [IcmpState, ReadonlyArray<LayerOutput>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })
const keyOf = (guest: Ipv4, ident: number) => `${guest}/${ident}`

const echoReply = (src: Ipv4, dst: Ipv4, ident: number, sequence: number, data: Uint8Array, ttl?: number): LayerOutput => ({
  _tag: "Ipv4ToGuest",
  src,
  dst,
  protocol: PROTO_ICMP,
  ...(ttl === undefined ? {} : { ttl }),
  header: emitEcho(ICMP_ECHO_REPLY, ident, sequence, data),
  checksumOffset: -1,
  pseudoHeader: false,
})

export const icmpFromGuest = (s: IcmpState, ctx: IcmpContext, m: IcmpIn): Result => {
  const p = parseIcmp(m.message)
  if (!p.ok) return [s, [debug(p.reason)]]
  const { icmp } = p
  if (icmp.type !== ICMP_ECHO_REQUEST) return [s, [debug(`icmp: type ${icmp.type} from the guest ignored`)]]
  const c = ctx.config
  if (m.dst === c.host || m.dst === c.dns) return [s, [echoReply(m.dst, m.src, icmp.ident, icmp.sequence, icmp.body)]]
  if (!isForwardable(c, m.dst)) return [s, [debug(`icmp: echo to ${formatIpv4(m.dst)} dropped (nobody there)`)]]
  if (m.ttl <= 1) return [s, [{ _tag: "IcmpErrorToGuest", src: c.host, type: ICMP_TIME_EXCEEDED, code: 0, original: m.datagram }]]
  if (s.forbidden) return [s, [debug(`icmp: echo to ${formatIpv4(m.dst)} dropped: the host forbids ping sockets`)]]

  const key = keyOf(m.src, icmp.ident)
  const send: StackEffect = {
    _tag: "IcmpEchoSend",
    sock: socketId(0),
    to: formatIpv4(m.dst),
    sequence: icmp.sequence,
    payload: icmp.body.slice(),
    ttl: m.ttl - 1,
  }
  const existing = s.flows.byKey.get(key)
  if (existing !== undefined) {
    const flows = putFlow(s.flows, key, { ...existing, lastActive: ctx.now, lastSequence: icmp.sequence })
    return [{ ...s, flows }, [{ ...send, sock: existing.sock }]]
  }
  if (s.flows.byKey.size >= ICMP_MAX_FLOWS) return [s, [debug(`icmp: ${ICMP_MAX_FLOWS} echo flows open, echo dropped`)]]
  const sock = socketId(s.nextSock)
  const flow: EchoFlow = { sock, lastActive: ctx.now, guest: m.src, ident: icmp.ident, lastSequence: icmp.sequence }
  const out: Array<LayerOutput> = [{ _tag: "IcmpOpen", sock, family: 4 }, { ...send, sock }]
  if (!s.sweepArmed) out.push({ _tag: "SetTimer", timer: ICMP_SWEEP_TIMER, at: addMillis(ctx.now, ICMP_SWEEP_MS) })
  return [{ ...s, flows: putFlow(s.flows, key, flow), nextSock: s.nextSock + 1, sweepArmed: true }, out]
}

/** Errors that mean the host will never give us ping sockets. */
const FORBIDDEN_CODES = new Set(["EACCES", "EPERM", "EPROTONOSUPPORT", "EAFNOSUPPORT", "ENOADDON"])

export const icmpHostEvent = (
  s: IcmpState,
  ctx: IcmpContext,
  ev: HostIcmpEchoReply | HostUnreachable | HostSocketError | HostSocketClosed,
): Result => {
  const flow = flowForSock(s.flows, ev.sock)
  if (flow === undefined) return [s, []]
  switch (ev._tag) {
    case "HostIcmpEchoReply": {
      const src = guestVisibleAddress(ctx.config, ev.from)
      if (src === undefined) return [s, [debug(`icmp: reply from ${ev.from} has no IPv4 address for the guest`)]]
      const key = keyOf(flow.guest, flow.ident)
      return [{ ...s, flows: touch(s.flows, key, flow, ctx.now) }, [echoReply(src, flow.guest, flow.ident, ev.sequence, ev.payload, ev.ttl)]]
    }
    case "HostUnreachable": {
      const dst = guestVisibleAddress(ctx.config, ev.to.address)
      if (dst === undefined) return [s, []]
      const head = new Uint8Array(8)
      head[0] = ICMP_ECHO_REQUEST
      put16(head, 4, flow.ident)
      put16(head, 6, flow.lastSequence)
      const { type, code } = icmpForHostReason(ev.reason)
      const from = ev.from === undefined ? undefined : guestVisibleAddress(ctx.config, ev.from)
      return [
        s,
        [{ _tag: "IcmpErrorToGuest", src: from ?? dst, type, code, original: quoteDatagram(PROTO_ICMP, flow.guest, dst, head), ...(ev.mtu === undefined ? {} : { mtu: ev.mtu }) }],
      ]
    }
    case "HostSocketError": {
      const flows = removeFlow(s.flows, ev.sock)
      if (FORBIDDEN_CODES.has(ev.code)) {
        const first = !s.forbidden
        return [
          { ...s, flows, forbidden: true },
          first
            ? [{ _tag: "Log", level: "warn", message: `icmp: the host refuses ping sockets (${ev.code}); echo to external addresses is disabled (see net.ipv4.ping_group_range)` }]
            : [],
        ]
      }
      return [{ ...s, flows }, [{ _tag: "SocketClose", sock: ev.sock }, debug(`icmp: echo socket for ${formatIpv4(flow.guest)} failed: ${ev.code}`)]]
    }
    case "HostSocketClosed":
      return [{ ...s, flows: removeFlow(s.flows, ev.sock) }, []]
  }
}

export const icmpTimer = (s: IcmpState, ctx: IcmpContext, timer: TimerId): Result => {
  if (timer !== ICMP_SWEEP_TIMER) return [s, []]
  const [flows, sweepArmed, out] = sweepFlows(s.flows, ctx.now, () => ECHO_IDLE_MS, ICMP_SWEEP_TIMER, ICMP_SWEEP_MS)
  return [{ ...s, flows, sweepArmed }, out]
}

export const icmpShutdown = (s: IcmpState): Result => [createIcmpLayer(), closeAllFlows(s.flows, ICMP_SWEEP_TIMER, s.sweepArmed)]
