/**
 * The `ForwardControl` implementation (api/forward-control.ts) over running stack sessions: the
 * CLI's guest sessions and `EmbeddedStack`/`NodeStack` (one session). It keeps the rules, feeds
 * them to every session as events (`HostFwdAdd`, `GuestFwdAdd`, ...; each session's stack opens
 * its own listeners), and learns whether a listener bound by watching the session's host ports
 * (`wrapDeps`).
 *
 * Several guests (the CLI serves one session per QEMU): rules belong to the process and every
 * session gets them, current and future. A host address is bound once: the first session's
 * listener wins and the others log EADDRINUSE and carry on without it (so with one QEMU at a
 * time, the next guest takes the port over once the first has gone).
 *
 * Contract (beyond forward-control.ts's):
 * - `addHostFwd` resolves when some session's listener is bound (with the port it got, for 0),
 *   rejects with one line when every session failed to bind it (`address in use`, ...) or the
 *   rule is bad or a duplicate; with no session running it resolves at once and the rule waits
 *   for the next guest (nothing can be bound without a stack to own it).
 * - Entries show the guest address a rule forwards to: a rule given without one (""), the first
 *   DHCP lease (`dhcpStart`, 10.0.2.15 by default), fixed for the process.
 * - `listConnections` reads each session's stack state: TCP connections with their RFC 9293
 *   state and bytes each way (from the sequence numbers), udp hostfwd peers and UDP and ICMP
 *   flows as "open" (a flow's host side is any peer, "*"), their bytes each way counted at the
 *   host ports (datagram-bytes.ts) for a session attached with the deps `wrapDeps` gave it
 *   (else 0).
 * Neutral: nothing from Node.
 */
import type { HostBind } from "../../effects/address.ts"
import type { HostListening, HostSocketError, StackEvent } from "../../effects/event.ts"
import type { SocketId } from "../../effects/ids.ts"
import { intMapValues } from "../../protocol/data/int-map.ts"
import type { StackConfig } from "../../protocol/stack/config.ts"
import { validateConfig } from "../../protocol/stack/config.ts"
import { type StackState, stackCounters } from "../../protocol/stack/stack.ts"
import type { CounterReport } from "../../protocol/stack/counters.ts"
import { tcpConnections } from "../../protocol/tcp/layer.ts"
import { seqDiff } from "../../protocol/tcp/seq.ts"
import { formatIp } from "../../protocol/wire/ip-address.ts"
import { formatIpv4 } from "../../protocol/wire/ipv4-address.ts"
import type { ConnectionInfo, ForwardControl, GuestFwdEntry, GuestFwdRule, HostFwdEntry, HostFwdRule } from "../api/forward-control.ts"
import type { Report } from "../host/ports.ts"
import type { HostDeps } from "../host/session.ts"
import { DatagramBytes } from "./datagram-bytes.ts"
import { type GuestFwdSpec, type HostFwdSpec, guestFwdFromRule, hostFwdFromRule, ruleOfGuestFwd, ruleOfHostFwd, serverOf } from "./rules.ts"

/** What the forwarder needs of a session: a way in, and (for listings) its stack's state. */
export interface ForwardedSession {
  input(event: StackEvent): void
  inspect?(): unknown
}

const bindKey = (proto: "tcp" | "udp", b: HostBind): string =>
  b.family === "unix" ? `unix|${b.path}` : `${proto}|${b.family}|${b.address}|${b.port}`

/** errno names as one line for a user. */
const describeError = (code: string): string =>
  code === "EADDRINUSE" ? "address in use" : code === "EADDRNOTAVAIL" ? "address not available on this host" : code === "EACCES" ? "permission denied (a privileged port?)" : code

interface Waiter {
  outstanding: number
  readonly done: (port: number | undefined, error: string | undefined) => void
}

export class Forwarder implements ForwardControl {
  private nextId = 1
  private readonly host = new Map<number, { spec: HostFwdSpec; entry: HostFwdEntry }>()
  private readonly guest = new Map<number, { spec: GuestFwdSpec; entry: GuestFwdEntry }>()
  private readonly sessions = new Set<ForwardedSession>()
  /** Each session's UDP/ICMP byte counts, by the deps `wrapDeps` made (then by session, once attached). */
  private readonly bytesOfDeps = new WeakMap<HostDeps, DatagramBytes>()
  private readonly bytesOfSession = new Map<ForwardedSession, DatagramBytes>()
  /** Adds waiting for a bind, by bind key, oldest first (two adds of port 0 wait in turn). */
  private readonly waiters = new Map<string, Array<Waiter>>()

  private readonly config: StackConfig
  private readonly now: () => number

  constructor(config: StackConfig, now: () => number, hostFwd: ReadonlyArray<HostFwdSpec> = [], guestFwd: ReadonlyArray<GuestFwdSpec> = []) {
    this.config = config
    this.now = now
    for (const h of hostFwd) this.keepHost(h)
    for (const g of guestFwd) this.keepGuest(g)
  }

  private keepHost(spec: HostFwdSpec): HostFwdEntry {
    // A rule without a guest address is listed with the one it forwards to (the first DHCP
    // lease), as slirp4netns lists its default (10.0.2.100) rather than "": clients that parse
    // guest_addr as an address keep working.
    const rule = ruleOfHostFwd(spec)
    const entry = { id: this.nextId++, ...rule, guestAddr: spec.guest === undefined ? formatIpv4(this.config.dhcpStart) : rule.guestAddr }
    this.host.set(entry.id, { spec, entry })
    return entry
  }

  private keepGuest(spec: GuestFwdSpec): GuestFwdEntry {
    const entry = { id: this.nextId++, ...ruleOfGuestFwd(this.config, spec) }
    this.guest.set(entry.id, { spec, entry })
    return entry
  }

  private hostEvent(id: number, spec: HostFwdSpec): StackEvent {
    return { _tag: "HostFwdAdd", now: this.now() as never, id, proto: spec.proto, bind: spec.bind, guest: spec.guest, guestPort: spec.guestPort }
  }

  private guestEvent(id: number, spec: GuestFwdSpec): StackEvent {
    return { _tag: "GuestFwdAdd", now: this.now() as never, id, server: serverOf(this.config, spec), port: spec.port, target: spec.target }
  }

  /**
   * Host ports that tell the forwarder how each listener's bind went (the session's ports are
   * made from these deps) and count the bytes of UDP and ICMP flows (give the same deps to
   * `attach`); everything else passes through untouched.
   */
  wrapDeps(plain: HostDeps): HostDeps {
    const bytes = new DatagramBytes()
    const wrapped = this.watchListeners(bytes.wrap(plain))
    this.bytesOfDeps.set(wrapped, bytes)
    return wrapped
  }

  private watchListeners(deps: HostDeps): HostDeps {
    const watch = (report: Report, keys: Map<SocketId, string>): Report => (event) => {
      if (event._tag === "HostListening" || event._tag === "HostSocketError") this.listenResult(keys, event)
      report(event)
    }
    return {
      ...deps,
      tcp: (report) => {
        const keys = new Map<SocketId, string>()
        const port = deps.tcp(watch(report, keys))
        if (port.listen === undefined) return port
        const listen = port.listen.bind(port)
        return {
          ...port,
          listen: (sock: SocketId, bind: HostBind) => {
            keys.set(sock, bindKey("tcp", bind))
            listen(sock, bind)
          },
        }
      },
      udp: (report) => {
        const keys = new Map<SocketId, string>()
        const port = deps.udp(watch(report, keys))
        if (port.bind === undefined) return port
        const bind = port.bind.bind(port)
        return {
          ...port,
          bind: (sock: SocketId, at: Parameters<typeof bind>[1]) => {
            keys.set(sock, bindKey("udp", at))
            bind(sock, at)
          },
        }
      },
    }
  }

  private listenResult(keys: Map<SocketId, string>, event: HostListening | HostSocketError): void {
    const key = keys.get(event.sock)
    if (key === undefined) return
    keys.delete(event.sock)
    const queue = this.waiters.get(key)
    const w = queue?.[0]
    if (queue === undefined || w === undefined) return
    const finish = (): void => {
      queue.shift()
      if (queue.length === 0) this.waiters.delete(key)
    }
    if (event._tag === "HostListening") {
      finish()
      w.done(event.port, undefined)
    } else if (--w.outstanding <= 0) {
      finish()
      w.done(undefined, describeError(event.code))
    }
  }

  /**
   * A session starts: it gets every rule; returns the function that forgets it when it ends.
   * `deps`: what `wrapDeps` gave for this session's ports, so its flows' bytes are listed.
   */
  attach(session: ForwardedSession, deps?: HostDeps): () => void {
    this.sessions.add(session)
    const bytes = deps === undefined ? undefined : this.bytesOfDeps.get(deps)
    if (bytes !== undefined) this.bytesOfSession.set(session, bytes)
    for (const [id, g] of this.guest) session.input(this.guestEvent(id, g.spec))
    for (const [id, h] of this.host) session.input(this.hostEvent(id, h.spec))
    return () => {
      this.sessions.delete(session)
      this.bytesOfSession.delete(session)
    }
  }

  readonly addHostFwd = (rule: HostFwdRule): Promise<HostFwdEntry> => {
    const spec = hostFwdFromRule(rule)
    if (typeof spec === "string") return Promise.reject(new Error(spec))
    return this.addHostSpec(spec)
  }

  /** `addHostFwd` for a parsed rule (the library's `--hostfwd` strings). */
  addHostSpec(spec: HostFwdSpec): Promise<HostFwdEntry> {
    const key = bindKey(spec.proto, spec.bind)
    for (const h of this.host.values()) {
      if (bindKey(h.spec.proto, h.spec.bind) === key && !(spec.bind.family !== "unix" && spec.bind.port === 0)) {
        return Promise.reject(new Error(`a ${spec.proto} rule for host ${h.entry.hostAddr === "" ? "*" : h.entry.hostAddr}:${h.entry.hostPort} exists already (id ${h.entry.id})`))
      }
    }
    const entry = this.keepHost(spec)
    if (this.sessions.size === 0) return Promise.resolve(entry)
    return new Promise((resolve, reject) => {
      const queue = this.waiters.get(key) ?? []
      this.waiters.set(key, queue)
      queue.push({
        outstanding: this.sessions.size,
        done: (port, error) => {
          if (error !== undefined) {
            this.host.delete(entry.id)
            for (const s of this.sessions) s.input({ _tag: "HostFwdRemove", now: this.now() as never, id: entry.id })
            reject(new Error(`${spec.proto} ${entry.hostAddr === "" ? "*" : entry.hostAddr}:${entry.hostPort}: ${error}`))
            return
          }
          if (port === undefined || spec.bind.family === "unix" || spec.bind.port !== 0) return resolve(entry)
          // Port 0: the rule is now the port the host gave.
          const bound = { ...entry, hostPort: port }
          this.host.set(entry.id, { spec: { ...spec, bind: { ...spec.bind, port } }, entry: bound })
          resolve(bound)
        },
      })
      for (const s of this.sessions) s.input(this.hostEvent(entry.id, spec))
    })
  }

  readonly removeHostFwd = (id: number): Promise<void> => {
    if (!this.host.delete(id)) return Promise.reject(new Error(`no hostfwd rule with id ${id}`))
    for (const s of this.sessions) s.input({ _tag: "HostFwdRemove", now: this.now() as never, id })
    return Promise.resolve()
  }

  readonly listHostFwd = (): ReadonlyArray<HostFwdEntry> => [...this.host.values()].map((h) => h.entry)

  readonly addGuestFwd = (rule: GuestFwdRule): Promise<GuestFwdEntry> => {
    const spec = guestFwdFromRule(rule)
    if (typeof spec === "string") return Promise.reject(new Error(spec))
    return this.addGuestSpec(spec)
  }

  addGuestSpec(spec: GuestFwdSpec): Promise<GuestFwdEntry> {
    const server = serverOf(this.config, spec)
    for (const g of this.guest.values()) {
      if (serverOf(this.config, g.spec) === server && g.spec.port === spec.port) return Promise.reject(new Error(`a guestfwd rule for ${formatIpv4(server)}:${spec.port} exists already (id ${g.entry.id})`))
    }
    const problems = validateConfig({ ...this.config, guestFwd: [{ id: 0, server, port: spec.port, target: spec.target }] })
    if (problems.length > 0) return Promise.reject(new Error(problems.join("; ")))
    const entry = this.keepGuest(spec)
    for (const s of this.sessions) s.input(this.guestEvent(entry.id, spec))
    return Promise.resolve(entry)
  }

  readonly removeGuestFwd = (id: number): Promise<void> => {
    if (!this.guest.delete(id)) return Promise.reject(new Error(`no guestfwd rule with id ${id}`))
    for (const s of this.sessions) s.input({ _tag: "GuestFwdRemove", now: this.now() as never, id })
    return Promise.resolve()
  }

  readonly listGuestFwd = (): ReadonlyArray<GuestFwdEntry> => [...this.guest.values()].map((g) => g.entry)

  /** Each attached session's counters, read from its current state (sessions shut down have none). */
  readonly guestCounters = (): ReadonlyArray<CounterReport> => {
    const out: Array<CounterReport> = []
    for (const session of this.sessions) {
      const state = session.inspect?.() as StackState | undefined
      if (state !== undefined && state.counters !== undefined) out.push(stackCounters(state))
    }
    return out
  }

  readonly listConnections = (): ReadonlyArray<ConnectionInfo> => {
    const out: Array<ConnectionInfo> = []
    for (const session of this.sessions) {
      const state = session.inspect?.() as StackState | undefined
      if (state === undefined || state.tcp === undefined) continue
      const bytes = this.bytesOfSession.get(session)
      for (const c of tcpConnections(state.tcp)) {
        out.push({
          proto: "tcp",
          origin: c.activeOpen ? "host" : "guest",
          guest: { address: formatIp(c.guestIp), port: c.guestPort },
          host: { address: formatIp(c.remoteIp), port: c.remotePort },
          state: c.state,
          bytesToHost: Math.max(0, seqDiff(c.rcvNxt, c.irs) - 1),
          bytesToGuest: Math.max(0, seqDiff(c.sndUna, c.iss) - 1),
        })
      }
      // udp hostfwd peers: opened by the host side, seen as the peer's own address and port.
      for (const bucket of intMapValues(state.hostfwd.udpPeers)) {
        for (const p of bucket) {
          const b = bytes?.peer(p.listener, p.peer)
          out.push({ proto: "udp", origin: "host", guest: { address: formatIp(p.guest), port: p.guestPort }, host: { address: p.peer.address, port: p.peer.port }, state: "open", bytesToHost: b?.toHost ?? 0, bytesToGuest: b?.toGuest ?? 0 })
        }
      }
      for (const f of intMapValues(state.napt.flows.bySock)) {
        const b = bytes?.flow(f.sock)
        out.push({ proto: f.kind, origin: "guest", guest: { address: formatIp(f.guest), port: f.guestPort }, host: { address: "*", port: 0 }, state: "open", bytesToHost: b?.toHost ?? 0, bytesToGuest: b?.toGuest ?? 0 })
      }
    }
    return out
  }
}
