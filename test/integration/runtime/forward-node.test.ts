/**
 * Forwarding on the Node runtime (real sockets, `NodeStack` and its `ForwardControl` API), the
 * test playing the guest with hand-made frames: a tcp hostfwd client sees a closed guest port
 * as a reset and an open one as a connection (data both ways, the loopback client shown as the
 * gateway); a tcp hostfwd to an IPv6 guest address (over IPv6, from fec0::2); a unix socket
 * hostfwd; udp hostfwd both ways; guestfwd to `cmd:cat`; a second add of a bound port is
 * refused; a removed rule stops accepting; `outboundAddr` is the source of host sockets;
 * `listConnections` counts UDP bytes on the real sockets.
 */
import { createSocket } from "node:dgram"
import { mkdtempSync, rmSync } from "node:fs"
import { type Socket, connect, createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { ACK, RST, SYN } from "../../../src/protocol/tcp/wire.ts"
import { get16 } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { NodeStack } from "../../../src/runtime/embed/node-stack.ts"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import { GUEST, HOST, bytes, decode, pingFrame, udpFrame } from "../stack/frames.ts"
import { segments, tcpFrame } from "../stack/tcp-frames.ts"
import { GUEST6, HOST6, decode6, icmpv6Frame, tcp6Frame, tcpFields } from "../stack/frames6.ts"

const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const stacks: Array<NodeStack> = []
const sockets: Array<Socket> = []
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy()
  for (const s of stacks.splice(0)) s.close()
})

/** A NodeStack whose frames to the guest are collected; the guest's MAC is known (it pinged the gateway). */
const guestStack = (options: ConstructorParameters<typeof NodeStack>[1] = {}) => {
  const stack = new NodeStack({ dnsUpstream: "none" }, { logger: memoryLogger(), ...options })
  stacks.push(stack)
  const frames: Array<Uint8Array> = []
  stack.onFrameToGuest((f) => void frames.push(f.slice()))
  stack.fromGuest(pingFrame(HOST, 1, 1, bytes("hi")))
  frames.length = 0
  const take = () => frames.splice(0)
  return { stack, frames, take }
}

const client = (port: number, host = "127.0.0.1") => {
  const s = connect({ port, host })
  sockets.push(s)
  const state = { data: "", error: undefined as string | undefined, closed: false }
  s.on("data", (d) => (state.data += d.toString()))
  s.on("error", (e: NodeJS.ErrnoException) => (state.error = e.code))
  s.on("close", () => (state.closed = true))
  return { s, state }
}

describe("hostfwd on Node sockets", () => {
  it("tcp: a closed guest port resets the client; an open one carries data both ways from the gateway", async () => {
    const g = guestStack()
    const rule = await g.stack.addHostFwd({ proto: "tcp", hostAddr: "127.0.0.1", hostPort: 0, guestAddr: "", guestPort: 80 })
    expect(rule.hostPort).toBeGreaterThan(0)
    expect(g.stack.listHostFwd()).toEqual([rule])

    const refused = client(rule.hostPort)
    await until(() => segments(g.frames).length > 0, "the SYN toward the guest")
    const [syn] = segments(g.take())
    expect([syn!.src, syn!.dst, syn!.tcp.dstPort, syn!.tcp.flags]).toEqual([HOST, GUEST, 80, SYN])
    g.stack.fromGuest(tcpFrame(GUEST, HOST, 80, syn!.tcp.srcPort, 0, syn!.tcp.seq + 1, RST | ACK))
    await until(() => refused.state.closed, "the refused client to close")
    expect(refused.state.error).toBe("ECONNRESET")

    const open = client(rule.hostPort)
    await until(() => segments(g.frames).length > 0, "the second SYN")
    const [syn2] = segments(g.take())
    expect(syn2!.tcp.srcPort).toBe(open.s.localPort)
    g.stack.fromGuest(tcpFrame(GUEST, HOST, 80, syn2!.tcp.srcPort, 7000, syn2!.tcp.seq + 1, SYN | ACK))
    open.s.write("GET /")
    await until(() => segments(g.frames).some((x) => x.payload.length > 0), "the client's bytes at the guest")
    const data = segments(g.take()).find((x) => x.payload.length > 0)!
    expect(new TextDecoder().decode(data.payload)).toBe("GET /")
    g.stack.fromGuest(tcpFrame(GUEST, HOST, 80, syn2!.tcp.srcPort, 7001, data.tcp.seq + 5, ACK, bytes("200 OK")))
    await until(() => open.state.data === "200 OK", "the guest's answer at the client")
    expect(g.stack.listConnections().filter((c) => c.proto === "tcp")).toEqual([
      { proto: "tcp", origin: "host", guest: { address: "10.0.2.15", port: 80 }, host: { address: "10.0.2.2", port: open.s.localPort }, state: "Established", bytesToHost: 6, bytesToGuest: 5 },
    ])
  })

  it("tcp: a port bound by another socket is refused in one line; a removed rule stops accepting", async () => {
    const g = guestStack()
    const first = await g.stack.addHostFwd({ proto: "tcp", hostAddr: "127.0.0.1", hostPort: 0, guestAddr: "", guestPort: 80 })
    const other = guestStack()
    await expect(other.stack.addHostFwd({ proto: "tcp", hostAddr: "127.0.0.1", hostPort: first.hostPort, guestAddr: "", guestPort: 80 })).rejects.toThrow(`tcp 127.0.0.1:${first.hostPort}: address in use`)
    expect(other.stack.listHostFwd()).toEqual([])
    await expect(g.stack.addHostFwd({ proto: "tcp", hostAddr: "127.0.0.1", hostPort: first.hostPort, guestAddr: "", guestPort: 81 })).rejects.toThrow("exists already")
    await g.stack.removeHostFwd(first.id)
    await expect(g.stack.removeHostFwd(first.id)).rejects.toThrow(`no hostfwd rule with id ${first.id}`)
    const late = client(first.hostPort)
    await until(() => late.state.closed, "the late client to be refused")
    expect(late.state.error).toBe("ECONNREFUSED")
  })

  it("tcp on an IPv6 host address: the IPv6 client reaches the IPv4 guest from the gateway", async () => {
    const g = guestStack()
    const rule = await g.stack.addHostFwd({ proto: "tcp", hostAddr: "::1", hostPort: 0, guestAddr: "", guestPort: 22 })
    expect([rule.hostAddr, rule.hostPort > 0]).toEqual(["::1", true])
    client(rule.hostPort, "::1")
    await until(() => segments(g.frames).length > 0, "the SYN from the IPv6 client")
    const [syn] = segments(g.take())
    expect([syn!.src, syn!.dst, syn!.tcp.dstPort]).toEqual([HOST, GUEST, 22])
  })

  it("tcp to an IPv6 guest address (an API rule): the ::1 client reaches the guest over IPv6 from fec0::2, data both ways, listed", async () => {
    const g = guestStack()
    g.stack.fromGuest(icmpv6Frame(GUEST6, HOST6, 128, new Uint8Array([0, 1, 0, 1])))
    g.take()
    const rule = await g.stack.addHostFwd({ proto: "tcp", hostAddr: "::1", hostPort: 0, guestAddr: "fec0::5054:ff:fe12:3456", guestPort: 22 })
    expect(g.stack.listHostFwd()).toEqual([{ id: rule.id, proto: "tcp", hostAddr: "::1", hostPort: rule.hostPort, guestAddr: "fec0::5054:ff:fe12:3456", guestPort: 22 }])
    const c = client(rule.hostPort, "::1")
    const tcp6 = () => g.frames.filter((f) => get16(f, 12) === 0x86dd).map(decode6).filter((d) => d.nh === 6)
    await until(() => tcp6().length > 0, "the SYN over IPv6")
    const [syn] = g.take().map(decode6)
    const t = tcpFields(syn!.payload)
    expect([syn!.src, syn!.dst, t.dport, t.flags, t.sport, syn!.checksumOk]).toEqual(["fec0::2", "fec0::5054:ff:fe12:3456", 22, SYN, c.s.localPort, true])
    const back = { sport: 22, dport: t.sport }
    g.stack.fromGuest(tcp6Frame(GUEST6, HOST6, { ...back, seq: 9000, ack: t.seq + 1, flags: SYN | ACK }))
    c.s.write("hi guest")
    await until(() => tcp6().some((d) => tcpFields(d.payload).data.length > 0), "the client's bytes at the guest")
    const data = tcp6().map((d) => tcpFields(d.payload)).find((x) => x.data.length > 0)!
    expect(new TextDecoder().decode(data.data)).toBe("hi guest")
    g.stack.fromGuest(tcp6Frame(GUEST6, HOST6, { ...back, seq: 9001, ack: data.seq + 8, flags: ACK }, bytes("hi host")))
    await until(() => c.state.data === "hi host", "the guest's answer at the client")
    expect(g.stack.listConnections().filter((x) => x.proto === "tcp")).toEqual([
      { proto: "tcp", origin: "host", guest: { address: "fec0::5054:ff:fe12:3456", port: 22 }, host: { address: "fec0::2", port: c.s.localPort }, state: "Established", bytesToHost: 7, bytesToGuest: 8 },
    ])
  })

  it("unix: a client of the unix socket reaches the guest from the gateway", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tslirp-fwd-"))
    try {
      const path = join(dir, "guest-ssh.sock")
      const g = guestStack({ hostFwd: [`unix:${path}-:22`] })
      await until(() => g.stack.listHostFwd().length === 1, "the rule")
      let s: Socket | undefined
      await until(() => {
        if (s === undefined || s.destroyed) {
          s = createConnection({ path })
          s.on("error", () => undefined)
          sockets.push(s)
        }
        return segments(g.frames).length > 0
      }, "the SYN from the unix client")
      const [syn] = segments(g.take())
      expect([syn!.src, syn!.tcp.dstPort]).toEqual([HOST, 22])
      expect(syn!.tcp.srcPort).toBeGreaterThanOrEqual(49152)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("udp: a host peer's datagram reaches the guest port, the guest's answer comes back", async () => {
    const g = guestStack()
    const rule = await g.stack.addHostFwd({ proto: "udp", hostAddr: "127.0.0.1", hostPort: 0, guestAddr: "10.0.2.15", guestPort: 53 })
    const peer = createSocket("udp4")
    const answers: Array<string> = []
    peer.on("message", (m) => answers.push(m.toString()))
    await new Promise<void>((r) => peer.bind(0, "127.0.0.1", r))
    try {
      peer.send("question", rule.hostPort, "127.0.0.1")
      await until(() => g.frames.some((f) => decode(f).ip?.protocol === 17), "the datagram at the guest")
      const d = decode(g.take().find((f) => decode(f).ip?.protocol === 17)!)
      expect([d.ip!.src, d.ip!.dst, get16(d.ip!.payload, 0), get16(d.ip!.payload, 2)]).toEqual([HOST, GUEST, peer.address().port, 53])
      g.stack.fromGuest(udpFrame(GUEST, HOST, 53, peer.address().port, bytes("answer")))
      await until(() => answers.length > 0, "the answer at the peer")
      expect(answers).toEqual(["answer"])
      // Counted on the real socket: 8 bytes in, 6 back.
      expect(g.stack.listConnections().filter((c) => c.proto === "udp").map((c) => [c.origin, c.host.port, c.bytesToHost, c.bytesToGuest])).toEqual([["host", peer.address().port, 6, 8]])
    } finally {
      peer.close()
    }
  })

  it("an outbound UDP flow lists the payload bytes each way that crossed its host socket", async () => {
    const g = guestStack()
    const echo = createSocket("udp4")
    echo.on("message", (m, from) => echo.send(m, from.port, from.address))
    await new Promise<void>((r) => echo.bind(0, "127.0.0.1", r))
    try {
      g.stack.fromGuest(udpFrame(GUEST, HOST, 40000, echo.address().port, bytes("seventeen bytes!!")))
      await until(() => g.frames.some((f) => decode(f).ip?.protocol === 17), "the echo at the guest")
      expect(g.stack.listConnections().filter((c) => c.proto === "udp").map((c) => [c.origin, c.guest.port, c.bytesToHost, c.bytesToGuest])).toEqual([["guest", 40000, 17, 17]])
    } finally {
      echo.close()
    }
  })
})

describe("guestfwd on Node", () => {
  it("cmd:cat: the guest's connection to the virtual server is joined to the command's stdin/stdout", async () => {
    const g = guestStack({ guestFwd: ["tcp:10.0.2.100:7-cmd:cat"] })
    const server = ipv4(10, 0, 2, 100)
    g.stack.fromGuest(tcpFrame(GUEST, server, 40000, 7, 100, 0, SYN))
    await until(() => segments(g.frames).length > 0, "the SYN-ACK once cat runs")
    const [synAck] = segments(g.take())
    expect([synAck!.src, synAck!.tcp.flags]).toEqual([server, SYN | ACK])
    g.stack.fromGuest(tcpFrame(GUEST, server, 40000, 7, 101, synAck!.tcp.seq + 1, ACK, bytes("echo through cat\n")))
    await until(() => segments(g.frames).some((x) => x.payload.length > 0), "cat's output at the guest")
    expect(new TextDecoder().decode(segments(g.take()).find((x) => x.payload.length > 0)!.payload)).toBe("echo through cat\n")
    expect(g.stack.listGuestFwd()).toEqual([{ id: 1, proto: "tcp", serverAddr: "10.0.2.100", serverPort: 7, target: "cmd:cat" }])
  })
})

describe("--outbound-addr on Node", () => {
  it("host sockets for the guest's TCP and UDP leave from the outbound address", async () => {
    const seen: Array<string> = []
    const server = createServer((s) => {
      seen.push(`tcp ${s.remoteAddress}`)
      s.destroy()
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    const udp = createSocket("udp4")
    udp.on("message", (_m, rinfo) => seen.push(`udp ${rinfo.address}`))
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", r))
    try {
      const g = guestStack({ outboundAddr: "127.0.0.2" })
      const tcpPort = (server.address() as { port: number }).port
      g.stack.fromGuest(tcpFrame(GUEST, HOST, 40000, tcpPort, 100, 0, SYN))
      g.stack.fromGuest(udpFrame(GUEST, HOST, 40001, udp.address().port, bytes("x")))
      await until(() => seen.length === 2, "both connections at the host")
      expect(seen.sort()).toEqual(["tcp 127.0.0.2", "udp 127.0.0.2"])
    } finally {
      server.close()
      udp.close()
    }
  })

  it("a datagram to a closed host port still comes back to the guest as ICMP port unreachable", async () => {
    const probe = createSocket("udp4")
    await new Promise<void>((r) => probe.bind(0, "127.0.0.1", r))
    const closed = probe.address().port
    await new Promise<void>((r) => probe.close(() => r()))
    const g = guestStack({ outboundAddr: "127.0.0.2" })
    g.stack.fromGuest(udpFrame(GUEST, HOST, 40003, closed, bytes("anyone?")))
    const isIcmp = (f: Uint8Array) => decode(f).ip?.protocol === 1
    await until(() => g.frames.some(isIcmp), "the ICMP error at the guest")
    const icmp = decode(g.take().find(isIcmp)!).ip!
    // Type 3 (destination unreachable), code 3 (port), from the host the datagram went to.
    expect([icmp.src, icmp.dst, icmp.payload[0], icmp.payload[1]]).toEqual([HOST, GUEST, 3, 3])
    // The quoted datagram is the guest's own: its ports, guest -> host.
    const quoted = icmp.payload.subarray(8 + 20)
    expect([get16(quoted, 0), get16(quoted, 2)]).toEqual([40003, closed])
  })
})
