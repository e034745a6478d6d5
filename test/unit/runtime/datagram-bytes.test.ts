/**
 * datagram-bytes.ts on recording fake ports: payload bytes counted each way per flow socket and
 * per udp hostfwd peer, calls passed through unchanged, counts forgotten when a socket closes,
 * and the peer table bounded (the oldest peer forgotten first).
 */
import { describe, expect, it } from "vitest"
import type { StackEvent } from "../../../src/effects/event.ts"
import { type SocketId, socketId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import type { IcmpPort, Report, UdpPort } from "../../../src/runtime/host/ports.ts"
import type { HostDeps } from "../../../src/runtime/host/session.ts"
import { DatagramBytes, MAX_PEERS } from "../../../src/runtime/forward/datagram-bytes.ts"

const T0 = instant(0)
const fakeDeps = () => {
  const calls: Array<string> = []
  const reports: { udp?: Report; icmp?: Report } = {}
  const udp: UdpPort = {
    open: (s) => void calls.push(`open ${s}`),
    bind: (s, at) => void calls.push(`bind ${s} ${at.port}`),
    send: (s, to, d) => void calls.push(`send ${s} ${to.port} ${d.length}`),
    close: (s) => (calls.push(`close ${s}`), true),
    closeAll: () => void calls.push("closeAll"),
  }
  const icmp: IcmpPort = {
    open: (s) => void calls.push(`icmp open ${s}`),
    send: (s, to, seq, p) => void calls.push(`icmp send ${s} ${to} ${seq} ${p.length}`),
    close: (s) => (calls.push(`icmp close ${s}`), true),
    closeAll: () => void calls.push("icmp closeAll"),
  }
  const deps = {
    udp: (r: Report) => ((reports.udp = r), udp),
    icmp: (r: Report) => ((reports.icmp = r), icmp),
  } as unknown as HostDeps
  return { deps, calls, reports }
}

const datagram = (sock: SocketId, port: number, n: number): StackEvent => ({ _tag: "HostUdpDatagram", now: T0, sock, from: { family: 4, address: "127.0.0.1", port }, data: new Uint8Array(n) })
const peer = (port: number) => ({ family: 4 as const, address: "127.0.0.1", port })

describe("DatagramBytes", () => {
  it("counts a flow's payload bytes each way, per hostfwd peer on a bound socket, and passes every call and event on", () => {
    const f = fakeDeps()
    const bytes = new DatagramBytes()
    const wrapped = bytes.wrap(f.deps)
    const seen: Array<string> = []
    const udp = wrapped.udp((e) => void seen.push(e._tag))
    const icmp = wrapped.icmp((e) => void seen.push(e._tag))
    const flow = socketId(1)
    const listener = socketId(2)
    const echo = socketId(3)
    udp.open(flow, 4)
    udp.send(flow, peer(7), new Uint8Array(12))
    f.reports.udp!(datagram(flow, 7, 30))
    udp.bind!(listener, { family: 4, address: "", port: 5353 })
    f.reports.udp!(datagram(listener, 41000, 5))
    udp.send(listener, peer(41000), new Uint8Array(10))
    f.reports.udp!(datagram(listener, 41001, 3))
    icmp.send(echo, "192.0.2.1", 1, new Uint8Array(56))
    f.reports.icmp!({ _tag: "HostIcmpEchoReply", now: T0, sock: echo, from: "192.0.2.1", sequence: 1, payload: new Uint8Array(56) })
    expect([bytes.flow(flow), bytes.peer(listener, peer(41000)), bytes.peer(listener, peer(41001)), bytes.flow(echo)]).toEqual([
      { toHost: 12, toGuest: 30 },
      { toHost: 10, toGuest: 5 },
      { toHost: 0, toGuest: 3 },
      { toHost: 56, toGuest: 56 },
    ])
    expect(f.calls).toEqual(["open 1", "send 1 7 12", "bind 2 5353", "send 2 41000 10", "icmp send 3 192.0.2.1 1 56"])
    expect(seen).toEqual(["HostUdpDatagram", "HostUdpDatagram", "HostUdpDatagram", "HostIcmpEchoReply"])
    // Closing forgets: a listener's peers with it.
    udp.close(listener)
    icmp.close(echo)
    expect([bytes.flow(flow), bytes.peer(listener, peer(41000)), bytes.flow(echo)]).toEqual([{ toHost: 12, toGuest: 30 }, { toHost: 0, toGuest: 0 }, { toHost: 0, toGuest: 0 }])
    udp.closeAll()
    expect(bytes.flow(flow)).toEqual({ toHost: 0, toGuest: 0 })
  })

  it(`keeps at most ${MAX_PEERS} hostfwd peers, forgetting the oldest`, () => {
    const f = fakeDeps()
    const bytes = new DatagramBytes()
    bytes.wrap(f.deps).udp(() => undefined).bind!(socketId(9), { family: 4, address: "", port: 53 })
    for (let p = 1; p <= MAX_PEERS + 1; p++) f.reports.udp!(datagram(socketId(9), p, 1))
    expect([bytes.peer(socketId(9), peer(1)).toGuest, bytes.peer(socketId(9), peer(2)).toGuest, bytes.peer(socketId(9), peer(MAX_PEERS + 1)).toGuest]).toEqual([0, 1, 1])
  })
})
