/**
 * A real Linux guest over TCP (issue 3's end-to-end checks): busybox `wget` of a 16 MiB file
 * from an HTTP server on the host's 127.0.0.1 (checked by sha256), 8 MiB from the guest to a
 * host TCP sink (sha256 on both ends), and many short connections in a row.
 *
 * The same checks run against tslirp and, as the reference that makes failures easy to read,
 * against QEMU's libslirp.
 */
import { createHash } from "node:crypto"
import { beforeAll, describe, expect, it } from "vitest"
import { guestBudgetMs, type GuestCheck } from "../support/guest.ts"
import { guestPayload, sha256Hex } from "../support/guest-payload.ts"
import { explain, runGuestScenario, type GuestBackend, type GuestRunResult } from "../support/guest-scenario.ts"
import type { GuestServicesConfig } from "../support/guest-services.ts"

const GATEWAY = "10.0.2.2"
const HTTP_PORT = 8080
const SINK_PORT = 9000
const DOWNLOAD = { path: "/16MiB.bin", size: 16 << 20, seed: 0x7151 }
const UPLOAD_BYTES = 8 << 20
const SHORT_CONNECTIONS = 50

const services: GuestServicesConfig = {
  http: { port: HTTP_PORT, files: { [DOWNLOAD.path]: { size: DOWNLOAD.size, seed: DOWNLOAD.seed } } },
  tcpSink: { port: SINK_PORT },
}

const checks: ReadonlyArray<GuestCheck> = [
  { name: "dhcp", timeoutSec: 40, shell: "udhcpc -i eth0 -f -q -n -t 6 -T 3 -s /lib/tslirp/udhcpc.script" },
  { name: "wget-16MiB", timeoutSec: 180, shell: `wget -q -O /tmp/down http://${GATEWAY}:${HTTP_PORT}${DOWNLOAD.path} && sha256sum /tmp/down && rm /tmp/down` },
  {
    name: "upload-8MiB",
    timeoutSec: 180,
    shell: `head -c ${UPLOAD_BYTES} /dev/urandom >/tmp/up && echo "sent=$(sha256sum </tmp/up | cut -d' ' -f1)" && nc ${GATEWAY} ${SINK_PORT} </tmp/up`,
  },
  {
    name: "short-connections",
    timeoutSec: 120,
    shell: `i=0; while [ $i -lt ${SHORT_CONNECTIONS} ]; do echo conn-$i | nc ${GATEWAY} ${SINK_PORT} || exit 1; i=$((i + 1)); done; echo done=$i`,
  },
]

const sha256OfText = (text: string): string => createHash("sha256").update(text).digest("hex")

const suite = (backend: GuestBackend, title: string): void => {
  describe(title, () => {
    let run: GuestRunResult

    beforeAll(async () => {
      run = await runGuestScenario({ label: "tcp", backend, services, checks })
      // runGuestScenario stops every process and removes its namespace itself: no afterAll.
    }, guestBudgetMs(checks) + 60_000)

    const check = (name: string) => {
      const result = run.parsed.checks.get(name)
      expect(result, `check ${name} did not finish\n${explain(run, name)}`).toBeDefined()
      return result!
    }
    const sinkEvents = () => run.events.flatMap((e) => (e.type === "tcp-sink" ? [e] : []))

    it("boots, gets a lease, runs every check, and powers off", () => {
      expect(run.setupError, explain(run)).toBeUndefined()
      expect(run.parsed.errors, explain(run)).toEqual([])
      expect(check("dhcp").rc, explain(run, "dhcp")).toBe(0)
      expect(run.parsed.endRc, `script did not finish\n${explain(run)}`).toBe(0)
    })

    it(`wget of a 16 MiB file from the host's 127.0.0.1 (via ${GATEWAY}) arrives intact`, () => {
      const result = check("wget-16MiB")
      const why = explain(run, "wget-16MiB")
      expect(result.rc, why).toBe(0)
      expect(result.output, why).toContain(sha256Hex(guestPayload(DOWNLOAD.size, DOWNLOAD.seed)))
    })

    it("8 MiB from the guest reach the host's TCP sink intact", () => {
      const result = check("upload-8MiB")
      const why = explain(run, "upload-8MiB")
      expect(result.rc, why).toBe(0)
      const sent = /sent=([0-9a-f]{64})/.exec(result.output)?.[1]
      expect(sent, `the guest printed no sha256\n${why}`).toBeDefined()
      const received = sinkEvents().filter((e) => e.bytes === UPLOAD_BYTES)
      expect(received.map((e) => e.sha256), why).toEqual([sent])
    })

    it(`${SHORT_CONNECTIONS} short connections in a row each deliver their line`, () => {
      const result = check("short-connections")
      const why = explain(run, "short-connections")
      expect(result.rc, why).toBe(0)
      const hashes = new Set(sinkEvents().map((e) => e.sha256))
      const missing = Array.from({ length: SHORT_CONNECTIONS }, (_, i) => `conn-${i}\n`).filter((line) => !hashes.has(sha256OfText(line)))
      expect(missing, why).toEqual([])
    })
  })
}

suite("libslirp", "guest TCP reference: QEMU -netdev user (libslirp)")
suite("tslirp", "guest TCP: QEMU -netdev stream to the tslirp CLI")
