/**
 * End to end, with a network namespace as the guest (its own Linux kernel stack, ISC dhclient,
 * busybox ping and nslookup), attached through QEMU `-M none` and a hub to:
 *   - tslirp over `-netdev stream` (the product),
 *   - tslirp over `-netdev dgram` at MTU 65000 (the large-frame link of the benchmark), and
 *   - QEMU's libslirp (`-netdev user`), the reference run: when the tslirp run fails and the
 *     reference passes, the fault is ours; when both fail, look at the harness or the host.
 * Checks, in order, on each: a DHCP lease (10.0.2.15/24, router 10.0.2.2, DNS 10.0.2.3) applied
 * to the interface; ping to the gateway; a DNS query to 10.0.2.3 answered by a DNS server this
 * test runs on the host's loopback; a UDP exchange with a host echo service on 127.0.0.1 reached
 * through 10.0.2.2. The host's own resolver is never used.
 */
import { createSocket, type Socket } from "node:dgram"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createNetnsGuest, NODE, type Backend, type NetnsGuest } from "../support/netns.ts"
import { runDhclient } from "../support/netns-dhcp.ts"
import { DNS_TYPE_A, startDnsServer, type DnsQueryEvent, type DnsServer } from "../support/dns-server.ts"
import { describeResult } from "../support/netns-process.ts"

const UDP_CLIENT = fileURLToPath(new URL("../support/netns-udp-client.ts", import.meta.url))
const NAME = "netns-e2e.tslirp.test"
const NAME_ADDRESS = "192.0.2.77"

interface Run {
  readonly label: string
  readonly backend: (dnsHost: string) => Backend
  readonly mtu: number
  /** Where this backend forwards DNS: tslirp takes ADDR:PORT, libslirp only port 53 of resolv.conf's address. */
  readonly dnsBind: { readonly host: string; readonly port: number }
  readonly dnsUpstream: boolean
}

// A loopback address of our own for libslirp's resolver, so that port 53 is free for us.
const referenceDnsHost = `127.53.${(process.pid % 250) + 1}.${(Math.floor(process.pid / 250) % 250) + 1}`

const runs: ReadonlyArray<Run> = [
  {
    label: "tslirp (-netdev stream)",
    backend: () => ({ _tag: "TslirpStream" }),
    mtu: 1500,
    dnsBind: { host: "127.0.0.1", port: 0 },
    dnsUpstream: true,
  },
  {
    label: "tslirp (-netdev dgram, MTU 65000)",
    backend: () => ({ _tag: "TslirpDgram" }),
    mtu: 65000,
    dnsBind: { host: "127.0.0.1", port: 0 },
    dnsUpstream: true,
  },
  {
    label: "reference: QEMU libslirp (-netdev user)",
    backend: (dnsHost) => ({ _tag: "Libslirp", nameserver: dnsHost }),
    mtu: 1500,
    dnsBind: { host: referenceDnsHost, port: 53 },
    dnsUpstream: false,
  },
]

const startEcho = (): Promise<{ socket: Socket; port: number; peers: string[] }> =>
  new Promise((resolve, reject) => {
    const socket = createSocket("udp4")
    const peers: string[] = []
    socket.on("message", (msg, rinfo) => {
      peers.push(rinfo.address)
      socket.send(Buffer.concat([Buffer.from("echo:"), msg]), rinfo.port, rinfo.address)
    })
    socket.once("error", reject)
    socket.bind(0, "127.0.0.1", () => resolve({ socket, port: socket.address().port, peers }))
  })

describe.each(runs)("namespace guest on $label", (run) => {
  let guest: NetnsGuest | undefined
  let dns: DnsServer | undefined
  const queries: DnsQueryEvent[] = []
  let echo: { socket: Socket; port: number; peers: string[] } | undefined
  let leased = false

  /** The guest, or a failure that carries why it is absent. */
  const theGuest = (): NetnsGuest => {
    if (guest === undefined) throw new Error("the namespace guest did not start (see the beforeAll error)")
    return guest
  }
  /** Run a check; on failure add the backend's own output to the message. */
  const explained = async (check: (g: NetnsGuest) => Promise<void>): Promise<void> => {
    const g = theGuest()
    try {
      await check(g)
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      throw new Error(`${message}\n${g.diagnostics()}`)
    }
  }
  const requireLease = (): void => {
    if (!leased) throw new Error("needs the DHCP lease of the first test, which failed")
  }

  beforeAll(async () => {
    dns = await startDnsServer({ ...run.dnsBind, records: { [NAME]: [NAME_ADDRESS] }, onQuery: (q) => queries.push(q) })
    echo = await startEcho()
    const endpoint = `${dns.host}:${dns.port}`
    guest = await createNetnsGuest({
      backend: run.backend(run.dnsBind.host),
      mtu: run.mtu,
      ...(run.dnsUpstream ? { dnsUpstream: endpoint } : {}),
      guestResolvConf: "nameserver 10.0.2.3\n",
    })
  }, 60_000)

  afterAll(async () => {
    await guest?.destroy()
    await dns?.close()
    await new Promise<void>((resolve) => (echo === undefined ? resolve() : echo.socket.close(() => resolve())))
  })

  it("dhclient gets 10.0.2.15/24 with router 10.0.2.2 and DNS 10.0.2.3, applied to the interface", async () => {
    await explained(async (g) => {
      const { result, bound, leases } = await runDhclient(g)
      expect(result.code, describeResult(result)).toBe(0)
      expect(bound["new_ip_address"]).toBe("10.0.2.15")
      expect(bound["new_subnet_mask"]).toBe("255.255.255.0")
      expect(bound["new_routers"]).toBe("10.0.2.2")
      expect(bound["new_domain_name_servers"]).toBe("10.0.2.3")
      expect(leases).toMatch(/option domain-name-servers 10\.0\.2\.3;/)
      expect(leases).toMatch(/option routers 10\.0\.2\.2;/)
      const addr = await g.run(["ip", "-4", "-o", "addr", "show", "dev", g.ifname])
      expect(addr).toMatch(/inet 10\.0\.2\.15\/24 /)
      const routes = await g.run(["ip", "-4", "route", "show", "default"])
      expect(routes).toMatch(new RegExp(`^default via 10\\.0\\.2\\.2 dev ${g.ifname}`, "m"))
      leased = true
    })
  }, 60_000)

  it("ping -c 3 10.0.2.2 gets three replies", async () => {
    requireLease()
    await explained(async (g) => {
      const r = await g.exec(["busybox", "ping", "-c", "3", "-W", "5", "10.0.2.2"], { timeoutMs: 30_000 })
      expect(r.code, describeResult(r)).toBe(0)
      expect(r.stdout).toMatch(/3 packets transmitted, 3 packets received/)
    })
  }, 40_000)

  it("a DNS query to 10.0.2.3 is answered by the DNS server on the host's loopback", async () => {
    requireLease()
    await explained(async (g) => {
      const r = await g.exec(["busybox", "nslookup", NAME, "10.0.2.3"], { timeoutMs: 30_000 })
      expect(r.code, describeResult(r)).toBe(0)
      expect(r.stdout).toContain(NAME_ADDRESS)
      const seen = queries.filter((q) => q.name === NAME && q.qtype === DNS_TYPE_A)
      expect(seen.length, `queries seen by the host DNS server: ${JSON.stringify(queries)}`).toBeGreaterThan(0)
      // Forwarded from the host side, so the source is a host loopback address, not the guest's.
      expect(seen[0]?.from).toMatch(/^127\./)
    })
  }, 40_000)

  it("a UDP datagram to 10.0.2.2 reaches the host echo service on 127.0.0.1 and the reply comes back", async () => {
    requireLease()
    await explained(async (g) => {
      const port = echo?.port ?? 0
      const r = await g.exec([NODE, UDP_CLIENT, "10.0.2.2", String(port), "hello from the namespace"], { timeoutMs: 30_000 })
      expect(r.code, describeResult(r)).toBe(0)
      const reply = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { reply?: string; from?: string }
      expect(reply.reply).toBe("echo:hello from the namespace")
      expect(reply.from).toBe(`10.0.2.2:${port}`)
      expect(echo?.peers[0]).toBe("127.0.0.1")
    })
  }, 40_000)
})
