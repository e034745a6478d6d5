/**
 * The DHCPv6 server of the virtual link (RFC 8415), as a pure reducer: one UDP payload from a
 * guest's port 546 in, the next state and the reply (`PacketToGuest`, family 6, UDP 547 -> 546,
 * from our link-local address to the client's) plus logs out.
 *
 * What it answers:
 * - INFORMATION-REQUEST (§18.3.6): the DNS server (our IPv6 DNS address) and the domain search
 *   list, what libslirp answers too.
 * - Stateful addresses (§18.3.1-§18.3.5): SOLICIT gets an ADVERTISE (or, with Rapid Commit, a
 *   REPLY) with one address per IA_NA; REQUEST, RENEW and REBIND get a REPLY binding it; RELEASE
 *   and DECLINE free it; CONFIRM says whether the client's addresses are on our link. Addresses
 *   are prefix::100 upward (DHCPV6_POOL_MAX of them), one per (DUID, IAID), kept while the stack
 *   lives (no expiry: the pool is small and a guest asks again after a restart).
 * Temporary (IA_TA) and prefix delegation (IA_PD) are not offered: their options are ignored,
 * which §18.3 allows a server that does not support them. Our router advertisements leave M and
 * O clear (SLAAC, as libslirp): a guest configured for DHCPv6 asks anyway and gets answers.
 *
 * Contract: malformed messages, messages for another server, relay messages and server
 * messages are dropped with a debug line; never throws; at most DHCPV6_POOL_MAX bindings.
 * Pure: the bindings map is replaced on change, never written.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { StackConfig } from "../stack/config.ts"
import type { LayerOutput } from "../stack/output.ts"
import { NH_UDP } from "../ipv6/wire.ts"
import { UDP_CHECKSUM_OFFSET, emitUdpHeader } from "../udp/wire.ts"
import { toHex } from "../wire/bytes.ts"
import { type Ipv6, formatIpv6, inPrefix, ipv6Equals, linkLocalOf, withInterfaceId } from "../wire/ipv6-address.ts"
import type { Mac } from "../wire/mac.ts"
import {
  ADVERTISE,
  CONFIRM,
  DECLINE,
  DHCPV6_CLIENT_PORT,
  DHCPV6_SERVER_PORT,
  DUID_MAX,
  type Dhcpv6Message,
  INFORMATION_REQUEST,
  OPTION_CLIENTID,
  OPTION_IA_NA,
  OPTION_INFORMATION_REFRESH_TIME,
  OPTION_RAPID_COMMIT,
  OPTION_SERVERID,
  REBIND,
  RELEASE,
  RENEW,
  REPLY,
  REQUEST,
  SOLICIT,
  STATUS_NOT_ON_LINK,
  STATUS_NO_ADDRS_AVAIL,
  STATUS_SUCCESS,
  dnsServersOption,
  domainListOption,
  emitDhcpv6,
  findOption,
  iaAddrOption,
  iaNaOption,
  option6,
  parseDhcpv6,
  readIaNa,
  statusOption,
  u32Option,
} from "./wire.ts"

export const DHCPV6_POOL_MAX = 64
/** The first address handed out: prefix::100 (dnsmasq's examples start there too). */
export const DHCPV6_POOL_FIRST = 0x100
export const PREFERRED_LIFETIME_S = 14_400
export const VALID_LIFETIME_S = 86_400
/** RFC 8415 §21.4: T1 0.5 and T2 0.8 of the preferred lifetime. */
export const T1_S = PREFERRED_LIFETIME_S / 2
export const T2_S = (PREFERRED_LIFETIME_S * 4) / 5
/** RFC 8415 §21.23: how long the guest may keep information-only answers. */
export const INFORMATION_REFRESH_S = 86_400

export interface Binding6 {
  readonly address: Ipv6
  /** Index in the pool (prefix::100 + index). */
  readonly index: number
}

export interface Dhcpv6ServerState {
  /** (client DUID hex, IAID) -> its address. */
  readonly bindings: ReadonlyMap<string, Binding6>
}

export const emptyDhcpv6: Dhcpv6ServerState = { bindings: new Map() }

export interface Dhcpv6In {
  /** The client's source address (link-local) and MAC (the frame's source). */
  readonly src: Uint8Array
  readonly srcMac: Mac
  readonly payload: Uint8Array
}

type Result = readonly [Dhcpv6ServerState, ReadonlyArray<LayerOutput>]

const debug = (message: string): StackEffect => ({ _tag: "Log", level: "debug", message })

/** RFC 8415 §11.4 DUID-LL (type 3, hardware type 1) of our gateway MAC. */
export const serverDuid = (gatewayMac: Mac): Uint8Array => Uint8Array.of(0, 3, 0, 1, ...gatewayMac.subarray(0, 6))

const bindingKey = (duid: Uint8Array, iaid: number): string => `${toHex(duid)}/${iaid >>> 0}`

const poolAddress = (c: StackConfig, index: number): Ipv6 => {
  const iid = new Uint8Array(16)
  const n = DHCPV6_POOL_FIRST + index
  iid[14] = n >>> 8
  iid[15] = n & 0xff
  return withInterfaceId(c.ipv6Prefix, c.ipv6PrefixLength, iid)
}

/** The binding of (duid, iaid), allocating the lowest free pool address if there is none. */
const bind = (s: Dhcpv6ServerState, c: StackConfig, duid: Uint8Array, iaid: number): readonly [Dhcpv6ServerState, Binding6 | undefined] => {
  const key = bindingKey(duid, iaid)
  const known = s.bindings.get(key)
  if (known !== undefined) return [s, known]
  const used = new Set([...s.bindings.values()].map((b) => b.index))
  for (let index = 0; index < DHCPV6_POOL_MAX; index++) {
    if (used.has(index)) continue
    const address = poolAddress(c, index)
    // Never our own addresses (a prefix::100 host or DNS address is unusual, but allowed).
    if (ipv6Equals(address, 0, c.ipv6Host) || ipv6Equals(address, 0, c.ipv6Dns)) continue
    const b = { address, index }
    const bindings = new Map(s.bindings)
    bindings.set(key, b)
    return [{ bindings }, b]
  }
  return [s, undefined]
}

const release = (s: Dhcpv6ServerState, duid: Uint8Array, iaid: number): Dhcpv6ServerState => {
  const key = bindingKey(duid, iaid)
  if (!s.bindings.has(key)) return s
  const bindings = new Map(s.bindings)
  bindings.delete(key)
  return { bindings }
}

/** The options every answer carries after the IAs: DNS server and search list (RFC 3646). */
const configOptions = (c: StackConfig): ReadonlyArray<Uint8Array> => {
  const out = [dnsServersOption([c.ipv6Dns])]
  const domains = c.dnsSearch.length > 0 ? domainListOption(c.dnsSearch) : undefined
  if (domains !== undefined) out.push(domains)
  return out
}

const reply = (c: StackConfig, gatewayMac: Mac, m: Dhcpv6In, msgType: number, transactionId: number, options: ReadonlyArray<Uint8Array>): LayerOutput => {
  const body = emitDhcpv6(msgType, transactionId, options)
  return {
    _tag: "PacketToGuest",
    family: 6,
    src: linkLocalOf(c.ipv6Host),
    dst: m.src.slice(0, 16),
    protocol: NH_UDP,
    header: emitUdpHeader(DHCPV6_SERVER_PORT, DHCPV6_CLIENT_PORT, body.length),
    payload: body,
    checksumOffset: UDP_CHECKSUM_OFFSET,
    pseudoHeader: true,
    dstMac: m.srcMac.slice(0, 6),
  }
}

const MESSAGE_NAMES: Record<number, string> = { 1: "SOLICIT", 3: "REQUEST", 4: "CONFIRM", 5: "RENEW", 6: "REBIND", 8: "RELEASE", 9: "DECLINE", 11: "INFORMATION-REQUEST" }

export const dhcpv6Input = (s: Dhcpv6ServerState, c: StackConfig, gatewayMac: Mac, m: Dhcpv6In): Result => {
  const p = parseDhcpv6(m.payload)
  if (!p.ok) return [s, [debug(p.reason)]]
  const msg: Dhcpv6Message = p.msg
  const name = MESSAGE_NAMES[msg.msgType]
  if (name === undefined) return [s, [debug(`dhcpv6: message type ${msg.msgType} from the guest ignored`)]]
  const clientId = findOption(msg.options, OPTION_CLIENTID)
  const serverId = findOption(msg.options, OPTION_SERVERID)
  const ours = serverDuid(gatewayMac)
  // §16: which messages must, may or must not carry a server id, and must carry a client id.
  if (clientId !== undefined && (clientId.length < 2 || clientId.length > DUID_MAX)) return [s, [debug("dhcpv6: client DUID of a bad length")]]
  const needsClient = msg.msgType !== INFORMATION_REQUEST
  if (needsClient && clientId === undefined) return [s, [debug(`dhcpv6: ${name} without a client id dropped`)]]
  const serverMustBeUs = msg.msgType === REQUEST || msg.msgType === RENEW || msg.msgType === RELEASE || msg.msgType === DECLINE
  if (serverMustBeUs && (serverId === undefined || toHex(serverId) !== toHex(ours))) return [s, [debug(`dhcpv6: ${name} for another server dropped`)]]
  const serverMustBeAbsent = msg.msgType === SOLICIT || msg.msgType === CONFIRM || msg.msgType === REBIND
  if (serverMustBeAbsent && serverId !== undefined) return [s, [debug(`dhcpv6: ${name} with a server id dropped`)]]
  if (msg.msgType === INFORMATION_REQUEST && serverId !== undefined && toHex(serverId) !== toHex(ours)) return [s, [debug("dhcpv6: INFORMATION-REQUEST for another server dropped")]]

  const head: Array<Uint8Array> = []
  if (clientId !== undefined) head.push(option6(OPTION_CLIENTID, clientId))
  head.push(option6(OPTION_SERVERID, ours))
  const ias = msg.options.filter((o) => o.code === OPTION_IA_NA).map((o) => readIaNa(o.data))
  if (ias.some((ia) => ia === undefined)) return [s, [debug(`dhcpv6: ${name} with a malformed IA_NA dropped`)]]
  const iaList = ias as ReadonlyArray<NonNullable<(typeof ias)[number]>>
  const log = (text: string): StackEffect => ({ _tag: "Log", level: "info", message: `dhcpv6: ${text}` })

  switch (msg.msgType) {
    case INFORMATION_REQUEST: {
      if (iaList.length > 0) return [s, [debug("dhcpv6: INFORMATION-REQUEST with an IA dropped")]]
      return [s, [reply(c, gatewayMac, m, REPLY, msg.transactionId, [...head, ...configOptions(c), u32Option(OPTION_INFORMATION_REFRESH_TIME, INFORMATION_REFRESH_S)])]]
    }
    case SOLICIT:
    case REQUEST:
    case RENEW:
    case REBIND: {
      let st = s
      const iaOptions: Array<Uint8Array> = []
      const granted: Array<string> = []
      for (const ia of iaList) {
        const [st1, b] = bind(st, c, clientId!, ia.iaid)
        st = st1
        if (b === undefined) iaOptions.push(iaNaOption(ia.iaid, 0, 0, [statusOption(STATUS_NO_ADDRS_AVAIL, "no addresses left")]))
        else {
          iaOptions.push(iaNaOption(ia.iaid, T1_S, T2_S, [iaAddrOption(b.address, PREFERRED_LIFETIME_S, VALID_LIFETIME_S)]))
          granted.push(formatIpv6(b.address))
        }
      }
      const rapid = msg.msgType === SOLICIT && findOption(msg.options, OPTION_RAPID_COMMIT) !== undefined
      // §18.3.9: an ADVERTISE only offers; its bindings become real on REQUEST. We keep them
      // from SOLICIT on (stable addresses, nothing else competes), bounded by the pool.
      const type = msg.msgType === SOLICIT && !rapid ? ADVERTISE : REPLY
      const options = [...head, ...iaOptions, ...(rapid ? [option6(OPTION_RAPID_COMMIT, new Uint8Array(0))] : []), ...configOptions(c)]
      const out: Array<LayerOutput> = [reply(c, gatewayMac, m, type, msg.transactionId, options)]
      if (type === REPLY && granted.length > 0) out.push(log(`${name}: ${granted.join(", ")} bound for client ${toHex(clientId!)}`))
      return [st, out]
    }
    case RELEASE:
    case DECLINE: {
      let st = s
      for (const ia of iaList) st = release(st, clientId!, ia.iaid)
      return [st, [reply(c, gatewayMac, m, REPLY, msg.transactionId, [...head, statusOption(STATUS_SUCCESS, name === "RELEASE" ? "released" : "declined")])]]
    }
    case CONFIRM: {
      const addrs = iaList.flatMap((ia) => ia.addresses.map((a) => a.address))
      // §18.3.3: no addresses to judge means no reply.
      if (addrs.length === 0) return [s, [debug("dhcpv6: CONFIRM without addresses ignored")]]
      const onLink = addrs.every((a) => inPrefix(a, c.ipv6Prefix, c.ipv6PrefixLength))
      return [s, [reply(c, gatewayMac, m, REPLY, msg.transactionId, [...head, onLink ? statusOption(STATUS_SUCCESS, "all on link") : statusOption(STATUS_NOT_ON_LINK, "not on link")])]]
    }
    default:
      return [s, [debug(`dhcpv6: message type ${msg.msgType} from the guest ignored`)]]
  }
}
