/**
 * Counters per stack instance (per guest): frames and bytes each way, drops by reason, TCP
 * connections, UDP and ICMP flows, DNS queries, DHCP leases, TCP retransmissions.
 *
 * Contract: pure, and counted in one place: `countEvent` looks only at the event, the state
 * before and after, and the effects the layers returned, so no layer is edited to count.
 * - A drop is a debug `Log` (every layer logs each drop at debug level with its reason, many
 *   as the bare parse failure, "udp: bad checksum"), except the few debug lines that report
 *   progress (`NOT_DROPS`: DHCP offers, flow expiry, TCP timeouts, ICMP errors withheld by
 *   rule), so a drop nobody listed is still counted. Its reason key is the layer (the
 *   message's first word) and a kind: `checksum`, `unknown-protocol`, `bound` (a queue, table or buffer
 *   full), `unknown-socket`, `disabled`, `unresolved` (no ARP/NDP answer), `malformed` (the
 *   rest), e.g. "udp checksum", "ipv4 reassembly bound". TFTP and forwarding lines have kinds
 *   of their own: `refused` (a request answered with an error), `stale` (a late, repeated or
 *   unknown-transfer packet or event, ignored), `unreachable` (a hostfwd UDP peer); their
 *   progress lines (a transfer starts, a hostfwd client is forwarded, a peer is mapped, a file
 *   error answered to the guest) are not drops. A hostfwd client refused (`TcpRefuse`, logged
 *   at info) counts as the drop "hostfwd refused".
 * - A retransmission is a TCP segment to the guest, over IPv4 or IPv6, carrying data, SYN or
 *   FIN whose sequence number is below the highest the connection had sent before the event
 *   (its `sndMax`).
 * - `tcpTotal` counts host connects asked for (`TcpConnect`) and hostfwd clients adopted
 *   (`TcpAdopt`): every connection the TCP table opened. `udpFlows` counts the guest's flows
 *   (`UdpOpen`) and the hostfwd UDP peers the event mapped (`newHostFwdPeers`: the rise of
 *   the hostfwd table's peer count, which only a datagram from a new peer raises);
 *   `icmpFlows` the guest's echo flows (`IcmpOpen`).
 * - DNS queries are datagrams to the host on port 53 or to the configured upstream; DHCP leases
 *   are the server's `dhcp: lease` / DHCPv6 `bound` lines (each an ACK or REPLY with a lease).
 * - `tcpOpen` is not counted but read: the connections in the TCP table.
 * Counters survive `Shutdown` (the stack is fresh afterwards, its counters are not).
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { StackEvent } from "../../effects/event.ts"
import { lookup } from "../tcp/layer.ts"
import { seqLt } from "../tcp/seq.ts"
import type { IpAddress } from "../wire/ip-address.ts"
import type { StackConfig } from "./config.ts"
import type { TcpLayerState } from "../tcp/layer.ts"

export interface StackCounters {
  readonly framesFromGuest: number
  readonly bytesFromGuest: number
  readonly framesToGuest: number
  readonly bytesToGuest: number
  /** Drops by reason key ("udp checksum", "arp bound", ...). */
  readonly drops: Readonly<Record<string, number>>
  /** TCP connections ever opened (host connects asked for, hostfwd clients adopted). */
  readonly tcpTotal: number
  /** Connections aborted with RST (by either side, or by us on a failure). */
  readonly tcpReset: number
  readonly udpFlows: number
  readonly icmpFlows: number
  readonly dnsQueries: number
  readonly dhcpLeases: number
  readonly retransmissions: number
}

/** What `stackCounters` reports: the counters plus what is read from the state. */
export interface CounterReport extends StackCounters {
  readonly tcpOpen: number
}

export const emptyCounters: StackCounters = {
  framesFromGuest: 0,
  bytesFromGuest: 0,
  framesToGuest: 0,
  bytesToGuest: 0,
  drops: {},
  tcpTotal: 0,
  tcpReset: 0,
  udpFlows: 0,
  icmpFlows: 0,
  dnsQueries: 0,
  dhcpLeases: 0,
  retransmissions: 0,
}

/** Debug lines that report progress, not a drop. */
const NOT_DROPS = /^dhcp: (offer |INFORM |.* chose server )|\bexpired$|no error sent about|: retransmission timeout \d/

/** TFTP and forwarding progress lines (server.ts, hostfwd.ts, stack.ts `hostTcpAccepted`). */
const FORWARD_PROGRESS =
  /^tftp: (.* reads .* \(transfer port \d+\)$|.* ended the transfer of |".*" for .*: E[A-Z]+$)|^hostfwd (tcp|udp):.*(: opening$| to the guest$)|^hostfwd: .* -> .* as .* \(socket \d+\)$/

/** The kind of a TFTP or forwarding drop, or undefined for the generic kinds. */
const forwardKind = (layer: string, text: string): string | undefined => {
  if (layer !== "tftp" && layer !== "hostfwd" && layer !== "guestfwd") return undefined
  if (/\brefused\b/.test(text)) return "refused"
  if (/\bignored\b|unknown transfer ID|without a transfer|no rule \d+ to remove/.test(text)) return "stale"
  if (/\bunreachable\b/.test(text)) return "unreachable"
  return undefined
}

/** The reason key of a debug line that reports a drop; undefined if it reports none. */
export const dropReason = (message: string): string | undefined => {
  if (NOT_DROPS.test(message) || FORWARD_PROGRESS.test(message)) return undefined
  // The layer is the first word ("udp:", "tcp 10.0.2.15:1<->...: ...", "ipv4 reassembly ...").
  const colon = message.indexOf(":")
  const first = /^[A-Za-z][A-Za-z0-9]*/.exec(message)?.[0] ?? "stack"
  const text = colon < 0 ? message : message.slice(colon + 1)
  const kind = forwardKind(first, text) ?? (/checksum/.test(text)
    ? "checksum"
    : /unknown socket/.test(message)
      ? "unknown-socket"
      : /disabled/.test(text)
        ? "disabled"
        : /no answer/.test(text)
          ? "unresolved"
          : /\b(full|held|in progress|flows open|too many|limit|exceeds)\b/.test(text)
            ? "bound"
            : /protocol|ethertype|next header|\btype \d+|\bop \d+|message type/.test(text)
              ? "unknown-protocol"
              : "malformed")
  return `${first} ${kind}`
}

/** A datagram to (or from) a DNS server: port 53 or the configured upstream. */
export const isDns = (config: StackConfig, to: { readonly address: string; readonly port: number }): boolean =>
  to.port === 53 || (config.dnsUpstream !== undefined && to.port === config.dnsUpstream.port && to.address === config.dnsUpstream.address)

/**
 * Whether `frame` (to the guest) is a TCP segment with data, SYN or FIN below the `sndMax` its
 * connection had in `tcp` (the TCP state before the event), over IPv4 or IPv6. The TCP layer
 * sends IPv6 segments with no extension header, so TCP follows the fixed header directly.
 */
const isRetransmission = (tcp: TcpLayerState, frame: Uint8Array): boolean => {
  if (frame.length < 54) return false
  const u32 = (o: number): number => ((frame[o]! << 24) | (frame[o + 1]! << 16) | (frame[o + 2]! << 8) | frame[o + 3]!) >>> 0
  let t: number
  let len: number
  let guestIp: IpAddress
  let remoteIp: IpAddress
  if (frame[12] === 0x08 && frame[13] === 0x00) {
    if (frame[23] !== 6) return false
    const ihl = (frame[14]! & 0x0f) * 4
    // A fragment after the first has no TCP header.
    if (((frame[20]! & 0x1f) << 8) | frame[21]!) return false
    t = 14 + ihl
    if (frame.length < t + 20) return false
    len = ((frame[16]! << 8) | frame[17]!) - ihl
    remoteIp = u32(26)
    guestIp = u32(30)
  } else if (frame[12] === 0x86 && frame[13] === 0xdd) {
    if (frame[20] !== 6) return false
    t = 54
    if (frame.length < t + 20) return false
    len = (frame[18]! << 8) | frame[19]!
    // Views of the frame, only compared during this call (ipEquals), never kept.
    remoteIp = frame.subarray(22, 38)
    guestIp = frame.subarray(38, 54)
  } else return false
  const dataOffset = (frame[t + 12]! >> 4) * 4
  const flags = frame[t + 13]!
  if (len - dataOffset <= 0 && (flags & 0x03) === 0) return false // nothing but an ACK: never "retransmitted"
  const c = lookup(tcp, guestIp, (frame[t + 2]! << 8) | frame[t + 3]!, remoteIp, (frame[t]! << 8) | frame[t + 1]!)
  return c !== undefined && seqLt(u32(t + 4), c.sndMax)
}

/**
 * The counters after `event`, given the state before (`s`) and the effects. This runs on every
 * event: plain locals and one object at the end, no allocation when nothing changed.
 */
export const countEvent = (
  c: StackCounters,
  config: StackConfig,
  tcpBefore: TcpLayerState,
  event: StackEvent,
  effects: ReadonlyArray<StackEffect>,
  newHostFwdPeers = 0,
): StackCounters => {
  let drops: Record<string, number> | undefined
  let { framesToGuest, bytesToGuest, tcpTotal, tcpReset, udpFlows, icmpFlows, dnsQueries, dhcpLeases, retransmissions } = c
  udpFlows += newHostFwdPeers
  // Retransmissions come from the TCP timer or from the guest's ACKs.
  const mayRetransmit = event._tag === "FrameFromGuest" || (event._tag === "TimerFired" && event.timer.layer === "tcp")
  for (let i = 0; i < effects.length; i++) {
    const e = effects[i]!
    switch (e._tag) {
      case "DeliverFrame":
        framesToGuest++
        bytesToGuest += e.frame.length
        if (mayRetransmit && isRetransmission(tcpBefore, e.frame)) retransmissions++
        break
      case "TcpConnect":
      case "TcpAdopt":
        tcpTotal++
        break
      case "TcpReset":
        tcpReset++
        break
      case "TcpRefuse":
        drops ??= { ...c.drops }
        drops["hostfwd refused"] = (drops["hostfwd refused"] ?? 0) + 1
        break
      case "UdpOpen":
        udpFlows++
        break
      case "IcmpOpen":
        icmpFlows++
        break
      case "UdpSend":
        if (isDns(config, e.to)) dnsQueries++
        break
      case "Log":
        if (e.level === "debug") {
          const reason = dropReason(e.message)
          if (reason !== undefined) {
            drops ??= { ...c.drops }
            drops[reason] = (drops[reason] ?? 0) + 1
          }
        } else if (e.level === "info" && (e.message.startsWith("dhcp: lease ") || (e.message.startsWith("dhcpv6: ") && e.message.includes(" bound for client ")))) {
          dhcpLeases++
        }
        break
      default:
        break
    }
  }
  if (event._tag === "HostSocketError" && event.code === "ECONNRESET") tcpReset++
  const fromGuest = event._tag === "FrameFromGuest"
  if (!fromGuest && framesToGuest === c.framesToGuest && drops === undefined && tcpTotal === c.tcpTotal && tcpReset === c.tcpReset &&
    udpFlows === c.udpFlows && icmpFlows === c.icmpFlows && dnsQueries === c.dnsQueries && dhcpLeases === c.dhcpLeases && retransmissions === c.retransmissions)
    return c
  return {
    framesFromGuest: fromGuest ? c.framesFromGuest + 1 : c.framesFromGuest,
    bytesFromGuest: fromGuest ? c.bytesFromGuest + event.frame.length : c.bytesFromGuest,
    framesToGuest,
    bytesToGuest,
    drops: drops ?? c.drops,
    tcpTotal,
    tcpReset,
    udpFlows,
    icmpFlows,
    dnsQueries,
    dhcpLeases,
    retransmissions,
  }
}

/** One line for the log when a guest leaves. */
export const formatCounters = (r: CounterReport): string => {
  const drops = Object.entries(r.drops)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(", ")
  return (
    `from guest ${r.framesFromGuest} frames ${r.bytesFromGuest} bytes, to guest ${r.framesToGuest} frames ${r.bytesToGuest} bytes; ` +
    `tcp ${r.tcpTotal} total ${r.tcpOpen} open ${r.tcpReset} reset ${r.retransmissions} retransmissions; ` +
    `udp flows ${r.udpFlows}, icmp flows ${r.icmpFlows}, dns queries ${r.dnsQueries}, dhcp leases ${r.dhcpLeases}; ` +
    `drops: ${drops === "" ? "none" : drops}`
  )
}
