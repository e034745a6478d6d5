/** Shared helpers for the DHCP server tests: client messages, running the reducer, reading replies. */
import { type DhcpServerState, dhcpInput as rawDhcpInput } from "../../../src/protocol/dhcp/server.ts"
import { BOOTREQUEST, type DhcpMessage, OPT, emitDhcp, optIpv4, optU8, parseDhcp } from "../../../src/protocol/dhcp/wire.ts"
import type { Log } from "../../../src/effects/effect.ts"
import { type Instant, instant } from "../../../src/effects/instant.ts"
import { type StackConfig, defaultConfig } from "../../../src/protocol/stack/config.ts"
import type { Ipv4PacketToGuest, LayerOutput } from "../../../src/protocol/stack/output.ts"
import { fromHex } from "../../../src/protocol/wire/bytes.ts"
import type { Ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { checkedLayer } from "../../support/checked.ts"

// Every call is checked by the referential-transparency harness (test/support/checked.ts).
const dhcpInput = checkedLayer(rawDhcpInput)

export const T0 = instant(1_000_000)
export const MAC_A = fromHex("525400123456")
export const MAC_B = fromHex("5254000000bb")
export const MAC_C = fromHex("5254000000cc")
export const cfg: StackConfig = defaultConfig

export interface ClientMsg {
  readonly mac?: Uint8Array
  readonly xid?: number
  readonly ciaddr?: Ipv4
  readonly giaddr?: Ipv4
  readonly flags?: number
  readonly requested?: Ipv4
  readonly serverId?: Ipv4
  readonly prl?: ReadonlyArray<number>
  readonly maxSize?: number
  readonly op?: number
}

/** A client message of DHCP type `type` (undefined: plain BOOTP with the cookie but no type). */
export const clientMsg = (type: number | undefined, m: ClientMsg = {}): Uint8Array => {
  const options: Array<readonly [number, Uint8Array]> = []
  if (type !== undefined) options.push([OPT.messageType, optU8(type)])
  if (m.requested !== undefined) options.push([OPT.requestedIp, optIpv4(m.requested)])
  if (m.serverId !== undefined) options.push([OPT.serverId, optIpv4(m.serverId)])
  if (m.maxSize !== undefined) options.push([OPT.maxMessageSize, new Uint8Array([m.maxSize >> 8, m.maxSize & 0xff])])
  if (m.prl !== undefined) options.push([OPT.parameterRequestList, new Uint8Array(m.prl)])
  return emitDhcp({
    op: m.op ?? BOOTREQUEST,
    xid: m.xid ?? 0x1234,
    flags: m.flags ?? 0,
    ciaddr: m.ciaddr ?? 0,
    giaddr: m.giaddr ?? 0,
    chaddr: m.mac ?? MAC_A,
    options,
  }).bytes
}

export interface Step {
  readonly state: DhcpServerState
  readonly out: ReadonlyArray<LayerOutput>
  readonly packets: ReadonlyArray<Ipv4PacketToGuest>
  readonly replies: ReadonlyArray<DhcpMessage>
  readonly logs: ReadonlyArray<Log>
}

export const step = (state: DhcpServerState, payload: Uint8Array, opts: { now?: Instant; config?: StackConfig; mac?: Uint8Array } = {}): Step => {
  const [next, out] = dhcpInput(state, opts.config ?? cfg, opts.now ?? T0, { srcMac: opts.mac ?? MAC_A, payload })
  const packets = out.filter((o): o is Ipv4PacketToGuest => o._tag === "PacketToGuest")
  const replies = packets.map((p) => {
    const r = parseDhcp(p.payload!)
    if (!r.ok) throw new Error(`our reply does not parse: ${r.reason}`)
    return r.msg
  })
  const logs = out.filter((o): o is Log => o._tag === "Log")
  return { state: next, out, packets, replies, logs }
}
