/**
 * A real Linux guest (Debian 6.1 kernel, busybox, e1000 NIC, QEMU TCG) on IPv4 without TCP:
 * DHCP lease, ping to the gateway, DNS through the DNS address to a server this test runs,
 * and a plain UDP exchange (TFTP) with a host service on 127.0.0.1 through the gateway address.
 *
 * The same checks run twice: first with QEMU's own `-netdev user` (libslirp) as the reference,
 * which shows the harness and the checks are right, then with tslirp's CLI on `-netdev stream`.
 * Each run has its own network namespace with only loopback (guest-scenario.ts), so nothing
 * reaches the outside world and no real nameserver is ever asked.
 *
 * Adding a check: append to `checks` (a shell snippet for busybox in the guest) and add an
 * `it` that reads its result; host services (HTTP, TCP sink) are in guest-services.ts.
 */
import { beforeAll, describe, expect, it } from "vitest"
import type { GuestCheck } from "../support/guest.ts"
import { guestBudgetMs } from "../support/guest.ts"
import { explain, runGuestScenario, type GuestBackend, type GuestRunResult, finishedCheck } from "../support/guest-scenario.ts"
import type { GuestServicesConfig } from "../support/guest-services.ts"

const GATEWAY = "10.0.2.2"
const DNS = "10.0.2.3"
const GUEST = "10.0.2.15"
const NAME = "e2e.tslirp.test"
const NAME_ADDRESS = "192.0.2.77"
const ABSENT = "absent.tslirp.test"
const TFTP_PORT = 6969
const UDP_TEXT = "hello over UDP from the host's 127.0.0.1, via the gateway address"

const services: GuestServicesConfig = {
  dns: { port: 53, records: { [NAME]: [NAME_ADDRESS] } },
  tftp: { port: TFTP_PORT, files: { "hello.txt": `${UDP_TEXT}\n` } },
}

const checks: ReadonlyArray<GuestCheck> = [
  { name: "dhcp", timeoutSec: 40, shell: "udhcpc -i eth0 -f -q -n -t 6 -T 3 -s /lib/tslirp/udhcpc.script" },
  { name: "ping-gateway", timeoutSec: 30, shell: `ping -c 3 -W 5 ${GATEWAY}` },
  { name: "dns-a", timeoutSec: 30, shell: `nslookup ${NAME} ${DNS}` },
  { name: "dns-nxdomain", timeoutSec: 30, shell: `nslookup ${ABSENT} ${DNS}` },
  { name: "udp-gateway", timeoutSec: 30, shell: `tftp -g -r hello.txt -l /tmp/hello.txt ${GATEWAY} ${TFTP_PORT} && cat /tmp/hello.txt` },
]

const suite = (backend: GuestBackend, title: string): void => {
  describe(title, () => {
    let run: GuestRunResult

    beforeAll(async () => {
      run = await runGuestScenario({ label: "ipv4", backend, services, checks })
      // runGuestScenario stops every process and removes its namespace itself: no afterAll.
    }, guestBudgetMs(checks) + 60_000)

    const check = (name: string) => finishedCheck(run, name)

    it("boots, runs every check, and powers off", () => {
      expect(run.setupError, explain(run)).toBeUndefined()
      expect(run.parsed.booted, `no boot marker\n${explain(run)}`).toBe(true)
      expect(run.parsed.errors, explain(run)).toEqual([])
      expect(run.parsed.endRc, `script did not finish\n${explain(run)}`).toBe(0)
      expect(run.timedOut, explain(run)).toBe(false)
    })

    it(`DHCP: udhcpc gets ${GUEST}, router ${GATEWAY}, DNS ${DNS}`, () => {
      const result = check("dhcp")
      const why = explain(run, "dhcp")
      expect(result.rc, why).toBe(0)
      const lease = run.parsed.leases.find((l) => l["event"] === "bound")
      expect(lease, `no bound lease\n${why}`).toBeDefined()
      expect(lease?.["ip"], why).toBe(GUEST)
      expect(lease?.["mask"], why).toBe("24")
      expect(lease?.["router"], why).toBe(GATEWAY)
      expect(lease?.["dns"], why).toBe(DNS)
      expect(lease?.["serverid"], why).toBe(GATEWAY)
    })

    it(`ICMP: ping -c 3 ${GATEWAY} gets 3 replies`, () => {
      const result = check("ping-gateway")
      const why = explain(run, "ping-gateway")
      expect(result.rc, why).toBe(0)
      expect(result.output, why).toMatch(/3 packets transmitted, 3 packets received/)
      expect(result.output, why).toMatch(new RegExp(`bytes from ${GATEWAY.replace(/\./g, "\\.")}`))
    })

    it(`DNS: nslookup ${NAME} ${DNS} is answered by the test's server with ${NAME_ADDRESS}`, () => {
      const result = check("dns-a")
      const why = explain(run, "dns-a")
      expect(result.rc, why).toBe(0)
      expect(result.output, why).toMatch(new RegExp(`Name:\\s+${NAME.replace(/\./g, "\\.")}\\s+Address:\\s+${NAME_ADDRESS.replace(/\./g, "\\.")}`))
      const asked = run.events.filter((e) => e.type === "dns" && e.name === NAME && e.qtype === 1 && e.transport === "udp")
      expect(asked.length, `the test's DNS server saw no A query for ${NAME}\n${why}`).toBeGreaterThan(0)
    })

    it(`DNS: nslookup ${ABSENT} reports NXDOMAIN from the test's server`, () => {
      const result = check("dns-nxdomain")
      const why = explain(run, "dns-nxdomain")
      expect(result.output, why).toMatch(new RegExp(`can't find ${ABSENT.replace(/\./g, "\\.")}: NXDOMAIN`))
      const asked = run.events.filter((e) => e.type === "dns" && e.name === ABSENT && e.rcode === 3)
      expect(asked.length, `the test's DNS server saw no query for ${ABSENT}\n${why}`).toBeGreaterThan(0)
    })

    it(`UDP: a TFTP read from ${GATEWAY}:${TFTP_PORT} reaches the host's 127.0.0.1 and comes back`, () => {
      const result = check("udp-gateway")
      const why = explain(run, "udp-gateway")
      expect(result.rc, why).toBe(0)
      expect(result.output, why).toContain(UDP_TEXT)
      const requests = run.events.filter((e) => e.type === "tftp" && e.kind === "rrq" && e.file === "hello.txt")
      expect(requests.length, `the host's TFTP server saw no request\n${why}`).toBeGreaterThan(0)
      expect(requests.every((e) => e.type === "tftp" && e.from.startsWith("127.0.0.1:")), why).toBe(true)
      const done = run.events.filter((e) => e.type === "tftp" && e.kind === "done")
      expect(done.length, `the guest never acknowledged the data\n${why}`).toBeGreaterThan(0)
    })
  })
}

suite("libslirp", "guest IPv4 reference: QEMU -netdev user (libslirp)")
suite("tslirp", "guest IPv4: QEMU -netdev stream to the tslirp CLI")
