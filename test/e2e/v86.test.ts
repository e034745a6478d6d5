/**
 * tslirp's first embedder: Linux (Debian's i386 6.1 kernel, busybox) in the v86 emulator, its
 * virtio-net card joined to a NodeStack in this same process (examples/v86). The guest takes
 * its DHCP lease, resolves a name through 10.0.2.3 (answered by the test's own DNS server on
 * 127.0.0.1, the stack's explicit upstream), downloads a generated file by that name over HTTP
 * from 127.0.0.1 (through 10.0.2.2) and checks its sha256, and uploads random bytes to a TCP
 * sink on 127.0.0.1, whose sha256 the host compares with the one the guest printed.
 *
 * Needs the i386 guest (scripts/guest-i386/build.sh: Debian with the i386 architecture and the
 * seabios package, as .ci/run sets up); it builds on first use and is cached.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { beforeAll, describe, expect, it } from "vitest"
import type { GuestCheck } from "../support/guest.ts"
import { guestPayload, sha256Hex } from "../support/guest-payload.ts"
import { NODE, type GuestServicesConfig } from "../support/guest-services.ts"
import { explainV86, runV86Guest, v86RunBudgetMs, type V86RunResult } from "../support/v86-guest.ts"

const GATEWAY = "10.0.2.2"
const DNS = "10.0.2.3"
const GUEST = "10.0.2.15"
// The name points at the gateway, so the download below goes through the resolver too.
const NAME = "files.v86.tslirp.test"
const DOWNLOAD = { path: "/8MiB.bin", size: 8 << 20, seed: 0x0086 }
const UPLOAD_BYTES = 4 << 20

const services: GuestServicesConfig = {
  dns: { port: 0, records: { [NAME]: [GATEWAY] } },
  http: { port: 0, files: { [DOWNLOAD.path]: { size: DOWNLOAD.size, seed: DOWNLOAD.seed } } },
  tcpSink: { port: 0 },
}

// Measured on a 2-CPU machine at load 8: the 8 MiB wget took 5.3 s and its sha256 2.5 s; the
// 4 MiB upload took 8.8 s after a 0.6 s sha256. The limits leave ample room for a slower run.
const checks = (ports: Readonly<Record<string, number>>): ReadonlyArray<GuestCheck> => [
  { name: "dhcp", timeoutSec: 60, shell: "udhcpc -i eth0 -f -q -n -t 6 -T 3 -s /lib/tslirp/udhcpc.script" },
  { name: "dns", timeoutSec: 30, shell: `nslookup ${NAME} ${DNS}` },
  {
    name: "download",
    timeoutSec: 240,
    shell: `wget -q -O /tmp/down http://${NAME}:${ports["http"]}${DOWNLOAD.path} && sha256sum /tmp/down && rm /tmp/down`,
  },
  {
    name: "upload",
    timeoutSec: 240,
    shell: `head -c ${UPLOAD_BYTES} /dev/urandom >/tmp/up && echo "sent=$(sha256sum </tmp/up | cut -d' ' -f1)" && nc ${GATEWAY} ${ports["tcpSink"]} </tmp/up`,
  },
]

// The budget does not depend on the ports, only on the checks' limits.
const BUDGET_MS = v86RunBudgetMs(checks({}))

describe("v86 guest with tslirp in the same process (examples/v86)", () => {
  let run: V86RunResult

  beforeAll(async () => {
    run = await runV86Guest({ services, checks })
  }, BUDGET_MS + 60_000)

  const check = (name: string) => {
    const result = run.parsed.checks.get(name)
    expect(result, `check ${name} did not finish\n${explainV86(run, name)}`).toBeDefined()
    return result!
  }

  it("boots, runs every check, and reaches the end of its script", () => {
    expect(run.setupError, explainV86(run)).toBeUndefined()
    expect(run.parsed.booted, `no boot marker\n${explainV86(run)}`).toBe(true)
    expect(run.parsed.kernel, explainV86(run)).toMatch(/^6\.1\.0-\d+-686$/)
    expect(run.parsed.errors, explainV86(run)).toEqual([])
    expect(run.timedOut, explainV86(run)).toBe(false)
    expect(run.endRc, `script did not finish\n${explainV86(run)}`).toBe(0)
  })

  it(`DHCP: udhcpc gets ${GUEST}, router ${GATEWAY}, DNS ${DNS} from tslirp`, () => {
    const result = check("dhcp")
    const why = explainV86(run, "dhcp")
    expect(result.rc, why).toBe(0)
    const lease = run.parsed.leases.find((l) => l["event"] === "bound")
    expect(lease, `no bound lease\n${why}`).toBeDefined()
    expect(lease?.["ip"], why).toBe(GUEST)
    expect(lease?.["mask"], why).toBe("24")
    expect(lease?.["router"], why).toBe(GATEWAY)
    expect(lease?.["dns"], why).toBe(DNS)
    expect(lease?.["serverid"], why).toBe(GATEWAY)
  })

  it(`DNS: ${NAME} through ${DNS} is answered by the test's server on 127.0.0.1`, () => {
    const result = check("dns")
    const why = explainV86(run, "dns")
    expect(result.rc, why).toBe(0)
    expect(result.output, why).toMatch(new RegExp(`Name:\\s+${NAME.replace(/\./g, "\\.")}\\s+Address:\\s+${GATEWAY.replace(/\./g, "\\.")}`))
    const asked = run.events.filter((e) => e.type === "dns" && e.name === NAME && e.qtype === 1 && e.from.startsWith("127.0.0.1:"))
    expect(asked.length, `the test's DNS server saw no A query for ${NAME}\n${why}`).toBeGreaterThan(0)
  })

  it(`HTTP: ${DOWNLOAD.size >> 20} MiB from the host's 127.0.0.1, fetched by name, arrive intact`, () => {
    const result = check("download")
    const why = explainV86(run, "download")
    expect(result.rc, why).toBe(0)
    expect(result.output, why).toContain(sha256Hex(guestPayload(DOWNLOAD.size, DOWNLOAD.seed)))
    const served = run.events.filter((e) => e.type === "http" && e.path === DOWNLOAD.path && e.status === 200 && e.from.startsWith("127.0.0.1:"))
    expect(served.length, `the host's HTTP server served no ${DOWNLOAD.path}\n${why}`).toBe(1)
  })

  it(`upload: ${UPLOAD_BYTES >> 20} MiB from the guest reach the host's TCP sink intact`, () => {
    const result = check("upload")
    const why = explainV86(run, "upload")
    expect(result.rc, why).toBe(0)
    const sent = /sent=([0-9a-f]{64})/.exec(result.output)?.[1]
    expect(sent, `the guest printed no sha256\n${why}`).toBeDefined()
    const received = run.events.flatMap((e) => (e.type === "tcp-sink" && e.bytes === UPLOAD_BYTES ? [e.sha256] : []))
    expect(received, why).toEqual([sent])
  })
})

// The example's command line as a user starts it. Booting it again would double this file's
// time, so this only shows that it loads (its imports, tslirp's among them, resolve) and
// refuses a bad option with its usage line, before it builds or boots anything.
describe("examples/v86/run.ts", () => {
  it("refuses --memory 7 with its usage line and exit status 2", () => {
    const run = fileURLToPath(new URL("../../examples/v86/run.ts", import.meta.url))
    const result = spawnSync(NODE, [run, "--memory", "7"], { encoding: "utf8", timeout: 60_000 })
    const why = `status ${result.status}, signal ${result.signal}\n${result.stdout}\n${result.stderr}`
    expect(result.status, why).toBe(2)
    expect(result.stderr, why).toMatch(/--memory must be an integer MiB in 64\.\.2048/)
    expect(result.stderr, why).toMatch(/^usage: node examples\/v86\/run\.ts/m)
  }, 90_000)
})
