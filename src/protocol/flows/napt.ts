/**
 * The NAPT state the UDP and ICMP layers share: one flow table (flow-table.ts) holding both
 * kinds of flow, and whether the host refused ping sockets. The stack keeps one `NaptState`;
 * udp/layer.ts and icmp/layer.ts take it and return it; the stack sweeps it and closes it.
 *
 * Pure: plain data, replaced on change (see flow-table.ts for the persistent indexes).
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { LogFlow } from "../../effects/log.ts"
import type { Instant } from "../../effects/instant.ts"
import { type IpAddress, formatIp } from "../wire/ip-address.ts"
import { type Flow, type FlowTable, closeAllFlows, emptyFlows, sweepFlows } from "./flow-table.ts"
import { echoFlow, portFlow } from "./log-flow.ts"

/** A UDP flow: one host UDP socket for one guest (address, port). */
export interface UdpFlow extends Flow {
  readonly kind: "udp"
  /** DNS ids of queries sent through the DNS proxy and not yet answered, oldest first. */
  readonly dnsPending: ReadonlyArray<number>
  /** Every datagram so far went to the DNS proxy: expire fast. */
  readonly dnsOnly: boolean
  /**
   * The DNS address the guest's last query went to (IPv6 has two: global and link-local), so
   * the answer comes from the address the guest asked.
   */
  readonly dnsVia?: IpAddress
}

/** An ICMP echo flow: one host ping socket for one guest (address, echo identifier). */
export interface EchoFlow extends Flow {
  readonly kind: "icmp"
  /** The guest's address: its type tells the family of the flow's ping socket. */
  readonly guest: IpAddress
  /** The sequence of the last echo sent, quoted when the host reports it unreachable. */
  readonly lastSequence: number
}

export type NaptFlow = UdpFlow | EchoFlow

export interface NaptState {
  readonly flows: FlowTable<NaptFlow>
  /** The host refused IPv4 ping sockets: IPv4 echoes to external addresses are dropped. */
  readonly pingForbidden: boolean
  /** The same for IPv6 (a host without IPv6 refuses only these). */
  readonly ping6Forbidden: boolean
}

export const emptyNapt: NaptState = { flows: emptyFlows(), pingForbidden: false, ping6Forbidden: false }

const describe = (f: NaptFlow): string =>
  f.kind === "udp" ? `udp: flow ${formatIp(f.guest)}:${f.guestPort}` : `icmp: echo flow ${formatIp(f.guest)} id ${f.guestPort}`

const flowOf = (f: NaptFlow): LogFlow => (f.kind === "udp" ? portFlow("udp", f.guest, f.guestPort) : echoFlow(f.guest, f.guestPort))

/** The sweep timer fired: idle flows are closed. */
export const sweepNapt = (s: NaptState, now: Instant): readonly [NaptState, ReadonlyArray<StackEffect>] => {
  const [flows, fx] = sweepFlows(s.flows, now, describe, flowOf)
  return [{ ...s, flows }, fx]
}

/** The stack shuts down: every flow's socket is closed, the sweep cancelled. */
export const closeNapt = (s: NaptState): ReadonlyArray<StackEffect> => closeAllFlows(s.flows)
