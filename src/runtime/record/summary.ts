/**
 * What `tslirp replay` prints: a summary of a replayed session (connections with endpoints,
 * bytes each way and how they ended, those a host client opened through a hostfwd rule
 * marked as such; UDP flows; DNS queries; DHCP leases; TFTP transfers; drops with their
 * reasons; retransmissions), built by watching replay steps; and a readable account of a
 * stack state (`--until N`). Endpoints of either family are shown (IPv6 in brackets), and
 * guestfwd targets as `unix:PATH` or `cmd:COMMAND`.
 *
 * Contract: neutral and pure over what it is shown: it reads events, effects and states and
 * changes none of them. It reads the stack's tables (TCP connections, NAPT flows, ARP cache,
 * DHCP leases) through their exported types only to name endpoints.
 */
import { describeTarget, type HostEndpoint } from "../../effects/address.ts"
import type { StackEffect } from "../../effects/effect.ts"
import type { StackEvent } from "../../effects/event.ts"
import { intMapGet, intMapValues } from "../../protocol/data/int-map.ts"
import { parseDnsHeader, parseDnsQuery, qtypeName } from "../../protocol/dns/wire.ts"
import { dropReason, formatCounters, isDns } from "../../protocol/stack/counters.ts"
import type { StackConfig } from "../../protocol/stack/config.ts"
import { stackCounters, type StackState } from "../../protocol/stack/stack.ts"
import { formatIp, type IpAddress } from "../../protocol/wire/ip-address.ts"
import { formatIpv4 } from "../../protocol/wire/ipv4-address.ts"
import { formatMac } from "../../protocol/wire/mac.ts"
import type { ReplayStep } from "./replay.ts"

const endpointText = describeTarget

/** `10.0.2.15:22`, `[fec0::15]:22`: an address of the stack's tables with a port. */
const ipPortText = (ip: IpAddress, port: number): string => (typeof ip === "number" ? `${formatIp(ip)}:${port}` : `[${formatIp(ip)}]:${port}`)

interface TcpConn {
  readonly sock: number
  /** Who opened it: the guest (to a host endpoint), or a host client through a hostfwd rule. */
  readonly origin: "guest" | "host"
  /** The host end: where the guest connected to, or the hostfwd client. */
  readonly to: string
  guest: string
  up: number
  down: number
  readonly ends: Array<string>
}

interface UdpFlow {
  readonly sock: number
  guest: string
  readonly to: Set<string>
  sent: number
  sentBytes: number
  received: number
  receivedBytes: number
  closed: boolean
}

interface DnsQuery {
  readonly sock: number
  readonly id: number
  readonly question: string
  answer: string
}

export interface SessionSummary {
  readonly events: number
  readonly seconds: number
  readonly tcp: ReadonlyArray<TcpConn>
  readonly udp: ReadonlyArray<UdpFlow>
  readonly icmp: { readonly flows: number; readonly echoes: number; readonly replies: number }
  readonly dns: ReadonlyArray<DnsQuery>
  readonly dhcp: ReadonlyArray<string>
  /** TFTP transfers as the server reported them (sent, timed out) and files it could not open. */
  readonly tftp: ReadonlyArray<string>
  readonly drops: ReadonlyMap<string, number>
  /** The final counters line (StackState only). */
  readonly counters: string | undefined
  readonly retransmissions: number | undefined
}

const isStackState = (s: unknown): s is StackState =>
  typeof s === "object" && s !== null && "counters" in s && "tcp" in s && "napt" in s

/** Watches steps (`observe`) and returns the summary (`finish`); `config` names the DNS upstream. */
export const summarizer = (config?: StackConfig) => {
  const dnsServer = (to: HostEndpoint): boolean => (config === undefined ? to.port === 53 : isDns(config, to))
  const tcp = new Map<number, TcpConn>()
  const udp = new Map<number, UdpFlow>()
  const dns: Array<DnsQuery> = []
  const dhcp: Array<string> = []
  const tftp: Array<string> = []
  // hostfwd clients waiting for the stack's answer (accepted number -> who), and files opened.
  const accepted = new Map<number, string>()
  const files = new Map<number, string>()
  const drops = new Map<string, number>()
  const icmp = { flows: 0, echoes: 0, replies: 0 }
  let events = 0
  let first: number | undefined
  let last = 0
  let lastState: unknown

  const onEvent = (e: StackEvent): void => {
    switch (e._tag) {
      case "HostTcpData": {
        const c = tcp.get(e.sock)
        if (c !== undefined) c.down += e.data.length
        return
      }
      case "HostTcpEof":
        tcp.get(e.sock)?.ends.push("host sent FIN")
        return
      case "HostSocketError":
        tcp.get(e.sock)?.ends.push(`host error ${e.code}`)
        return
      case "HostSocketClosed": {
        const c = tcp.get(e.sock)
        if (c !== undefined && c.ends.at(-1) !== "closed") c.ends.push("closed")
        return
      }
      case "HostUdpDatagram": {
        const f = udp.get(e.sock)
        if (f !== undefined) {
          f.received++
          f.receivedBytes += e.data.length
        }
        if (dnsServer(e.from)) {
          const h = parseDnsHeader(e.data)
          const q = h === undefined ? undefined : dns.find((d) => d.sock === e.sock && d.id === h.id && d.answer === "no answer")
          if (q !== undefined && h !== undefined) q.answer = h.rcode === 0 ? `${h.ancount} answer(s)` : h.rcode === 3 ? "NXDOMAIN" : `rcode ${h.rcode}`
        }
        return
      }
      case "HostIcmpEchoReply":
        icmp.replies++
        return
      case "HostTcpAccepted":
        accepted.set(e.accepted, e.peer === undefined ? "a unix client" : endpointText(e.peer))
        return
      case "HostFileError": {
        const path = files.get(e.file)
        if (path !== undefined) tftp.push(`${JSON.stringify(path)}: ${e.code}`)
        return
      }
      default:
        return
    }
  }

  const guestEnd = (state: unknown, sock: number): string => {
    if (!isStackState(state)) return "?"
    const tcb = intMapGet(state.tcp.conns, sock)
    return tcb === undefined ? "?" : ipPortText(tcb.guestIp, tcb.guestPort)
  }

  const onEffect = (e: StackEffect, state: unknown): void => {
    switch (e._tag) {
      case "TcpConnect": {
        tcp.set(e.sock, { sock: e.sock, origin: "guest", to: endpointText(e.to), guest: guestEnd(state, e.sock), up: 0, down: 0, ends: [] })
        return
      }
      case "TcpAdopt": {
        const from = accepted.get(e.accepted) ?? "?"
        accepted.delete(e.accepted)
        tcp.set(e.sock, { sock: e.sock, origin: "host", to: from, guest: guestEnd(state, e.sock), up: 0, down: 0, ends: [] })
        return
      }
      case "TcpRefuse":
        accepted.delete(e.accepted)
        return
      case "FileOpen":
        files.set(e.file, e.path)
        return
      case "TcpWrite": {
        const c = tcp.get(e.sock)
        if (c !== undefined) for (const chunk of e.chunks) c.up += chunk.length
        return
      }
      case "TcpShutdownWrite":
        tcp.get(e.sock)?.ends.push("guest sent FIN")
        return
      case "TcpReset":
        tcp.get(e.sock)?.ends.push("reset")
        return
      case "SocketClose": {
        const c = tcp.get(e.sock)
        if (c !== undefined && c.ends.at(-1) !== "closed") c.ends.push("closed")
        const f = udp.get(e.sock)
        if (f !== undefined) f.closed = true
        return
      }
      case "UdpOpen": {
        const f: UdpFlow = { sock: e.sock, guest: "?", to: new Set(), sent: 0, sentBytes: 0, received: 0, receivedBytes: 0, closed: false }
        udp.set(e.sock, f)
        return
      }
      case "UdpSend": {
        const f = udp.get(e.sock)
        if (f !== undefined) {
          if (f.guest === "?" && isStackState(state)) {
            const flow = intMapGet(state.napt.flows.bySock, e.sock)
            if (flow !== undefined) f.guest = `${formatIp(flow.guest)}:${flow.guestPort}`
          }
          f.to.add(endpointText(e.to))
          f.sent++
          f.sentBytes += e.data.length
        }
        if (dnsServer(e.to)) {
          const q = parseDnsQuery(e.data)
          if (q !== undefined) dns.push({ sock: e.sock, id: q.header.id, question: `${q.question.name} ${qtypeName(q.question.qtype)}`, answer: "no answer" })
        }
        return
      }
      case "IcmpOpen":
        icmp.flows++
        return
      case "IcmpEchoSend":
        icmp.echoes++
        return
      case "Log":
        if (e.level === "debug") {
          const reason = dropReason(e.message)
          if (reason !== undefined) drops.set(reason, (drops.get(reason) ?? 0) + 1)
        } else if (e.message.startsWith("tftp: sent ") || e.message.startsWith("tftp: transfer of ")) {
          tftp.push(e.message.slice("tftp: ".length))
        } else if (e.message.startsWith("dhcp: lease ") || (e.message.startsWith("dhcpv6: ") && e.message.includes(" bound for client "))) {
          dhcp.push(e.message.replace(/^dhcp(v6)?: /, ""))
        }
        return
      default:
        return
    }
  }

  return {
    observe(step: ReplayStep<unknown>): void {
      events++
      first ??= step.event.now
      last = step.event.now
      onEvent(step.event)
      for (const e of step.effects) onEffect(e, step.state)
      lastState = step.state
    },
    finish(): SessionSummary {
      const counters = isStackState(lastState) ? stackCounters(lastState) : undefined
      return {
        events,
        seconds: first === undefined ? 0 : (last - first) / 1000,
        tcp: [...tcp.values()],
        udp: [...udp.values()],
        icmp,
        dns,
        dhcp,
        tftp,
        drops,
        counters: counters === undefined ? undefined : formatCounters(counters),
        retransmissions: counters?.retransmissions,
      }
    },
  }
}

/** The summary as lines for people. */
export const formatSummary = (s: SessionSummary): ReadonlyArray<string> => {
  const out: Array<string> = [`${s.events} events over ${s.seconds.toFixed(3)} s`]
  out.push(`TCP connections: ${s.tcp.length}`)
  for (const c of s.tcp) {
    const ends = c.origin === "guest" ? `${c.guest} -> ${c.to}` : `host ${c.to} -> ${c.guest} (hostfwd)`
    out.push(`  sock ${c.sock} ${ends}: ${c.up} bytes up, ${c.down} bytes down; ${c.ends.length === 0 ? "still open" : c.ends.join(", ")}`)
  }
  out.push(`UDP flows: ${s.udp.length}`)
  for (const f of s.udp)
    out.push(`  sock ${f.sock} ${f.guest} -> ${[...f.to].join(" ")}: ${f.sent} datagrams (${f.sentBytes} bytes) out, ${f.received} (${f.receivedBytes} bytes) in${f.closed ? ", closed" : ""}`)
  out.push(`ICMP echo flows: ${s.icmp.flows} (${s.icmp.echoes} echoes sent to the host, ${s.icmp.replies} replies)`)
  out.push(`DNS queries: ${s.dns.length}`)
  for (const q of s.dns) out.push(`  ${q.question}: ${q.answer}`)
  out.push(`DHCP leases: ${s.dhcp.length}`)
  for (const l of s.dhcp) out.push(`  ${l}`)
  if (s.tftp.length > 0) {
    out.push(`TFTP transfers: ${s.tftp.length}`)
    for (const t of s.tftp) out.push(`  ${t}`)
  }
  const drops = [...s.drops.entries()].sort((a, b) => b[1] - a[1])
  out.push(`drops: ${drops.reduce((n, [, k]) => n + k, 0)}`)
  for (const [reason, n] of drops) out.push(`  ${reason}: ${n}`)
  if (s.retransmissions !== undefined) out.push(`retransmissions: ${s.retransmissions}`)
  if (s.counters !== undefined) out.push(`counters: ${s.counters}`)
  return out
}

/** A stack state for people (`--until N`): what it knows, not how it stores it. */
export const describeState = (s: StackState): ReadonlyArray<string> => {
  const out: Array<string> = []
  const c = s.config
  out.push(`network ${formatIpv4(c.network)}/${c.prefixLength}, gateway ${formatIpv4(c.host)}, dns ${formatIpv4(c.dns)}, mtu ${c.mtu}, seed ${c.seed}`)
  out.push(`counters: ${formatCounters(stackCounters(s))}`)
  out.push(`ARP cache: ${s.ipv4.neighbors.cache.size === 0 ? "empty" : [...s.ipv4.neighbors.cache.entries()].map(([ip, mac]) => `${formatIpv4(ip)} at ${formatMac(mac)}`).join(", ")}`)
  const leases = [...s.dhcp.leases.values()]
  out.push(`DHCP leases: ${leases.length === 0 ? "none" : leases.map((l) => `${formatIpv4(l.ip)} to ${l.mac} (${l.bound ? "bound" : "offered"}, until ${l.expiresAt.toFixed(0)} ms)`).join(", ")}`)
  const conns = [...intMapValues(s.tcp.conns)]
  out.push(`TCP connections: ${conns.length}`)
  for (const t of conns) {
    out.push(
      `  sock ${t.sock} ${ipPortText(t.guestIp, t.guestPort)} <-> ${ipPortText(t.remoteIp, t.remotePort)} ${t.state}, ` +
        `${t.sendBuf.length} bytes waiting for the guest's ACK, ${(t.sndMax - t.sndUna) >>> 0} in flight`,
    )
  }
  const flows = [...intMapValues(s.napt.flows.bySock)]
  out.push(`UDP/ICMP flows: ${flows.length}`)
  for (const f of flows) out.push(`  sock ${f.sock} ${f.kind} ${formatIp(f.guest)}:${f.guestPort}, idle since ${f.lastActive.toFixed(0)} ms`)
  out.push(`next socket id: ${s.sockets.next}`)
  return out
}
