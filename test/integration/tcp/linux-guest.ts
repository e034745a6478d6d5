/**
 * A real Linux TCP as the guest of the TCP layer alone: a network namespace behind a TAP device
 * (netns-tap.ts), a minimal Ethernet/IPv4 shim in front of the layer, and real host sockets on
 * 127.0.0.1 (host-sockets.ts). No ARP: the namespace gets a permanent neighbour entry for the
 * gateway. linux-stack.test.ts runs the same kind of traffic through the whole stack instead.
 */
import type { StackEffect } from "../../../src/effects/effect.ts"
import { socketId } from "../../../src/effects/ids.ts"
import { parseIpv4Header, PROTO_TCP, writeIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import type { LayerOutput } from "../../../src/protocol/stack/output.ts"
import { createTcpLayer, tcpFromGuest, tcpHostEvent, tcpShutdown, tcpTimer, type TcpConfig, type TcpContext, type TcpLayerState } from "../../../src/protocol/tcp/layer.ts"
import { parseTcp } from "../../../src/protocol/tcp/wire.ts"
import { put16 } from "../../../src/protocol/wire/bytes.ts"
import { finish, sum16, sum32, sumWords } from "../../../src/protocol/wire/checksum.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { virtualMac } from "../../../src/protocol/wire/mac.ts"
import { hostSockets, type HostEvent } from "./host-sockets.ts"
import { startNetnsTap } from "./netns-tap.ts"

export const GATEWAY = ipv4(10, 0, 2, 2)
export const GUEST_IP = "10.0.2.15"
const GATEWAY_MAC = virtualMac(GATEWAY)

export interface LinuxGuest {
  readonly ns: string
  /** Runs a command inside the namespace. */
  readonly exec: (argv: ReadonlyArray<string>, timeoutMs?: number) => Promise<{ code: number | null; stdout: string; stderr: string }>
  readonly logs: Array<string>
  readonly stats: { framesIn: number; framesOut: number; resets: number }
  /** When tracing: one line per TCP frame each way and per log line, with the time in ms. */
  readonly trace: Array<string>
  readonly close: () => Promise<void>
}

/**
 * `dropRate` drops that fraction of frames in each direction (seeded, deterministic order of
 * decisions), to see recovery against a real TCP: Linux's SACK toward us and ours toward it.
 */
export const startLinuxGuest = async (mtu: number, config: Partial<TcpConfig> = {}, dropRate = 0, tracing = false): Promise<LinuxGuest> => {
  const logs: Array<string> = []
  const trace: Array<string> = []
  const stats = { framesIn: 0, framesOut: 0, resets: 0 }
  let state: TcpLayerState = createTcpLayer(12345, config)
  let guestMac = new Uint8Array(6)
  let rng = 0x2545f491
  const drop = (): boolean => {
    if (dropRate === 0) return false
    rng ^= rng << 13
    rng ^= rng >>> 17
    rng ^= rng << 5
    return (rng >>> 0) / 0x100000000 < dropRate
  }
  const host = hostSockets((ev) => onHost(ev))
  // The stack's socket allocator, played here: one counter, advanced when a connect uses it.
  let nextSock = 1
  const ctx = (): TcpContext => ({
    now: host.now(),
    mtu,
    hostEndpointFor: (dst, port) => (dst === GATEWAY ? { family: 4, address: "127.0.0.1", port } : undefined),
    newSocket: socketId(nextSock),
  })
  const traceSeg = (dir: string, seg: Uint8Array, dropped: boolean): void => {
    const p = parseTcp(seg, 0, 0, false)
    if (!p.ok) return
    const t = p.tcp
    trace.push(
      `${host.now().toFixed(3)} ${dir}${dropped ? " DROPPED" : ""} seq ${t.seq} ack ${t.ack} len ${seg.length - t.headerLength} flags ${t.flags.toString(16)} win ${t.window}${t.sack ? " sack " + t.sack.join(",") : ""}`,
    )
  }

  const sendFrame = (frame: Uint8Array): void => {
    const dropped = drop()
    if (tracing) traceSeg("->guest", frame.subarray(34), dropped)
    if (dropped) return
    stats.framesOut++
    tap.send(frame)
  }

  // This harness speaks IPv4 only: the layer's packets here are all family 4.
  const ipOut = (o: Extract<LayerOutput, { _tag: "PacketToGuest"; family: 4 }>): void => {
    const plen = o.payload?.length ?? 0
    const tcpLen = o.header.length + plen
    const frame = new Uint8Array(14 + 20 + tcpLen)
    frame.set(guestMac, 0)
    frame.set(GATEWAY_MAC, 6)
    put16(frame, 12, 0x0800)
    writeIpv4Header(frame, 14, {
      totalLength: 20 + tcpLen,
      id: 0,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: o.protocol,
      src: o.src,
      dst: o.dst,
    })
    frame.set(o.header, 34)
    if (o.payload !== undefined) frame.set(o.payload, 34 + o.header.length)
    const acc = sumWords(sum32(sum32(0, o.src), o.dst), o.protocol, tcpLen)
    put16(frame, 34 + o.checksumOffset, finish(sum16(frame, 34, frame.length, acc)))
    sendFrame(frame)
  }

  const handle = (out: ReadonlyArray<LayerOutput>): void => {
    for (const o of out) {
      if (o._tag === "PacketToGuest" && o.family === 4) ipOut(o)
      else if (o._tag === "PacketToGuest") throw new Error("an IPv6 packet from an IPv4 connection")
      else if (o._tag === "ErrorToGuest") logs.push(`icmp error ${o.reason}`)
      else if (o._tag === "TcpConnect" && o.sock === nextSock) {
        nextSock++
        if (!host.perform(o)) throw new Error(`unexpected output ${o._tag}`)
      }
      else if (o._tag === "Log") {
        logs.push(`${o.level}: ${o.message}`)
        if (tracing) trace.push(`${host.now().toFixed(3)} LOG ${o.message}`)
      } else if (!host.perform(o as StackEffect)) throw new Error(`unexpected output ${o._tag}`)
    }
    stats.resets = host.resets()
  }

  const onHost = (ev: HostEvent): void => {
    const [s, out] = ev._tag === "TimerFired" ? tcpTimer(state, ctx(), ev.timer) : tcpHostEvent(state, ctx(), ev)
    state = s
    handle(out)
  }

  const frameIn = (frame: Uint8Array): void => {
    stats.framesIn++
    const dropped = drop()
    if (tracing && frame.length > 34 && frame[23] === 6) traceSeg("<-guest", frame.subarray(34), dropped)
    if (dropped) return
    if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00) return
    guestMac = frame.slice(6, 12)
    const p = parseIpv4Header(frame, 14)
    if (!p.ok || p.ip.protocol !== PROTO_TCP || p.ip.dst !== GATEWAY) return
    const ip = p.ip
    const [s, out] = tcpFromGuest(state, ctx(), {
      src: ip.src,
      dst: ip.dst,
      ttl: ip.ttl,
      ipHeader: frame.subarray(14, 14 + ip.headerLength),
      segment: frame.subarray(ip.payloadOffset, ip.payloadOffset + ip.payloadLength),
    })
    state = s
    handle(out)
  }

  const tap = await startNetnsTap(
    [
      ["ip", "link", "set", "lo", "up"],
      ["ip", "link", "set", "tap0", "mtu", String(mtu), "up"],
      ["ip", "addr", "add", `${GUEST_IP}/24`, "dev", "tap0"],
      ["ip", "route", "add", "default", "via", "10.0.2.2"],
      ["ip", "neigh", "replace", "10.0.2.2", "lladdr", "52:55:0a:00:02:02", "dev", "tap0", "nud", "permanent"],
      ["sysctl", "-q", "-w", "net.ipv6.conf.tap0.disable_ipv6=1"],
    ],
    frameIn,
  )

  const close = async (): Promise<void> => {
    const [s, out] = tcpShutdown(state, ctx())
    state = s
    handle(out)
    host.close()
    await tap.close()
  }

  return { ns: tap.ns, exec: tap.exec, logs, stats, trace, close }
}
