/**
 * End to end over IPv6, with a network namespace as the guest running Linux's own IPv6 stack
 * (SLAAC, DAD), attached through QEMU `-M none` and a hub to tslirp over `-netdev stream`:
 * the guest configures fec0::/64 from our router advertisement, learns the DNS address from
 * its RDNSS option (read here from an RA the test solicits itself on a raw socket), pings the
 * gateway fec0::2, asks the test's DNS server (on the host's loopback, never resolv.conf's)
 * through fec0::3, exchanges UDP with an echo service on the host's ::1 through fec0::2, runs
 * iperf3 over TCP/IPv6 both ways to a server on the host's ::1 through fec0::2 (Linux's own
 * TCP against ours), and gets an address and the DNS server from our DHCPv6 server with ISC
 * dhclient -6 (stateful and information-only).
 * A reference run on QEMU's libslirp (`-netdev user`, IPv6 on by default) checks SLAAC and
 * ping -6 the same way: when tslirp fails and the reference passes, the fault is ours.
 */
import { createSocket, type Socket } from "node:dgram"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createNetnsGuest, freeTcpPort, NODE, type NetnsGuest } from "../support/netns.ts"
import { measure as iperf3 } from "../bench/iperf.ts"
import { DNS_TYPE_A, startDnsServer, type DnsQueryEvent, type DnsServer } from "../support/dns-server.ts"
import { describeResult } from "../support/netns-process.ts"
import { join } from "node:path"
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"

const NAME = "netns-ipv6.tslirp.test"
const NAME_ADDRESS = "192.0.2.66"
const SEARCH = "e2e-ipv6.test"

/** Sends an RS on a raw ICMPv6 socket and prints the first RA's prefix, RDNSS and DNSSL as JSON. */
const SOLICIT_RA = String.raw`
import socket, struct, sys, json
ifname = sys.argv[1]
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
s.settimeout(3)
idx = socket.if_nametoindex(ifname)
for attempt in range(5):
    s.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, idx))
    try:
        while True:
            m, a = s.recvfrom(2048)
            if m[0] == 134:
                break
        break
    except socket.timeout:
        continue
else:
    sys.exit("no router advertisement")
out = {"from": a[0].split("%")[0], "flags": m[5], "lifetime": struct.unpack("!H", m[6:8])[0], "prefixes": [], "rdnss": [], "dnssl": [], "mtu": None}
o = 16
while o + 2 <= len(m):
    t, l = m[o], m[o + 1] * 8
    if l == 0: sys.exit("zero-length option")
    b = m[o:o + l]
    if t == 3: out["prefixes"].append([socket.inet_ntop(socket.AF_INET6, b[16:32]), b[2], b[3]])
    if t == 5: out["mtu"] = struct.unpack("!I", b[4:8])[0]
    if t == 25: out["rdnss"] += [socket.inet_ntop(socket.AF_INET6, b[i:i + 16]) for i in range(8, l, 16)]
    if t == 31:
        p = 8
        while p < l and b[p] != 0:
            labels = []
            while b[p] != 0:
                labels.append(b[p + 1:p + 1 + b[p]].decode()); p += 1 + b[p]
            p += 1
            out["dnssl"].append(".".join(labels))
    o += l
print(json.dumps(out))
`

/** A UDP client over IPv6 inside the namespace: sends argv[2] to [argv[0]]:argv[1], prints the reply. */
const UDP6_CLIENT = `
const [host, port, text] = process.argv.slice(1)
const s = require("node:dgram").createSocket("udp6")
let n = 0
const send = () => { if (n++ === 5) { console.error("no reply"); process.exit(1) } s.send(text, Number(port), host); setTimeout(send, 1000) }
s.on("message", (m, r) => { console.log(JSON.stringify({ reply: m.toString(), from: r.address + ":" + r.port })); process.exit(0) })
s.bind(0, send)
`

const startEcho6 = (): Promise<{ socket: Socket; port: number; peers: string[] }> =>
  new Promise((resolve, reject) => {
    const socket = createSocket("udp6")
    const peers: string[] = []
    socket.on("message", (msg, rinfo) => {
      peers.push(rinfo.address)
      socket.send(Buffer.concat([Buffer.from("echo6:"), msg]), rinfo.port, rinfo.address)
    })
    socket.once("error", reject)
    socket.bind(0, "::1", () => resolve({ socket, port: socket.address().port, peers }))
  })

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("namespace guest over IPv6 on tslirp (-netdev stream)", () => {
  let guest: NetnsGuest | undefined
  let dns: DnsServer | undefined
  const queries: DnsQueryEvent[] = []
  let echo: { socket: Socket; port: number; peers: string[] } | undefined
  let configured = false

  const theGuest = (): NetnsGuest => {
    if (guest === undefined) throw new Error("the namespace guest did not start (see the beforeAll error)")
    return guest
  }
  const explained = async (check: (g: NetnsGuest) => Promise<void>): Promise<void> => {
    const g = theGuest()
    try {
      await check(g)
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${g.diagnostics()}`)
    }
  }
  const requireAddress = (): void => {
    if (!configured) throw new Error("needs the SLAAC address of the first test, which failed")
  }

  beforeAll(async () => {
    dns = await startDnsServer({ host: "127.0.0.1", port: 0, records: { [NAME]: [NAME_ADDRESS] }, onQuery: (q) => queries.push(q) })
    echo = await startEcho6()
    guest = await createNetnsGuest({
      backend: { _tag: "TslirpStream", extraArgs: ["--dnssearch", SEARCH, "--log-level", "debug"] },
      dnsUpstream: `${dns.host}:${dns.port}`,
      guestResolvConf: "nameserver fec0::3\n",
    })
  }, 60_000)

  afterAll(async () => {
    await guest?.destroy()
    await dns?.close()
    await new Promise<void>((resolve) => (echo === undefined ? resolve() : echo.socket.close(() => resolve())))
  })

  it("SLAAC from our RA: fec0::/64 with the EUI-64 interface id, DAD passed, default route via fe80::2", async () => {
    await explained(async (g) => {
      const link = await g.run(["ip", "-o", "link", "show", "dev", g.ifname])
      const mac = /link\/ether ([0-9a-f:]{17})/.exec(link)?.[1]
      expect(mac).toBeDefined()
      const b = mac!.split(":").map((x) => parseInt(x, 16))
      const iid = [((b[0]! ^ 2) << 8) | b[1]!, (b[2]! << 8) | 0xff, 0xfe00 | b[3]!, (b[4]! << 8) | b[5]!].map((w) => w.toString(16)).join(":")
      // fec0::/10 is site-local to Linux ("scope site"): slaacAddress filters by text, not scope.
      const addrs = await slaacAddress(g)
      expect(addrs).toContain(`inet6 fec0::${iid}/64`)
      expect(addrs).not.toMatch(/tentative|dadfailed/)
      const routes = await g.run(["ip", "-6", "route", "show", "default"])
      expect(routes).toMatch(new RegExp(`^default via fe80::2 dev ${g.ifname} proto ra`, "m"))
      configured = true
    })
  }, 30_000)

  it("the RA carries the prefix (L, A), MTU 1500, RDNSS fec0::3 and DNSSL with --dnssearch, from fe80::2", async () => {
    requireAddress()
    await explained(async (g) => {
      const r = await g.exec(["python3", "-c", SOLICIT_RA, g.ifname], { timeoutMs: 20_000 })
      expect(r.code, describeResult(r)).toBe(0)
      const ra = JSON.parse(r.stdout.trim()) as { from: string; flags: number; lifetime: number; prefixes: Array<[string, number, number]>; rdnss: string[]; dnssl: string[]; mtu: number }
      expect(ra).toEqual({ from: "fe80::2", flags: 0, lifetime: 1800, prefixes: [["fec0::", 64, 0xc0]], rdnss: ["fec0::3"], dnssl: [SEARCH], mtu: 1500 })
    })
  }, 30_000)

  it("ping -6 -c 3 fec0::2 gets three replies (and fe80::2 too)", async () => {
    requireAddress()
    await explained(async (g) => {
      const r = await g.exec(["ping", "-6", "-c", "3", "-W", "5", "fec0::2"], { timeoutMs: 30_000 })
      expect(r.code, describeResult(r)).toBe(0)
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/)
      const ll = await g.exec(["ping", "-6", "-c", "1", "-W", "5", `fe80::2%${g.ifname}`], { timeoutMs: 30_000 })
      expect(ll.code, describeResult(ll)).toBe(0)
    })
  }, 60_000)

  it("a DNS query to fec0::3 is answered by the DNS server on the host's loopback", async () => {
    requireAddress()
    await explained(async (g) => {
      const r = await g.exec(["busybox", "nslookup", NAME, "fec0::3"], { timeoutMs: 30_000 })
      expect(r.code, describeResult(r)).toBe(0)
      expect(r.stdout).toContain(NAME_ADDRESS)
      const seen = queries.filter((q) => q.name === NAME && q.qtype === DNS_TYPE_A)
      expect(seen.length, JSON.stringify(queries)).toBeGreaterThan(0)
      expect(seen[0]?.from).toMatch(/^127\./)
    })
  }, 40_000)

  it("a UDP datagram to [fec0::2] reaches the echo service on the host's ::1 and the reply comes back from fec0::2", async () => {
    requireAddress()
    await explained(async (g) => {
      const port = echo?.port ?? 0
      const r = await g.exec([NODE, "-e", UDP6_CLIENT, "fec0::2", String(port), "hello over ipv6"], { timeoutMs: 30_000 })
      expect(r.code, describeResult(r)).toBe(0)
      const reply = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { reply?: string; from?: string }
      expect(reply).toEqual({ reply: "echo6:hello over ipv6", from: `fec0::2:${port}` })
      expect(echo?.peers[0]).toBe("::1")
    })
  }, 40_000)

  for (const direction of ["guest->host", "host->guest"] as const) {
    it(`iperf3 over TCP/IPv6, ${direction}: 3 s to a server on the host's ::1 through [fec0::2]`, async () => {
      requireAddress()
      await explained(async (g) => {
        const r = await iperf3({ client: g, serverGuest: null, serverAddress: "::1", target: "fec0::2", port: await freeTcpPort(), seconds: 3, direction })
        expect(r._tag === "Measured" ? "measured" : r.reason).toBe("measured")
        // Something real moved: at least 1 Mbit/s (a broken window or checksum moves nothing).
        expect(r._tag === "Measured" && r.gbps).toBeGreaterThan(0.001)
      })
    }, 60_000)
  }

  for (const [label, args, reason, expected] of [
    ["stateful: an address from the pool", [] as string[], "BOUND6", /^new_ip6_address=fec0::100$/m],
    // ISC dhclient 4.4 runs its script with reason RENEW6 for an information-only reply.
    ["information-only: the DNS server and search list", ["-S"], "RENEW6", new RegExp(`^new_dhcp6_domain_search=.*${SEARCH.replace(/\./g, "\\.")}`, "m")],
  ] as const) {
    it(`dhclient -6 ${args.join(" ")} (${label})`, async () => {
      requireAddress()
      await explained(async (g) => {
        // The script records what dhclient hands it (it configures nothing).
        const dir = join(g.tmp, `dhc6${args.join("")}`)
        mkdirSync(dir, { recursive: true })
        const script = join(dir, "script")
        writeFileSync(script, `#!/bin/sh\nenv > ${dir}/env.$reason\n`)
        chmodSync(script, 0o755)
        const r = await g.exec(["dhclient", "-6", "-1", "-v", ...args, "-sf", script, "-lf", join(dir, "leases"), "-pf", join(dir, "pid"), g.ifname], { timeoutMs: 30_000 })
        const envFile = join(dir, `env.${reason}`)
        // dhclient may run its script after going to the background: give it a moment.
        for (let i = 0; i < 20 && !existsSync(envFile); i++) await sleep(250)
        await g.exec(["dhclient", "-6", "-x", "-pf", join(dir, "pid")], { timeoutMs: 10_000 })
        expect(r.code, describeResult(r)).toBe(0)
        const env = existsSync(envFile) ? readFileSync(envFile, "utf8") : ""
        expect(env, describeResult(r)).toMatch(expected)
        expect(env).toMatch(/^new_dhcp6_name_servers=fec0::3$/m)
      })
    }, 45_000)
  }
})

/** The first check, shared with the reference run: a SLAAC address in fec0::/64 and a default route via fe80::2. */
const slaacAddress = async (g: NetnsGuest): Promise<string> => {
  let addrs = ""
  for (let i = 0; i < 40; i++) {
    addrs = (await g.run(["ip", "-6", "-o", "addr", "show", "dev", g.ifname])).split("\n").filter((l) => l.includes("inet6 fec0:")).join("\n")
    if (addrs !== "" && !/tentative/.test(addrs)) break
    await sleep(250)
  }
  return addrs
}

describe("reference: the same namespace guest over IPv6 on QEMU's libslirp (-netdev user)", () => {
  let guest: NetnsGuest | undefined
  beforeAll(async () => {
    guest = await createNetnsGuest({ backend: { _tag: "Libslirp" } })
  }, 60_000)
  afterAll(async () => {
    await guest?.destroy()
  })
  const theGuest = (): NetnsGuest => {
    if (guest === undefined) throw new Error("the namespace guest did not start (see the beforeAll error)")
    return guest
  }

  it("SLAAC in fec0::/64 from libslirp's RA, default route via fe80::2", async () => {
    const g = theGuest()
    const addrs = await slaacAddress(g)
    expect(addrs, g.diagnostics()).toMatch(/inet6 fec0::[0-9a-f:]+\/64/)
    expect(addrs).not.toMatch(/tentative|dadfailed/)
    expect(await g.run(["ip", "-6", "route", "show", "default"])).toMatch(new RegExp(`^default via fe80::2 dev ${g.ifname} proto ra`, "m"))
  }, 30_000)

  it("ping -6 -c 3 fec0::2 gets three replies", async () => {
    const g = theGuest()
    const r = await g.exec(["ping", "-6", "-c", "3", "-W", "5", "fec0::2"], { timeoutMs: 30_000 })
    expect(r.code, `${describeResult(r)}\n${g.diagnostics()}`).toBe(0)
  }, 40_000)
})
