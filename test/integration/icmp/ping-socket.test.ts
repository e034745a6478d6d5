/**
 * The host ping socket against the real Linux kernel, inside network namespaces this file
 * creates (the host's own `ping_group_range` is left alone). Each case runs `ping-child.ts` in
 * a namespace with `ip netns exec`, because a socket belongs to the namespace of the process
 * that opens it.
 *
 * Topology for the error cases (one router between the pinger and the target):
 *
 *   pinger (A) eth0 10.201.1.2 / fd00:201:1::2
 *        |
 *   router (B) eth0 10.201.1.1 / fd00:201:1::1, eth1 10.201.2.1 / fd00:201:2::1
 *        |       unreachable routes: 10.201.9.0/24, fd00:201:9::/64
 *   target (C) eth0 10.201.2.2 / fd00:201:2::2
 *
 * A also has an `unreachable` route of its own for 10.201.8.0/24, and second addresses
 * 10.201.1.3 / fd00:201:1::3 that only a socket bound to them (`--outbound-addr`) uses.
 */
import { execFile, execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ChildEvent, ChildResult } from "./ping-child.ts"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const NODE = `${root}node_modules/.bin/node`
const CHILD = fileURLToPath(new URL("./ping-child.ts", import.meta.url))

const prefix = `tsicmp${process.pid}`
const NS = {
  loop: `${prefix}-loop`,
  denied: `${prefix}-denied`,
  a: `${prefix}-a`,
  b: `${prefix}-b`,
  c: `${prefix}-c`,
} as const
const ALLOW_ALL_GROUPS = "0 2147483647"

const ip = (...args: string[]): void => {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] })
}
const sysctl = (ns: string, ...settings: string[]): void => ip("netns", "exec", ns, "sysctl", "-qw", ...settings)

interface Send {
  to: string
  sequence: number
  payloadHex: string
  ttl?: number
}

/** Run the child; `waitMs` only bounds a broken run (neighbour discovery on fresh links can take a second or two). */
const runChild = (
  ns: string | null,
  spec: { family: 4 | 6; sends: Send[]; expect: number; waitMs?: number; mode?: "collect" | "closeInHandler"; local?: string },
  env: Record<string, string> = {},
): Promise<ChildResult> => {
  const argv = [CHILD, JSON.stringify({ waitMs: 10_000, ...spec })]
  const [cmd, args] = ns === null ? [NODE, argv] : ["ip", ["netns", "exec", ns, NODE, ...argv]]
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err !== null) return reject(new Error(`${err.message}\n${stderr}`))
      const line = stdout.trim().split("\n").at(-1) ?? ""
      try {
        resolve(JSON.parse(line) as ChildResult)
      } catch {
        reject(new Error(`child printed no result: ${stdout}\n${stderr}`))
      }
    })
  })
}

const eventsOf = (r: ChildResult): ChildEvent[] => {
  if (!r.opened) throw new Error(`ping socket did not open: ${r.code} ${r.message}`)
  return r.events
}

/** Events in a stable order (delivery order across replies and errors is the kernel's). */
const sorted = (events: ChildEvent[]): ChildEvent[] =>
  [...events].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)))

const payload = (n: number, seed: number): string =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff)).toString("hex")

beforeAll(() => {
  // The tests exercise the built addon; build it (under a lock) once rather than lazily in
  // several children at once.
  execFileSync("sh", [`${root}native/build.sh`, "--if-needed"], { stdio: ["ignore", "ignore", "pipe"] })

  for (const ns of Object.values(NS)) {
    ip("netns", "add", ns)
    ip("-n", ns, "link", "set", "lo", "up")
  }
  sysctl(NS.loop, `net.ipv4.ping_group_range=${ALLOW_ALL_GROUPS}`)
  sysctl(NS.a, `net.ipv4.ping_group_range=${ALLOW_ALL_GROUPS}`)
  // A fresh namespace starts with "1 0" too; set it anyway so the case says what it tests.
  sysctl(NS.denied, "net.ipv4.ping_group_range=1 0")

  ip("link", "add", "eth0", "netns", NS.a, "type", "veth", "peer", "name", "eth0", "netns", NS.b)
  ip("link", "add", "eth1", "netns", NS.b, "type", "veth", "peer", "name", "eth0", "netns", NS.c)
  const addrs: Array<[string, string, string, string]> = [
    [NS.a, "eth0", "10.201.1.2/24", "fd00:201:1::2/64"],
    [NS.b, "eth0", "10.201.1.1/24", "fd00:201:1::1/64"],
    [NS.b, "eth1", "10.201.2.1/24", "fd00:201:2::1/64"],
    [NS.c, "eth0", "10.201.2.2/24", "fd00:201:2::2/64"],
  ]
  for (const [ns, dev, v4, v6] of addrs) {
    ip("-n", ns, "addr", "add", v4, "dev", dev)
    ip("-n", ns, "-6", "addr", "add", v6, "dev", dev, "nodad")
    ip("-n", ns, "link", "set", dev, "up")
  }
  ip("-n", NS.a, "addr", "add", "10.201.1.3/24", "dev", "eth0")
  ip("-n", NS.a, "-6", "addr", "add", "fd00:201:1::3/64", "dev", "eth0", "nodad")
  ip("-n", NS.a, "route", "add", "default", "via", "10.201.1.1")
  ip("-n", NS.a, "-6", "route", "add", "default", "via", "fd00:201:1::1")
  ip("-n", NS.a, "route", "add", "unreachable", "10.201.8.0/24")
  ip("-n", NS.c, "route", "add", "default", "via", "10.201.2.1")
  ip("-n", NS.c, "-6", "route", "add", "default", "via", "fd00:201:2::1")
  sysctl(NS.b, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
  ip("-n", NS.b, "route", "add", "unreachable", "10.201.9.0/24")
  ip("-n", NS.b, "-6", "route", "add", "unreachable", "fd00:201:9::/64")
})

afterAll(() => {
  for (const ns of Object.values(NS)) {
    try {
      ip("netns", "del", ns)
    } catch {
      // Not created (beforeAll failed early): nothing to remove.
    }
  }
})

describe("ping socket: echo on loopback", () => {
  it("IPv4: echoes to 127.0.0.1 come back with their sequence and payload, and a TTL", async () => {
    const sends: Send[] = [
      { to: "127.0.0.1", sequence: 0, payloadHex: "" },
      { to: "127.0.0.1", sequence: 1, payloadHex: payload(56, 1) },
      { to: "127.0.0.1", sequence: 65535, payloadHex: payload(1472, 2) },
    ]
    const events = eventsOf(await runChild(NS.loop, { family: 4, sends, expect: 3 }))
    expect(sorted(events)).toEqual(
      sorted(sends.map((s) => ({ kind: "reply", from: "127.0.0.1", sequence: s.sequence, payloadHex: s.payloadHex, ttl: 64 }))),
    )
  })

  it("IPv6: echoes to ::1 come back with their sequence and payload, and a hop limit", async () => {
    const sends: Send[] = [
      { to: "::1", sequence: 7, payloadHex: payload(32, 3) },
      { to: "::1", sequence: 4000, payloadHex: payload(9000, 4) },
    ]
    const events = eventsOf(await runChild(NS.loop, { family: 6, sends, expect: 2 }))
    expect(sorted(events)).toEqual(
      sorted(sends.map((s) => ({ kind: "reply", from: "::1", sequence: s.sequence, payloadHex: s.payloadHex, ttl: 64 }))),
    )
  })

  it("an address of the wrong family is reported through onError as EINVAL, not thrown", async () => {
    const sends: Send[] = [
      { to: "::1", sequence: 1, payloadHex: "00" },
      { to: "127.0.0.1", sequence: 2, payloadHex: "11" },
    ]
    const events = eventsOf(await runChild(NS.loop, { family: 4, sends, expect: 2 }))
    expect(sorted(events)).toEqual(
      sorted([
        { kind: "error", code: "EINVAL" },
        { kind: "reply", from: "127.0.0.1", sequence: 2, payloadHex: "11", ttl: 64 },
      ]),
    )
  })

  it("close() inside a handler stops delivery at once, and the process keeps working", async () => {
    const sends: Send[] = [1, 2, 3, 4, 5].map((n) => ({ to: "127.0.0.1", sequence: n, payloadHex: payload(8, n) }))
    const events = eventsOf(await runChild(NS.loop, { family: 4, sends, expect: 99, mode: "closeInHandler" }))
    expect(events).toHaveLength(2)
    expect(events[0]).toMatchObject({ kind: "reply", from: "127.0.0.1" })
    expect(events[1]).toEqual({ kind: "reply", from: "127.0.0.1", sequence: 4242, payloadHex: "c0ffee", ttl: null })
  })
})

describe("ping socket: ICMP errors through a router", () => {
  it("IPv4: TTL 1 to a host two hops away -> ttl-exceeded from the router; default TTL -> reply", async () => {
    const sends: Send[] = [
      { to: "10.201.2.2", sequence: 10, payloadHex: "aa", ttl: 1 },
      // Right after the error: the pending socket error it leaves must not eat this send.
      { to: "10.201.2.2", sequence: 11, payloadHex: "bb" },
    ]
    const events = eventsOf(await runChild(NS.a, { family: 4, sends, expect: 2 }))
    expect(sorted(events)).toEqual(
      sorted([
        { kind: "unreachable", to: "10.201.2.2", reason: "ttl-exceeded", sequence: 10, from: "10.201.1.1", mtu: null },
        // One hop: the reply left C with TTL 64 and B decremented it.
        { kind: "reply", from: "10.201.2.2", sequence: 11, payloadHex: "bb", ttl: 63 },
      ]),
    )
  })

  it("IPv4: the router has an unreachable route -> host unreachable from the router", async () => {
    const sends: Send[] = [{ to: "10.201.9.9", sequence: 20, payloadHex: "cc" }]
    const events = eventsOf(await runChild(NS.a, { family: 4, sends, expect: 1 }))
    expect(events).toEqual([
      { kind: "unreachable", to: "10.201.9.9", reason: "host", sequence: 20, from: "10.201.1.1", mtu: null },
    ])
  })

  it("IPv4: our own unreachable route fails the send -> host unreachable, with no router", async () => {
    const sends: Send[] = [{ to: "10.201.8.8", sequence: 30, payloadHex: "dd" }]
    const events = eventsOf(await runChild(NS.a, { family: 4, sends, expect: 1 }))
    expect(events).toEqual([{ kind: "unreachable", to: "10.201.8.8", reason: "host", sequence: 30, from: null, mtu: null }])
  })

  it("IPv6: hop limit 1 -> ttl-exceeded from the router; default hop limit -> reply", async () => {
    const sends: Send[] = [
      { to: "fd00:201:2::2", sequence: 40, payloadHex: "ee", ttl: 1 },
      { to: "fd00:201:2::2", sequence: 41, payloadHex: "ff" },
    ]
    const events = eventsOf(await runChild(NS.a, { family: 6, sends, expect: 2 }))
    expect(sorted(events)).toEqual(
      sorted([
        { kind: "unreachable", to: "fd00:201:2::2", reason: "ttl-exceeded", sequence: 40, from: "fd00:201:1::1", mtu: null },
        { kind: "reply", from: "fd00:201:2::2", sequence: 41, payloadHex: "ff", ttl: 63 },
      ]),
    )
  })

  it("IPv6: the router has an unreachable route -> no route (net) from the router", async () => {
    const sends: Send[] = [{ to: "fd00:201:9::9", sequence: 50, payloadHex: "0102" }]
    const events = eventsOf(await runChild(NS.a, { family: 6, sends, expect: 1 }))
    expect(events).toEqual([
      { kind: "unreachable", to: "fd00:201:9::9", reason: "net", sequence: 50, from: "fd00:201:1::1", mtu: null },
    ])
  })
})

describe("ping socket: bound to a local address (--outbound-addr)", () => {
  // The target answers the echo's source address, and a bound ping socket only receives
  // replies sent to its own address: a reply at a socket bound to the second address shows
  // the echo left from it (the kernel's own choice for these routes is the first address).
  it("IPv4: bound to 10.201.1.3, the echo to the host behind the router is answered to that address", async () => {
    const r = await runChild(NS.a, { family: 4, sends: [{ to: "10.201.2.2", sequence: 5, payloadHex: "a1" }], expect: 1, local: "10.201.1.3" })
    expect(r).toMatchObject({ opened: true, local: "10.201.1.3" })
    expect(eventsOf(r)).toEqual([{ kind: "reply", from: "10.201.2.2", sequence: 5, payloadHex: "a1", ttl: 63 }])
  })

  it("IPv6: bound to fd00:201:1::3, the echo to the host behind the router is answered to that address", async () => {
    const r = await runChild(NS.a, { family: 6, sends: [{ to: "fd00:201:2::2", sequence: 6, payloadHex: "b2" }], expect: 1, local: "fd00:201:1::3" })
    expect(r).toMatchObject({ opened: true, local: "fd00:201:1::3" })
    expect(eventsOf(r)).toEqual([{ kind: "reply", from: "fd00:201:2::2", sequence: 6, payloadHex: "b2", ttl: 63 }])
  })

  it("IPv4 on loopback: bound to 127.0.0.2 (getsockname says so), echoes still come back; unbound reads the wildcard", async () => {
    const bound = await runChild(NS.loop, { family: 4, sends: [{ to: "127.0.0.1", sequence: 1, payloadHex: "" }], expect: 1, local: "127.0.0.2" })
    expect(bound).toMatchObject({ opened: true, local: "127.0.0.2" })
    expect(eventsOf(bound)).toEqual([{ kind: "reply", from: "127.0.0.1", sequence: 1, payloadHex: "", ttl: 64 }])
    expect(await runChild(NS.loop, { family: 4, sends: [], expect: 0 })).toMatchObject({ opened: true, local: "0.0.0.0" })
  })

  it("an address this host lacks -> open throws EADDRNOTAVAIL (IPv4 and IPv6); another family -> EINVAL", async () => {
    const v4 = await runChild(NS.a, { family: 4, sends: [], expect: 0, local: "192.0.2.1" })
    const v6 = await runChild(NS.a, { family: 6, sends: [], expect: 0, local: "2001:db8::1" })
    const mixed = await runChild(NS.a, { family: 6, sends: [], expect: 0, local: "10.201.1.3" })
    expect(v4).toMatchObject({ opened: false, code: "EADDRNOTAVAIL" })
    expect(v6).toMatchObject({ opened: false, code: "EADDRNOTAVAIL" })
    expect(mixed).toMatchObject({ opened: false, code: "EINVAL" })
    if (!v4.opened) expect(v4.message).toContain("outbound address 192.0.2.1")
  })
})

describe("ping socket: hosts that forbid it", () => {
  it('ping_group_range "1 0" -> open throws EACCES, for IPv4 and IPv6', async () => {
    const v4 = await runChild(NS.denied, { family: 4, sends: [], expect: 0 })
    const v6 = await runChild(NS.denied, { family: 6, sends: [], expect: 0 })
    expect(v4).toMatchObject({ opened: false, code: "EACCES" })
    expect(v6).toMatchObject({ opened: false, code: "EACCES" })
    if (!v4.opened) expect(v4.message).toContain('ping_group_range is "1 0"')
  })

  it("no addon -> open throws ENOADDON", async () => {
    const r = await runChild(NS.loop, { family: 4, sends: [], expect: 0 }, { TSLIRP_PING_ADDON: `${root}native/build/none.node` })
    expect(r).toMatchObject({ opened: false, code: "ENOADDON" })
  })
})
