/**
 * The DHCP server of the virtual network (RFC 2131), as a pure reducer: one UDP payload from a
 * guest's port 68 in, the next state and the replies (`PacketToGuest`, family 4, UDP 67 -> 68) plus logs out.
 *
 * Leases are keyed by the client hardware address (chaddr) and taken from `config.dhcpStart`
 * upward, bounded by the subnet (and by `DHCP_POOL_MAX`), skipping the host and DNS addresses
 * and guestfwd servers.
 * Expiry is evaluated lazily against `now`, so the server needs no timers; its tables never
 * hold more records than the pool has addresses.
 *
 * Deliberate choices, each a place where RFC 2131 leaves room:
 * - We are the only server on the link, so a REQUEST in INIT-REBOOT/RENEWING/REBINDING for a
 *   free pool address is ACKed even without a record (a restarted tslirp must not strand a
 *   guest that remembers its address; libslirp does the same). §4.3.2 would stay silent.
 * - A REQUEST naming another server id is the client declining our offer (§4.3.2): the offer
 *   is withdrawn and nothing is sent.
 * - Relayed messages (giaddr != 0) are dropped: the virtual link has no relays.
 * - A plain BOOTP request (no message type) gets a BOOTREPLY with a lease, as libslirp does.
 */
import type { Log } from "../../effects/effect.ts"
import { type Instant, addMillis } from "../../effects/instant.ts"
import { encodeDomainSearch } from "../dns/name.ts"
import { type StackConfig, broadcastAddress, netmask } from "../stack/config.ts"
import type { Ipv4PacketToGuest, LayerOutput } from "../stack/output.ts"
import { UDP_CHECKSUM_OFFSET, emitUdpHeader } from "../udp/wire.ts"
import { type Ipv4, IPV4_BROADCAST, formatIpv4 } from "../wire/ipv4-address.ts"
import { BROADCAST_MAC, type Mac, formatMac, parseMac } from "../wire/mac.ts"
import {
  BOOTREPLY,
  BOOTREQUEST,
  DHCP_CLIENT_PORT,
  DHCP_DEFAULT_MAX_LEN,
  DHCP_SERVER_PORT,
  DHCPACK,
  DHCPDECLINE,
  DHCPDISCOVER,
  DHCPINFORM,
  DHCPNAK,
  DHCPOFFER,
  DHCPRELEASE,
  DHCPREQUEST,
  type DhcpMessage,
  HTYPE_ETHERNET,
  OPT,
  emitDhcp,
  messageTypeName,
  optIpv4,
  optIpv4List,
  optString,
  optU16,
  optU32,
  optU8,
  parseDhcp,
} from "./wire.ts"

/** libslirp's lease time (bootp.c LEASE_TIME): 24 h. */
export const LEASE_TIME_S = 24 * 3600
const LEASE_MS = LEASE_TIME_S * 1000
/** How long an offered, not yet requested, address stays reserved for its client. */
export const OFFER_HOLD_MS = 60_000
/** RFC 2131 §4.3.3: a declined address is withheld; 10 minutes, like dnsmasq's DECLINE_BACKOFF. */
export const DECLINE_HOLD_MS = 600_000
/** Upper bound of the pool, whatever the subnet size (libslirp has 16; a /24 from .15 gives 240). */
export const DHCP_POOL_MAX = 256
const NAK_MESSAGE = "requested address not available"

export interface Lease {
  readonly ip: Ipv4
  /** `formatMac` of chaddr: the key of `leases`. */
  readonly mac: string
  /** Acknowledged (true) or only offered. */
  readonly bound: boolean
  /** Past this instant the address may go to another client; the record stays for reuse by the same one. */
  readonly expiresAt: Instant
}

export interface DhcpServerState {
  /** At most one record per address, so at most `DHCP_POOL_MAX` records. */
  readonly leases: ReadonlyMap<string, Lease>
  /** Addresses declined by a client (RFC 2131 §4.3.3), withheld until the instant given. */
  readonly declined: ReadonlyMap<Ipv4, Instant>
}

export const createDhcpServer = (): DhcpServerState => ({ leases: new Map(), declined: new Map() })

// ---- the pool ----

/** Addresses the server may hand out, in allocation order. */
export const poolAddresses = (config: StackConfig): ReadonlyArray<Ipv4> => {
  const last = broadcastAddress(config) - 1
  const out: Array<Ipv4> = []
  for (let a = config.dhcpStart; a <= last && out.length < DHCP_POOL_MAX; a++) {
    // A guestfwd server is a virtual host of ours, like the gateway: never a lease.
    if (a !== config.host && a !== config.dns && !config.guestFwd.some((g) => g.server === a)) out.push(a)
  }
  return out
}

const live = (l: Lease, now: Instant): boolean => l.expiresAt > now

const leaseByIp = (state: DhcpServerState, ip: Ipv4): Lease | undefined => {
  for (const l of state.leases.values()) if (l.ip === ip) return l
  return undefined
}

const isDeclined = (state: DhcpServerState, ip: Ipv4, now: Instant): boolean => {
  const until = state.declined.get(ip)
  return until !== undefined && until > now
}

/** `ip` is in the pool, not withheld, and not held by a live record of another client. */
const available = (state: DhcpServerState, config: StackConfig, now: Instant, mac: string, ip: Ipv4): boolean => {
  if (!poolAddresses(config).includes(ip) || isDeclined(state, ip, now)) return false
  const holder = leaseByIp(state, ip)
  return holder === undefined || holder.mac === mac || !live(holder, now)
}

/** RFC 2131 §4.3.1's order: the client's own record, the address it asks for, a never-used one, the longest-expired one. */
const chooseAddress = (state: DhcpServerState, config: StackConfig, now: Instant, mac: string, requested: Ipv4 | undefined): Ipv4 | undefined => {
  const own = state.leases.get(mac)
  if (own !== undefined && available(state, config, now, mac, own.ip)) return own.ip
  if (requested !== undefined && available(state, config, now, mac, requested)) return requested
  const pool = poolAddresses(config).filter((a) => !isDeclined(state, a, now))
  const fresh = pool.find((a) => leaseByIp(state, a) === undefined)
  if (fresh !== undefined) return fresh
  let oldest: Lease | undefined
  for (const a of pool) {
    const l = leaseByIp(state, a)
    if (l !== undefined && !live(l, now) && (oldest === undefined || l.expiresAt < oldest.expiresAt)) oldest = l
  }
  return oldest?.ip
}

/** Records `mac` -> `lease.ip`, dropping whichever other (expired) record held that address. */
const withLease = (state: DhcpServerState, lease: Lease): DhcpServerState => {
  const leases = new Map(state.leases)
  for (const [k, l] of leases) if (l.ip === lease.ip && k !== lease.mac) leases.delete(k)
  leases.set(lease.mac, lease)
  return { ...state, leases }
}

const withoutLease = (state: DhcpServerState, mac: string): DhcpServerState => {
  const leases = new Map(state.leases)
  leases.delete(mac)
  return { ...state, leases }
}

// ---- replies ----

const log = (level: Log["level"], message: string): Log => ({ _tag: "Log", level, message })

/**
 * The options for an OFFER/ACK (or BOOTP reply): message type, server id and lease time first
 * (some clients look for them early), then what the client's parameter request list names in its
 * order, then everything else we have (libslirp sends all of them unasked; dnsmasq sends the
 * essentials unasked). What does not fit the client's size limit is dropped from the end.
 */
const configOptions = (
  config: StackConfig,
  msg: DhcpMessage,
  head: ReadonlyArray<readonly [number, Uint8Array]>,
): ReadonlyArray<readonly [number, Uint8Array]> => {
  const have = new Map<number, Uint8Array>()
  have.set(OPT.subnetMask, optIpv4(netmask(config)))
  // Restricted mode offers no way out: no router, no DNS (libslirp's bootp does the same).
  if (!config.restrict) {
    have.set(OPT.router, optIpv4List([config.host]))
    have.set(OPT.dnsServer, optIpv4List([config.dns]))
  }
  if (config.hostname !== undefined && config.hostname !== "") have.set(OPT.hostname, optString(config.hostname))
  if (config.domainName !== undefined && config.domainName !== "") have.set(OPT.domainName, optString(config.domainName))
  have.set(OPT.interfaceMtu, optU16(config.mtu))
  have.set(OPT.broadcastAddress, optIpv4(broadcastAddress(config)))
  if (config.tftpServerName !== undefined && config.tftpServerName !== "") have.set(OPT.tftpServerName, optString(config.tftpServerName))
  if (config.bootfile !== undefined && config.bootfile !== "") have.set(OPT.bootfileName, optString(config.bootfile))
  if (config.dnsSearch.length > 0) {
    const search = encodeDomainSearch(config.dnsSearch)
    if (search !== undefined) have.set(OPT.domainSearch, search)
  }
  const out: Array<readonly [number, Uint8Array]> = [...head]
  for (const code of msg.opts.parameterRequestList ?? []) {
    const v = have.get(code)
    if (v !== undefined) {
      out.push([code, v])
      have.delete(code)
    }
  }
  for (const [code, v] of have) out.push([code, v])
  return out
}

/** RFC 2132 §9.10: the client's limit counts IP and UDP headers; below 576 is not legal. */
const replyLimit = (config: StackConfig, msg: DhcpMessage): number => {
  const asked = msg.opts.maxMessageSize
  const limit = asked !== undefined && asked >= 576 ? asked - 28 : DHCP_DEFAULT_MAX_LEN
  return Math.min(limit, Math.max(config.mtu - 28, DHCP_DEFAULT_MAX_LEN))
}

type Addressing = "broadcast" | "ciaddr" | "yiaddr"

/** RFC 2131 §4.1, giaddr zero: NAKs are broadcast; a client with ciaddr gets unicast there; else the broadcast bit decides. */
const addressing = (msg: DhcpMessage, type: number | undefined): Addressing =>
  type === DHCPNAK ? "broadcast" : msg.ciaddr !== 0 ? "ciaddr" : msg.broadcast ? "broadcast" : "yiaddr"

const reply = (
  config: StackConfig,
  msg: DhcpMessage,
  type: number | undefined,
  yiaddr: Ipv4,
  options: ReadonlyArray<readonly [number, Uint8Array]>,
): ReadonlyArray<LayerOutput> => {
  const isNak = type === DHCPNAK
  const emitted = emitDhcp({
    op: BOOTREPLY,
    xid: msg.xid,
    flags: msg.flags,
    // RFC 2131 Table 3: ciaddr echoed in ACK (renewing/rebinding/inform), zero in OFFER and NAK.
    ciaddr: type === DHCPACK ? msg.ciaddr : 0,
    yiaddr,
    // "next server": libslirp points it at the host, where its TFTP server lives.
    siaddr: isNak ? 0 : config.host,
    chaddr: msg.chaddr,
    ...(isNak || config.tftpServerName === undefined ? {} : { sname: config.tftpServerName }),
    ...(isNak || config.bootfile === undefined ? {} : { file: config.bootfile }),
    options,
    maxLength: replyLimit(config, msg),
  })
  const how = addressing(msg, type)
  const dst = how === "broadcast" ? IPV4_BROADCAST : how === "ciaddr" ? msg.ciaddr : yiaddr
  const packet: Ipv4PacketToGuest = {
    _tag: "PacketToGuest", family: 4,
    src: config.host,
    dst,
    protocol: 17,
    header: emitUdpHeader(DHCP_SERVER_PORT, DHCP_CLIENT_PORT, emitted.bytes.length),
    payload: emitted.bytes,
    checksumOffset: UDP_CHECKSUM_OFFSET,
    pseudoHeader: true,
    dstMac: how === "broadcast" ? BROADCAST_MAC : msg.chaddr.slice(0, 6),
  }
  const out: Array<LayerOutput> = [packet]
  if (emitted.omitted.length > 0) {
    out.push(log("warn", `dhcp: ${messageTypeName(type)} to ${formatMac(msg.chaddr)} too large, left out ${emitted.omitted.join(", ")}`))
  }
  return out
}

const nak = (config: StackConfig, msg: DhcpMessage, why: string): ReadonlyArray<LayerOutput> => [
  ...reply(config, msg, DHCPNAK, 0, [
    [OPT.messageType, optU8(DHCPNAK)],
    [OPT.serverId, optIpv4(config.host)],
    [OPT.message, optString(NAK_MESSAGE)],
  ]),
  log("info", `dhcp: NAK to ${formatMac(msg.chaddr)}: ${why}`),
]

const leaseOptions = (config: StackConfig, msg: DhcpMessage, type: number | undefined) =>
  configOptions(config, msg, [
    ...(type === undefined ? [] : [[OPT.messageType, optU8(type)] as const]),
    [OPT.serverId, optIpv4(config.host)],
    [OPT.leaseTime, optU32(LEASE_TIME_S)],
  ])

// ---- the reducer ----

type Result = readonly [DhcpServerState, ReadonlyArray<LayerOutput>]

const drop = (state: DhcpServerState, why: string): Result => [state, [log("debug", `dhcp: drop: ${why}`)]]

/** Binds `ip` to the client and ACKs it (or answers a BOOTP request). */
const grant = (state: DhcpServerState, config: StackConfig, now: Instant, msg: DhcpMessage, mac: string, ip: Ipv4, type: typeof DHCPACK | undefined): Result => {
  const next = withLease(state, { ip, mac, bound: true, expiresAt: addMillis(now, LEASE_MS) })
  return [next, [...reply(config, msg, type, ip, leaseOptions(config, msg, type)), log("info", `dhcp: lease ${formatIpv4(ip)} to ${mac}`)]]
}

const onDiscover = (state: DhcpServerState, config: StackConfig, now: Instant, msg: DhcpMessage, mac: string): Result => {
  const ip = chooseAddress(state, config, now, mac, msg.opts.requestedIp)
  if (ip === undefined) return [state, [log("warn", `dhcp: no free address for ${mac}: pool of ${poolAddresses(config).length} exhausted`)]]
  const own = state.leases.get(mac)
  // Offering never shortens a live binding; a new offer is held briefly.
  const keep = own !== undefined && own.ip === ip && live(own, now) && own.bound
  const next = keep ? state : withLease(state, { ip, mac, bound: false, expiresAt: addMillis(now, OFFER_HOLD_MS) })
  return [next, [...reply(config, msg, DHCPOFFER, ip, leaseOptions(config, msg, DHCPOFFER)), log("debug", `dhcp: offer ${formatIpv4(ip)} to ${mac}`)]]
}

const onRequest = (state: DhcpServerState, config: StackConfig, now: Instant, msg: DhcpMessage, mac: string): Result => {
  const { serverId, requestedIp } = msg.opts
  const own = state.leases.get(mac)
  if (serverId !== undefined && serverId !== config.host) {
    // RFC 2131 §4.3.2: the client chose another server; withdraw our offer, stay silent.
    const next = own !== undefined && !own.bound ? withoutLease(state, mac) : state
    return [next, [log("debug", `dhcp: ${mac} chose server ${formatIpv4(serverId)}`)]]
  }
  if (serverId !== undefined) {
    // SELECTING: must name the address we offered, with ciaddr zero.
    if (requestedIp === undefined) return drop(state, `REQUEST from ${mac} in SELECTING without requested address`)
    if (own !== undefined && own.ip !== requestedIp) return [state, nak(config, msg, `asked for ${formatIpv4(requestedIp)}, offered ${formatIpv4(own.ip)}`)]
    if (!available(state, config, now, mac, requestedIp)) return [state, nak(config, msg, `${formatIpv4(requestedIp)} not available`)]
    return grant(state, config, now, msg, mac, requestedIp, DHCPACK)
  }
  // INIT-REBOOT names the address in option 50; RENEWING/REBINDING in ciaddr.
  const ip = requestedIp ?? msg.ciaddr
  if (ip === 0) return drop(state, `REQUEST from ${mac} names no address`)
  if (!available(state, config, now, mac, ip)) return [state, nak(config, msg, `${formatIpv4(ip)} not available`)]
  return grant(state, config, now, msg, mac, ip, DHCPACK)
}

const onRelease = (state: DhcpServerState, config: StackConfig, now: Instant, msg: DhcpMessage, mac: string): Result => {
  const serverId = msg.opts.serverId
  if (serverId !== undefined && serverId !== config.host) return drop(state, `RELEASE from ${mac} for server ${formatIpv4(serverId)}`)
  const own = state.leases.get(mac)
  if (own === undefined || own.ip !== msg.ciaddr) return drop(state, `RELEASE of ${formatIpv4(msg.ciaddr)} by ${mac}, which does not hold it`)
  // RFC 2131 §3.1 step 6 / §4.3.4: keep the record so the same client gets the address back.
  const next = withLease(state, { ...own, bound: false, expiresAt: now })
  return [next, [log("info", `dhcp: ${mac} released ${formatIpv4(own.ip)}`)]]
}

const onDecline = (state: DhcpServerState, now: Instant, msg: DhcpMessage, mac: string): Result => {
  const ip = msg.opts.requestedIp
  const own = state.leases.get(mac)
  if (ip === undefined || own === undefined || own.ip !== ip) return drop(state, `DECLINE by ${mac} of an address it was not given`)
  const declined = new Map(state.declined)
  for (const [a, until] of declined) if (until <= now) declined.delete(a)
  declined.set(ip, addMillis(now, DECLINE_HOLD_MS))
  return [{ ...withoutLease(state, mac), declined }, [log("warn", `dhcp: ${mac} declined ${formatIpv4(ip)} (in use on the link?)`)]]
}

const onInform = (state: DhcpServerState, config: StackConfig, msg: DhcpMessage, mac: string): Result => {
  // RFC 2131 §4.3.5: parameters only, no lease time, no yiaddr, unicast to ciaddr.
  const options = configOptions(config, msg, [
    [OPT.messageType, optU8(DHCPACK)],
    [OPT.serverId, optIpv4(config.host)],
  ])
  return [state, [...reply(config, msg, DHCPACK, 0, options), log("debug", `dhcp: INFORM from ${mac} at ${formatIpv4(msg.ciaddr)}`)]]
}

export const dhcpInput = (
  state: DhcpServerState,
  config: StackConfig,
  now: Instant,
  req: { readonly srcMac: Mac; readonly payload: Uint8Array },
): Result => {
  const parsed = parseDhcp(req.payload)
  if (!parsed.ok) return drop(state, parsed.reason)
  const msg = parsed.msg
  if (msg.op !== BOOTREQUEST) return drop(state, `op ${msg.op} is not BOOTREQUEST`)
  if (msg.htype !== HTYPE_ETHERNET || msg.hlen !== 6) return drop(state, `htype ${msg.htype} hlen ${msg.hlen} is not Ethernet`)
  if (msg.giaddr !== 0) return drop(state, `relayed via ${formatIpv4(msg.giaddr)}; the virtual link has no relays`)
  // The lease follows chaddr (RFC 2131 §4.2), not the frame's source; they match without relays.
  const mac = formatMac(msg.chaddr)
  const type = msg.opts.messageType
  if (type === undefined) {
    // BOOTP (RFC 951): a permanent-looking answer in one step, like libslirp.
    const ip = chooseAddress(state, config, now, mac, msg.ciaddr === 0 ? undefined : msg.ciaddr)
    if (ip === undefined) return [state, [log("warn", `dhcp: no free address for BOOTP client ${mac}`)]]
    return grant(state, config, now, msg, mac, ip, undefined)
  }
  switch (type) {
    case DHCPDISCOVER:
      return onDiscover(state, config, now, msg, mac)
    case DHCPREQUEST:
      return onRequest(state, config, now, msg, mac)
    case DHCPRELEASE:
      return onRelease(state, config, now, msg, mac)
    case DHCPDECLINE:
      return onDecline(state, now, msg, mac)
    case DHCPINFORM:
      return onInform(state, config, msg, mac)
    default:
      return drop(state, `${messageTypeName(type)} from ${mac} is not a client message`)
  }
}

/** For logs and tests: the address bound to a MAC ("52:54:00:12:34:56"), if its lease is live. */
export const leaseOf = (state: DhcpServerState, mac: string | Mac, now: Instant): Ipv4 | undefined => {
  const key = typeof mac === "string" ? formatMac(parseMac(mac) ?? new Uint8Array(6)) : formatMac(mac)
  const l = state.leases.get(key)
  return l !== undefined && l.bound && live(l, now) ? l.ip : undefined
}
