/**
 * A real Linux TCP as the guest: a network namespace with a TAP device (bridged to us by
 * tap-bridge.py over stdio), driven by the TCP layer through a minimal Ethernet/IPv4 shim and
 * a minimal host-socket runtime on Node's `net` (real sockets on 127.0.0.1). No ARP: the
 * namespace gets a permanent neighbour entry for the gateway.
 *
 * Needs root (namespaces, /dev/net/tun) and python3; `startLinuxGuest` throws a clear error
 * when they are missing rather than letting a test pass.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { connect, type Socket } from "node:net"
import type { SocketId, TimerId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { parseIpv4Header, PROTO_TCP, writeIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import type { LayerOutput } from "../../../src/protocol/stack/output.ts"
import {
  createTcpLayer,
  tcpFromGuest,
  tcpHostEvent,
  tcpShutdown,
  tcpTimer,
  type TcpConfig,
  type TcpContext,
  type TcpHostEvent,
  type TcpLayerState,
} from "../../../src/protocol/tcp/layer.ts"
import { put16 } from "../../../src/protocol/wire/bytes.ts"
import { parseTcp } from "../../../src/protocol/tcp/wire.ts"
import { finish, sum16, sum32, sumWords } from "../../../src/protocol/wire/checksum.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { virtualMac } from "../../../src/protocol/wire/mac.ts"

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

const run = (argv: ReadonlyArray<string>): void => {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" })
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr || r.error?.message}`)
}

/**
 * `dropRate` drops that fraction of frames in each direction (seeded, deterministic order of
 * decisions), to see recovery against a real TCP: Linux's SACK toward us and ours toward it.
 */
export const startLinuxGuest = async (mtu: number, config: Partial<TcpConfig> = {}, dropRate = 0, tracing = false): Promise<LinuxGuest> => {
  if (process.getuid?.() !== 0) throw new Error("the Linux guest test needs root (network namespaces, /dev/net/tun)")
  if (spawnSync("python3", ["--version"]).status !== 0) throw new Error("the Linux guest test needs python3")
  const ns = `tslirp-tcp-${process.pid}-${Math.floor(Math.random() * 1e6)}`
  run(["ip", "netns", "add", ns])
  const bridge: ChildProcess = spawn("ip", ["netns", "exec", ns, "python3", new URL("./tap-bridge.py", import.meta.url).pathname, "tap0"], {
    stdio: ["pipe", "pipe", "pipe"],
  })
  await new Promise<void>((resolve, reject) => {
    bridge.stderr!.once("data", (d: Buffer) => (d.toString().includes("ready") ? resolve() : reject(new Error(d.toString()))))
    bridge.once("exit", (c) => reject(new Error(`tap bridge exited ${c}`)))
  })
  for (const cmd of [
    ["ip", "link", "set", "lo", "up"],
    ["ip", "link", "set", "tap0", "mtu", String(mtu), "up"],
    ["ip", "addr", "add", `${GUEST_IP}/24`, "dev", "tap0"],
    ["ip", "route", "add", "default", "via", "10.0.2.2"],
    ["ip", "neigh", "replace", "10.0.2.2", "lladdr", "52:55:0a:00:02:02", "dev", "tap0", "nud", "permanent"],
    ["sysctl", "-q", "-w", "net.ipv6.conf.tap0.disable_ipv6=1"],
  ]) {
    run(["ip", "netns", "exec", ns, ...cmd])
  }

  const logs: Array<string> = []
  const trace: Array<string> = []
  const traceSeg = (dir: string, seg: Uint8Array, dropped: boolean): void => {
    const p = parseTcp(seg, 0, 0, false)
    if (!p.ok) return
    const t = p.tcp
    trace.push(
      `${(performance.now() - t0).toFixed(3)} ${dir}${dropped ? " DROPPED" : ""} seq ${t.seq} ack ${t.ack} len ${seg.length - t.headerLength} flags ${t.flags.toString(16)} win ${t.window}${t.sack ? " sack " + t.sack.join(",") : ""}`,
    )
  }
  const stats = { framesIn: 0, framesOut: 0, resets: 0 }
  let state: TcpLayerState = createTcpLayer(12345, config)
  let guestMac = new Uint8Array(6)
  const t0 = performance.now()
  const ctx = (): TcpContext => ({
    now: instant(performance.now() - t0),
    mtu,
    hostEndpointFor: (dst, port) => (dst === GATEWAY ? { family: 4, address: "127.0.0.1", port } : undefined),
  })
  const sockets = new Map<SocketId, Socket>()
  const timers = new Map<TimerId, NodeJS.Timeout>()

  let rng = 0x2545f491
  const drop = (): boolean => {
    if (dropRate === 0) return false
    rng ^= rng << 13
    rng ^= rng >>> 17
    rng ^= rng << 5
    return (rng >>> 0) / 0x100000000 < dropRate
  }
  const sendFrame = (frame: Uint8Array): void => {
    const dropped = drop()
    if (tracing) traceSeg("->guest", frame.subarray(34), dropped)
    if (dropped) return
    const len = Buffer.alloc(4)
    len.writeUInt32BE(frame.length)
    bridge.stdin!.write(Buffer.concat([len, frame]))
    stats.framesOut++
  }

  const ipOut = (o: Extract<LayerOutput, { _tag: "Ipv4ToGuest" }>): void => {
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

  const hostEvent = (ev: TcpHostEvent): void => {
    const [s, out] = tcpHostEvent(state, ctx(), ev)
    state = s
    handle(out)
  }

  const handle = (out: ReadonlyArray<LayerOutput>): void => {
    for (const o of out) {
      switch (o._tag) {
        case "Ipv4ToGuest":
          ipOut(o)
          break
        case "IcmpErrorToGuest":
          logs.push(`icmp error ${o.type}/${o.code}`)
          break
        case "TcpConnect": {
          const sock = o.sock
          const s = connect({ host: o.to.address, port: o.to.port, allowHalfOpen: true })
          s.setNoDelay(true)
          sockets.set(sock, s)
          s.on("connect", () => hostEvent({ _tag: "HostTcpConnected", now: ctx().now, sock }))
          s.on("data", (data: Buffer) => hostEvent({ _tag: "HostTcpData", now: ctx().now, sock, data }))
          s.on("end", () => hostEvent({ _tag: "HostTcpEof", now: ctx().now, sock }))
          s.on("error", (e: NodeJS.ErrnoException) => hostEvent({ _tag: "HostSocketError", now: ctx().now, sock, code: e.code ?? "EIO" }))
          s.on("close", () => {
            sockets.delete(sock)
            hostEvent({ _tag: "HostSocketClosed", now: ctx().now, sock })
          })
          break
        }
        case "TcpWrite": {
          const n = o.data.length
          const sock = o.sock
          sockets.get(sock)?.write(o.data, () => hostEvent({ _tag: "HostTcpWritten", now: ctx().now, sock, bytes: n }))
          break
        }
        case "TcpShutdownWrite":
          sockets.get(o.sock)?.end()
          break
        case "TcpSetReading": {
          const s = sockets.get(o.sock)
          if (o.reading) s?.resume()
          else s?.pause()
          break
        }
        case "TcpReset":
          stats.resets++
          sockets.get(o.sock)?.resetAndDestroy()
          break
        case "SocketClose":
          sockets.get(o.sock)?.destroySoon()
          break
        case "SetTimer": {
          clearTimeout(timers.get(o.timer))
          const timer = o.timer
          timers.set(
            timer,
            setTimeout(() => {
              timers.delete(timer)
              const [s, out2] = tcpTimer(state, ctx(), timer)
              state = s
              handle(out2)
            }, Math.max(0, o.at - (performance.now() - t0))),
          )
          break
        }
        case "CancelTimer":
          clearTimeout(timers.get(o.timer))
          timers.delete(o.timer)
          break
        case "Log":
          logs.push(`${o.level}: ${o.message}`)
          if (tracing) trace.push(`${(performance.now() - t0).toFixed(3)} LOG ${o.message}`)
          break
        default:
          throw new Error(`unexpected output ${o._tag}`)
      }
    }
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
  let pending: Buffer = Buffer.alloc(0)
  bridge.stdout!.on("data", (d: Buffer) => {
    pending = pending.length === 0 ? d : Buffer.concat([pending, d])
    while (pending.length >= 4) {
      const n = pending.readUInt32BE(0)
      if (pending.length < 4 + n) break
      // A fresh copy per frame: the layer must not keep views of it anyway.
      frameIn(new Uint8Array(pending.subarray(4, 4 + n)))
      pending = pending.subarray(4 + n)
    }
  })

  const exec = (argv: ReadonlyArray<string>, timeoutMs = 60_000) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
      child.on("close", (code) => {
        clearTimeout(t)
        resolve({ code, stdout, stderr })
      })
    })

  const close = async (): Promise<void> => {
    const [s, out] = tcpShutdown(state, ctx())
    state = s
    handle(out)
    for (const t of timers.values()) clearTimeout(t)
    for (const s2 of sockets.values()) s2.destroy()
    bridge.kill("SIGKILL")
    await new Promise((r) => setTimeout(r, 50))
    spawnSync("ip", ["netns", "del", ns])
  }

  return { ns, exec, logs, stats, trace, close }
}
