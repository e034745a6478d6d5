/**
 * The Node runtime's UDP port (`nodeUdp`, native sockets with IP_RECVERR) against real Linux
 * routers, inside network namespaces this file creates. Each case runs `udp-child.ts` in a
 * namespace with `ip netns exec`, because a socket belongs to the namespace of the process
 * that opens it.
 *
 *   sender (A) eth0 10.202.1.2 / fd00:202:1::2      own unreachable route 10.202.8.0/24
 *        |
 *   router (B) eth0 10.202.1.1 / fd00:202:1::1, eth1 10.202.2.1 / fd00:202:2::1 (MTU 1280)
 *        |       unreachable route 10.202.9.0/24
 *   target (C) eth0 10.202.2.2 / fd00:202:2::2 (MTU 1280), UDP echo on port 7 (v4 and v6)
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bulkPayload } from "./bulk-payload.ts"
import type { ChildEvent, ChildResult, ChildSpec } from "./udp-child.ts"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const NODE = `${root}node_modules/.bin/node`
const CHILD = fileURLToPath(new URL("./udp-child.ts", import.meta.url))
const ECHO = fileURLToPath(new URL("./udp-echo.ts", import.meta.url))

const prefix = `tsurr${process.pid}`
const NS = { a: `${prefix}-a`, b: `${prefix}-b`, c: `${prefix}-c` } as const
const ECHO_PORT = 7
const CLOSED_PORT = 9

const ip = (...args: string[]): void => {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] })
}
const tc = (...args: string[]): void => {
  execFileSync("tc", args, { stdio: ["ignore", "ignore", "pipe"] })
}
const sysctl = (ns: string, ...settings: string[]): void => ip("netns", "exec", ns, "sysctl", "-qw", ...settings)

let echo: ChildProcess | undefined

const runChild = (ns: string, spec: Omit<ChildSpec, "waitMs"> & { waitMs?: number }, env: Record<string, string> = {}): Promise<ChildResult> => {
  const argv = [CHILD, JSON.stringify({ waitMs: 10_000, gapMs: 300, ...spec })]
  return new Promise((resolve, reject) => {
    execFile("ip", ["netns", "exec", ns, NODE, ...argv], { env: { ...process.env, ...env }, timeout: 20_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err !== null) return reject(new Error(`${err.message}\n${stderr}`))
      try {
        resolve(JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as ChildResult)
      } catch {
        reject(new Error(`child printed no result: ${stdout}\n${stderr}`))
      }
    })
  })
}

const hex = (n: number, seed: number): string => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff)).toString("hex")
const echoed = (h: string): string => Buffer.concat([Buffer.from("echo:"), Buffer.from(h, "hex")]).toString("hex")

beforeAll(async () => {
  execFileSync("sh", [`${root}native/build.sh`, "--if-needed"], { stdio: ["ignore", "ignore", "pipe"] })
  for (const ns of Object.values(NS)) {
    ip("netns", "add", ns)
    ip("-n", ns, "link", "set", "lo", "up")
  }
  ip("link", "add", "eth0", "netns", NS.a, "type", "veth", "peer", "name", "eth0", "netns", NS.b)
  ip("link", "add", "eth1", "netns", NS.b, "type", "veth", "peer", "name", "eth0", "netns", NS.c)
  const addrs: Array<[string, string, string, string]> = [
    [NS.a, "eth0", "10.202.1.2/24", "fd00:202:1::2/64"],
    [NS.b, "eth0", "10.202.1.1/24", "fd00:202:1::1/64"],
    [NS.b, "eth1", "10.202.2.1/24", "fd00:202:2::1/64"],
    [NS.c, "eth0", "10.202.2.2/24", "fd00:202:2::2/64"],
  ]
  for (const [ns, dev, v4, v6] of addrs) {
    ip("-n", ns, "addr", "add", v4, "dev", dev)
    ip("-n", ns, "-6", "addr", "add", v6, "dev", dev, "nodad")
    ip("-n", ns, "link", "set", dev, "up")
  }
  // A smaller MTU behind the router: A's full-size datagrams (DF set, Linux's default path MTU
  // discovery) earn "fragmentation needed" from B.
  ip("-n", NS.b, "link", "set", "eth1", "mtu", "1280")
  ip("-n", NS.c, "link", "set", "eth0", "mtu", "1280")
  ip("-n", NS.a, "route", "add", "default", "via", "10.202.1.1")
  ip("-n", NS.a, "-6", "route", "add", "default", "via", "fd00:202:1::1")
  ip("-n", NS.a, "route", "add", "unreachable", "10.202.8.0/24")
  ip("-n", NS.c, "route", "add", "default", "via", "10.202.2.1")
  ip("-n", NS.c, "-6", "route", "add", "default", "via", "fd00:202:2::1")
  sysctl(NS.b, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
  ip("-n", NS.b, "route", "add", "unreachable", "10.202.9.0/24")

  // `ip netns exec` execs node, so this pid is the echo server's own.
  echo = spawn("ip", ["netns", "exec", NS.c, NODE, ECHO, String(ECHO_PORT)], { stdio: ["ignore", "pipe", "pipe"] })
  await new Promise<void>((resolve, reject) => {
    let err = ""
    echo?.stderr?.on("data", (d: Buffer) => (err += d.toString()))
    echo?.stdout?.once("data", () => resolve())
    echo?.once("exit", (code) => reject(new Error(`udp echo in ${NS.c} exited (${code}): ${err}`)))
  })
})

afterAll(() => {
  if (echo?.pid !== undefined && echo.exitCode === null) echo.kill("SIGKILL")
  for (const ns of Object.values(NS)) {
    try {
      ip("netns", "del", ns)
    } catch {
      // Not created (beforeAll failed early): nothing to remove.
    }
  }
})

const unreachable = (to: string, port: number, reason: string, from: string | null, mtu: number | null = null): ChildEvent => ({
  kind: "unreachable",
  to,
  port,
  reason,
  mtu,
  from,
})

describe("native UDP socket: ICMP errors through a router (IPv4)", () => {
  it("TTL 1 to a host two hops away -> ttl-exceeded from the router; the next datagram (host TTL) is echoed", async () => {
    const r = await runChild(NS.a, {
      family: 4,
      sends: [
        { to: "10.202.2.2", port: ECHO_PORT, hex: "aa01", ttl: 1 },
        { to: "10.202.2.2", port: ECHO_PORT, hex: "bb02" },
      ],
      expect: 2,
    })
    expect(r.events).toEqual([
      unreachable("10.202.2.2", ECHO_PORT, "ttl-exceeded", "10.202.1.1"),
      { kind: "datagram", from: "10.202.2.2", port: ECHO_PORT, hex: echoed("bb02") },
    ])
  })

  it("a closed port on the far host -> port unreachable from that host", async () => {
    const r = await runChild(NS.a, { family: 4, sends: [{ to: "10.202.2.2", port: CLOSED_PORT, hex: "cc" }], expect: 1 })
    expect(r.events).toEqual([unreachable("10.202.2.2", CLOSED_PORT, "port", "10.202.2.2")])
  })

  it("the router has an unreachable route -> host unreachable from the router", async () => {
    const r = await runChild(NS.a, { family: 4, sends: [{ to: "10.202.9.9", port: 53, hex: "dd" }], expect: 1 })
    expect(r.events).toEqual([unreachable("10.202.9.9", 53, "host", "10.202.1.1")])
  })

  it("our own unreachable route fails the send -> host unreachable, with no router", async () => {
    const r = await runChild(NS.a, { family: 4, sends: [{ to: "10.202.8.8", port: 53, hex: "ee" }], expect: 1 })
    expect(r.events).toEqual([unreachable("10.202.8.8", 53, "host", null)])
  })

  it("1400 bytes with DF over a 1280-byte hop -> fragmentation-needed with MTU 1280 from the router; the next is fragmented and echoed", async () => {
    const big = hex(1400, 5)
    const r = await runChild(NS.a, {
      family: 4,
      sends: [
        { to: "10.202.2.2", port: ECHO_PORT, hex: big },
        { to: "10.202.2.2", port: ECHO_PORT, hex: big },
      ],
      expect: 2,
    })
    expect(r.events).toEqual([
      unreachable("10.202.2.2", ECHO_PORT, "fragmentation-needed", "10.202.1.1", 1280),
      { kind: "datagram", from: "10.202.2.2", port: ECHO_PORT, hex: echoed(big) },
    ])
  })
})

describe("native UDP socket: a full send buffer", () => {
  it("600 datagrams of 1000 bytes at once through a 20 Mbit/s shaper: queued behind the send buffer, all echoed", async () => {
    // tbf holds what it has not sent yet, and the kernel charges it to our send buffer (about
    // 208 KiB), so sendmsg says EAGAIN long before 600 KB are out: those datagrams wait in the
    // socket's own queue until it is writable again, instead of being lost.
    tc("-n", NS.a, "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "20mbit", "burst", "32kb", "limit", "4mb")
    try {
      const n = 600
      const bulk = { to: "10.202.2.2", port: ECHO_PORT, count: n, size: 1000 }
      const r = await runChild(NS.a, { family: 4, sends: [], bulk, expect: n, waitMs: 15_000 })
      const got = r.events.map((e) => (e.kind === "datagram" ? e.hex : JSON.stringify(e)))
      const want = Array.from({ length: n }, (_, i) => echoed(bulkPayload(i, 1000).toString("hex")))
      // In order, too: the queue keeps the order of sends.
      expect(got.length).toBe(n)
      expect(got).toEqual(want)
    } finally {
      tc("-n", NS.a, "qdisc", "del", "dev", "eth0", "root")
    }
  })
})

describe("native UDP socket: ICMPv6 errors through a router", () => {
  it("hop limit 1 -> ttl-exceeded from the router; the next datagram is echoed", async () => {
    const r = await runChild(NS.a, {
      family: 6,
      sends: [
        { to: "fd00:202:2::2", port: ECHO_PORT, hex: "0601", ttl: 1 },
        { to: "fd00:202:2::2", port: ECHO_PORT, hex: "0602" },
      ],
      expect: 2,
    })
    expect(r.events).toEqual([
      unreachable("fd00:202:2::2", ECHO_PORT, "ttl-exceeded", "fd00:202:1::1"),
      { kind: "datagram", from: "fd00:202:2::2", port: ECHO_PORT, hex: echoed("0602") },
    ])
  })

  it("a closed port on the far host -> port unreachable from that host", async () => {
    const r = await runChild(NS.a, { family: 6, sends: [{ to: "fd00:202:2::2", port: CLOSED_PORT, hex: "0603" }], expect: 1 })
    expect(r.events).toEqual([unreachable("fd00:202:2::2", CLOSED_PORT, "port", "fd00:202:2::2")])
  })
})

describe("without the addon", () => {
  it("falls back to node:dgram with one info line; datagrams still flow, ICMP errors are not seen", async () => {
    const r = await runChild(
      NS.a,
      {
        family: 4,
        sends: [
          { to: "10.202.2.2", port: CLOSED_PORT, hex: "f0" },
          { to: "10.202.2.2", port: ECHO_PORT, hex: "f1" },
        ],
        // One event only arrives (the echo); the child reports after waitMs.
        expect: 2,
        waitMs: 1_500,
      },
      { TSLIRP_PING_ADDON: `${root}native/build/none.node` },
    )
    expect(r.events).toEqual([{ kind: "datagram", from: "10.202.2.2", port: ECHO_PORT, hex: echoed("f1") }])
    expect(r.logs).toHaveLength(1)
    expect(r.logs[0]).toMatch(/^info: udp: UDP socket addon unavailable \(Cannot find module '.*none\.node'\); using node:dgram/)
    expect(r.logs[0]).not.toContain("\n")
  })

  it('backend "native" without the addon: open reports HostSocketError ENOADDON and a warning', async () => {
    const r = await runChild(
      NS.a,
      { family: 4, sends: [{ to: "10.202.2.2", port: ECHO_PORT, hex: "f2" }], expect: 1, backend: "native" },
      { TSLIRP_PING_ADDON: `${root}native/build/none.node` },
    )
    expect(r.events).toEqual([{ kind: "error", code: "ENOADDON" }])
    expect(r.logs[0]).toMatch(/^warn: udp: UDP socket addon unavailable/)
  })
})
