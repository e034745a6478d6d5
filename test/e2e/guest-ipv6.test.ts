/**
 * A real Linux guest (Debian 6.1 kernel, busybox, e1000 NIC, QEMU TCG) on IPv6 only (issue 10's
 * end-to-end checks): the kernel configures fec0::/64 by SLAAC from the router advertisement,
 * the advertisement's RDNSS names the DNS address (read by scripts/guest/ra-info.c, since
 * busybox has no RA client), `ping6 fec0::2` is answered, `wget` of a file from an HTTP server
 * on the host's ::1 through http://[fec0::2]:PORT/ arrives intact (sha256), and `nslookup` of an
 * AAAA record through the DNS address the RDNSS gave reaches the test's DNS server.
 *
 * The same checks run against QEMU's libslirp (`-netdev user,ipv6=on`) first, as the reference
 * that shows the harness and the checks are right, then against tslirp's CLI. libslirp puts
 * RDNSS in its RA, and answers on fec0::3, only when the host's resolv.conf has an IPv6
 * nameserver; the run's namespace has an IPv4 one (the test's server on 127.0.0.1), so for
 * the reference the RA is checked without RDNSS and the AAAA lookup is asserted for tslirp only.
 */
import { beforeAll, describe, expect, it } from "vitest"
import { guestBudgetMs, type GuestCheck } from "../support/guest.ts"
import { guestPayload, sha256Hex } from "../support/guest-payload.ts"
import { explain, runGuestScenario, type GuestBackend, type GuestRunResult, finishedCheck } from "../support/guest-scenario.ts"
import type { GuestServicesConfig } from "../support/guest-services.ts"

const GATEWAY6 = "fec0::2"
const DNS6 = "fec0::3"
/** SLAAC's EUI-64 address of QEMU's default MAC 52:54:00:12:34:56 in fec0::/64. */
const GUEST6 = "fec0::5054:ff:fe12:3456"
const HTTP_PORT = 8080
const DOWNLOAD = { path: "/4MiB.bin", size: 4 << 20, seed: 0x6606 }
const NAME = "six.tslirp.test"
const NAME_ADDRESS6 = "2001:db8::77"

const services: GuestServicesConfig = {
  dns: { port: 53, records: { [NAME]: [NAME_ADDRESS6, "192.0.2.66"] } },
  http: { port: HTTP_PORT, host: "::1", files: { [DOWNLOAD.path]: { size: DOWNLOAD.size, seed: DOWNLOAD.seed } } },
}

const checks: ReadonlyArray<GuestCheck> = [
  {
    // The kernel sends its RS when eth0 comes up; wait for the global address to leave DAD.
    name: "slaac",
    timeoutSec: 40,
    shell:
      "i=0; while [ $i -lt 300 ]; do a=$(ip -6 addr show dev eth0); case \"$a\" in *'inet6 fec0:'*) case \"$a\" in *tentative*) ;; *) break ;; esac ;; esac; usleep 100000; i=$((i + 1)); done; " +
      "ip -6 addr show dev eth0; ip -6 route show",
  },
  { name: "rdnss", timeoutSec: 30, shell: "/lib/tslirp/ra-info eth0 15" },
  { name: "ping6-gateway", timeoutSec: 40, shell: `ping6 -c 3 -W 5 ${GATEWAY6}` },
  {
    name: "wget6",
    timeoutSec: 180,
    shell: `wget -q -O /tmp/down http://[${GATEWAY6}]:${HTTP_PORT}${DOWNLOAD.path} && sha256sum /tmp/down && rm /tmp/down`,
  },
  {
    name: "dns-aaaa",
    timeoutSec: 40,
    shell: `dns=$(/lib/tslirp/ra-info eth0 15 | sed -n 's/^rdnss \\([^ ]*\\) .*/\\1/p' | head -n 1); echo "dns=$dns"; [ -n "$dns" ] && nslookup -type=aaaa ${NAME} "$dns"`,
  },
]

const suite = (backend: GuestBackend, title: string): void => {
  describe(title, () => {
    let run: GuestRunResult

    beforeAll(async () => {
      run = await runGuestScenario({ label: "ipv6", backend, services, checks, ...(backend === "libslirp" ? { libslirpOptions: ",ipv6=on" } : {}) })
      // runGuestScenario stops every process and removes its namespace itself: no afterAll.
    }, guestBudgetMs(checks) + 60_000)

    const check = (name: string) => finishedCheck(run, name)

    it("boots, runs every check, and powers off", () => {
      expect(run.setupError, explain(run)).toBeUndefined()
      expect(run.parsed.booted, `no boot marker\n${explain(run)}`).toBe(true)
      expect(run.parsed.errors, explain(run)).toEqual([])
      expect(run.timedOut, explain(run)).toBe(false)
      expect(run.parsed.checks.size, explain(run)).toBe(checks.length)
    })

    it(`SLAAC: the kernel configures ${GUEST6}/64 from the RA, default route via fe80::2`, () => {
      const result = check("slaac")
      const why = explain(run, "slaac")
      expect(result.output, why).toContain(`inet6 ${GUEST6}/64`)
      expect(result.output, why).not.toMatch(/tentative/)
      expect(result.output, why).toMatch(/default via fe80::2 dev eth0/)
    })

    it("RA: a solicitation is answered from fe80::2 with prefix fec0::/64 (on-link, autonomous)", () => {
      const result = check("rdnss")
      const why = explain(run, "rdnss")
      expect(result.rc, why).toBe(0)
      expect(result.output, why).toMatch(/^router fe80::2 /m)
      expect(result.output, why).toMatch(/^prefix fec0::\/64 flags=0xc0 /m)
    })

    if (backend === "tslirp") {
      it(`RDNSS: the router advertisement names ${DNS6} as the DNS server, and the link MTU`, () => {
        const result = check("rdnss")
        const why = explain(run, "rdnss")
        expect(result.output, why).toMatch(new RegExp(`^rdnss ${DNS6} lifetime=\\d+`, "m"))
        expect(result.output, why).toMatch(/^mtu 1500$/m)
      })
    } else {
      it("RDNSS: libslirp's RA carries none here (the host has no IPv6 nameserver)", () => {
        expect(check("rdnss").output, explain(run, "rdnss")).not.toMatch(/^rdnss /m)
      })
    }

    it(`ICMPv6: ping6 -c 3 ${GATEWAY6} gets 3 replies`, () => {
      const result = check("ping6-gateway")
      const why = explain(run, "ping6-gateway")
      expect(result.rc, why).toBe(0)
      expect(result.output, why).toMatch(/3 packets transmitted, 3 packets received/)
    })

    it(`TCP over IPv6: wget of ${DOWNLOAD.size >> 20} MiB from the host's ::1 through http://[${GATEWAY6}]:${HTTP_PORT}/ arrives intact`, () => {
      const result = check("wget6")
      const why = explain(run, "wget6")
      expect(result.rc, why).toBe(0)
      expect(result.output, why).toContain(sha256Hex(guestPayload(DOWNLOAD.size, DOWNLOAD.seed)))
      const served = run.events.filter((e) => e.type === "http" && e.path === DOWNLOAD.path && e.status === 200)
      expect(served.length, `the host's HTTP server on ::1 served nothing\n${why}`).toBeGreaterThan(0)
      expect(served.every((e) => e.type === "http" && e.from.startsWith("::1:")), why).toBe(true)
    })

    if (backend === "tslirp") {
      it(`DNS over IPv6: nslookup -type=aaaa ${NAME} through the RDNSS address ${DNS6} gets ${NAME_ADDRESS6} from the test's server`, () => {
        const result = check("dns-aaaa")
        const why = explain(run, "dns-aaaa")
        expect(result.output, why).toContain(`dns=${DNS6}`)
        expect(result.rc, why).toBe(0)
        expect(result.output, why).toMatch(new RegExp(`Name:\\s+${NAME.replace(/\./g, "\\.")}\\s+Address:\\s+${NAME_ADDRESS6}`))
        const asked = run.events.filter((e) => e.type === "dns" && e.name === NAME && e.qtype === 28)
        expect(asked.length, `the test's DNS server saw no AAAA query for ${NAME}\n${why}`).toBeGreaterThan(0)
      })
    }
  })
}

suite("libslirp", "guest IPv6 reference: QEMU -netdev user,ipv6=on (libslirp)")
suite("tslirp", "guest IPv6: QEMU -netdev stream to the tslirp CLI")
