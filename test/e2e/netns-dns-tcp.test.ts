/**
 * The DNS proxy over TCP (issue 2): a resolver that gets a truncated answer over UDP retries
 * over TCP (RFC 7766); its TCP connection to 10.0.2.3:53 must reach the upstream resolver over
 * TCP as well. The guest is a network namespace (Linux's TCP) on tslirp over `-netdev stream`;
 * the resolver is Node's (c-ares), run inside the namespace; the upstream is the test's DNS
 * server on the host's 127.0.0.1, which truncates the chosen name over UDP.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type DnsQueryEvent, type DnsServer, startDnsServer } from "../support/dns-server.ts"
import { NODE, type NetnsGuest, createNetnsGuest } from "../support/netns.ts"
import { describeResult } from "../support/netns-process.ts"

const NAME = "big.tslirp.test"
const ADDRESS = "192.0.2.123"

const RESOLVE = `
const { Resolver } = require("node:dns").promises
const r = new Resolver({ timeout: 3000, tries: 2 })
r.setServers(["10.0.2.3"])
r.resolve4(process.argv[1]).then((a) => console.log(JSON.stringify(a)), (e) => { console.error(e.code); process.exit(1) })
`

describe("namespace guest on tslirp: DNS over TCP through the proxy", () => {
  let guest: NetnsGuest | undefined
  let dns: DnsServer | undefined
  const queries: Array<DnsQueryEvent> = []

  beforeAll(async () => {
    dns = await startDnsServer({ host: "127.0.0.1", records: { [NAME]: [ADDRESS] }, truncateOverUdp: [NAME], onQuery: (q) => void queries.push(q) })
    guest = await createNetnsGuest({ backend: { _tag: "TslirpStream" }, dnsUpstream: `127.0.0.1:${dns.port}` })
    await guest.configureStatic()
  }, 60_000)

  afterAll(async () => {
    await guest?.destroy()
    await dns?.close()
  })

  it("a truncated UDP answer makes the resolver retry over TCP, and the TCP query reaches the upstream over TCP", async () => {
    const g = guest!
    const r = await g.exec([NODE, "-e", RESOLVE, NAME], { timeoutMs: 30_000 })
    expect(r.code, `${describeResult(r)}\n${g.diagnostics()}`).toBe(0)
    expect(JSON.parse(r.stdout.trim())).toEqual([ADDRESS])
    const seen = queries.filter((q) => q.name === NAME).map((q) => [q.transport, q.truncated])
    expect(seen).toEqual([
      ["udp", true],
      ["tcp", false],
    ])
  }, 40_000)
})
