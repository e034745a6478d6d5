/**
 * A real Linux guest over TCP (issue 3's end-to-end checks): busybox `wget` of a 16 MiB file
 * from an HTTP server on the host's 127.0.0.1 (checked by sha256), 8 MiB from the guest to a
 * host TCP sink (sha256 on both ends), and many short connections in a row.
 *
 * The same checks run against tslirp and, as the reference that makes failures easy to read,
 * against QEMU's libslirp.
 *
 * The tslirp run is also recorded (`--record --record-effects`, issue 12) with a ping and a DNS
 * lookup besides the TCP traffic: `tslirp replay --verify` must reproduce every effect the live
 * stack returned byte for byte, and `--until` prints the state at a point of the session.
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { guestBudgetMs, type GuestCheck } from "../support/guest.ts"
import { guestPayload, sha256Hex } from "../support/guest-payload.ts"
import { explain, runGuestScenario, type GuestBackend, type GuestRunResult, finishedCheck } from "../support/guest-scenario.ts"
import { NODE, type GuestServicesConfig } from "../support/guest-services.ts"
import { TSLIRP_CLI } from "../support/guest-tslirp.ts"

const GATEWAY = "10.0.2.2"
const HTTP_PORT = 8080
const SINK_PORT = 9000
const DOWNLOAD = { path: "/16MiB.bin", size: 16 << 20, seed: 0x7151 }
const UPLOAD_BYTES = 8 << 20
const SHORT_CONNECTIONS = 50

const NAME = "record.tslirp.test"
const NAME_ADDRESS = "192.0.2.78"

const services: GuestServicesConfig = {
  dns: { port: 53, records: { [NAME]: [NAME_ADDRESS] } },
  http: { port: HTTP_PORT, files: { [DOWNLOAD.path]: { size: DOWNLOAD.size, seed: DOWNLOAD.seed } } },
  tcpSink: { port: SINK_PORT },
}

const checks: ReadonlyArray<GuestCheck> = [
  { name: "dhcp", timeoutSec: 40, shell: "udhcpc -i eth0 -f -q -n -t 6 -T 3 -s /lib/tslirp/udhcpc.script" },
  { name: "ping-gateway", timeoutSec: 30, shell: `ping -c 2 -W 5 ${GATEWAY}` },
  { name: "dns-a", timeoutSec: 30, shell: `nslookup ${NAME} 10.0.2.3` },
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

    // The tslirp run is recorded with its live effects (issue 12).
    const recordDir = backend === "tslirp" ? mkdtempSync(join(tmpdir(), "tslirp-record-")) : undefined
    const recording = recordDir === undefined ? undefined : join(recordDir, "guest.tsrec")
    const tslirpArgs = recording === undefined ? [] : ["--record", recording, "--record-effects"]

    beforeAll(async () => {
      run = await runGuestScenario({ label: "tcp", backend, services, checks, tslirpArgs })
      // runGuestScenario stops every process and removes its namespace itself: no afterAll.
    }, guestBudgetMs(checks) + 60_000)
    afterAll(() => {
      if (recordDir !== undefined) rmSync(recordDir, { recursive: true, force: true })
    })

    const check = (name: string) => finishedCheck(run, name)
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

    it(`ping and DNS: ${GATEWAY} answers, ${NAME} resolves through 10.0.2.3`, () => {
      expect(check("ping-gateway").output, explain(run, "ping-gateway")).toMatch(/2 packets transmitted, 2 packets received/)
      expect(check("dns-a").output, explain(run, "dns-a")).toContain(NAME_ADDRESS)
    })

    if (recording !== undefined) {
      const replay = (...args: ReadonlyArray<string>) => spawnSync(NODE, [TSLIRP_CLI, "replay", recording, ...args], { encoding: "utf8", maxBuffer: 64 << 20, timeout: 300_000 })

      it("the recording replays to every effect of the live stack, byte for byte (replay --verify)", () => {
        expect(statSync(recording).size, explain(run)).toBeGreaterThan(24 << 20)
        const r = replay("--verify")
        const why = `${r.stdout}\n${r.stderr}`
        expect(r.status, why).toBe(0)
        const verified = Number(/verified: the effects of all (\d+) events/.exec(r.stdout)?.[1])
        expect(verified, why).toBeGreaterThan(5_000)
        // The summary names what the guest did.
        expect(r.stdout, why).toMatch(/DHCP leases: 1\n\s+lease 10\.0\.2\.15 to /)
        expect(r.stdout, why).toContain(`${NAME} A: 1 answer(s)`)
        const down = [...r.stdout.matchAll(new RegExp(`-> 127\\.0\\.0\\.1:${HTTP_PORT}: \\d+ bytes up, (\\d+) bytes down`, "g"))].map((m) => Number(m[1]))
        expect(down.length, why).toBe(1)
        expect(down[0], why).toBeGreaterThan(DOWNLOAD.size)
        expect(r.stdout, why).toMatch(new RegExp(`-> 127\\.0\\.0\\.1:${SINK_PORT}: ${UPLOAD_BYTES} bytes up`))
      }, 600_000)

      it("replay --until N prints the stack's state after event N", () => {
        const r = replay("--until", "2000")
        const why = `${r.stdout}\n${r.stderr}`
        expect(r.status, why).toBe(0)
        expect(r.stdout, why).toContain("state after event 2000:")
        expect(r.stdout, why).toMatch(/DHCP leases: 10\.0\.2\.15 to 52:54:00:12:34:56 \(bound/)
        expect(r.stdout, why).toMatch(/ARP cache: 10\.0\.2\.15 at 52:54:00:12:34:56/)
      }, 300_000)
    }
  })
}

suite("libslirp", "guest TCP reference: QEMU -netdev user (libslirp)")
suite("tslirp", "guest TCP: QEMU -netdev stream to the tslirp CLI")
