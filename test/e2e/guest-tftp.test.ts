/**
 * Network boot with a real Linux guest (busybox, e1000, QEMU TCG) on the tslirp CLI started with
 * `--tftp DIR --bootfile NAME --tftp-server-name NAME`: DHCP hands out the boot file, the TFTP
 * server name and the gateway as next server; busybox `tftp -g` fetches the boot file by the name
 * DHCP gave, and a larger file with `-b 1428` (blksize), each checked by sha256 against the host's
 * copy; a symlink out of DIR, a `..` name and a write are refused with TFTP errors.
 *
 * The directory is made here: boot/kernel.img and big.bin of random bytes, link-out a symlink
 * to a file beside DIR. Only tslirp runs (libslirp's own TFTP is not the point here); the
 * guest's network namespace has loopback only (guest-scenario.ts).
 */
import { createHash, randomBytes } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { GuestCheck } from "../support/guest.ts"
import { guestBudgetMs } from "../support/guest.ts"
import { explain, runGuestScenario, type GuestRunResult, finishedCheck } from "../support/guest-scenario.ts"

const GATEWAY = "10.0.2.2"
const BOOTFILE = "boot/kernel.img"
const SERVER_NAME = "tftp.tslirp.test"
const BIG_BYTES = 1_500_000
const SECRET = "outside the TFTP root"

const base = mkdtempSync(join(tmpdir(), "tslirp-e2e-tftp-"))
const root = join(base, "root")
mkdirSync(join(root, "boot"), { recursive: true })
mkdirSync(join(base, "outside"))
const kernel = randomBytes(300_000)
const big = randomBytes(BIG_BYTES)
writeFileSync(join(root, BOOTFILE), kernel)
writeFileSync(join(root, "big.bin"), big)
writeFileSync(join(base, "outside", "secret"), SECRET)
symlinkSync(join(base, "outside", "secret"), join(root, "link-out"))
afterAll(() => rmSync(base, { recursive: true, force: true }))

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex")

/** udhcpc's own lease script, then the boot fields of the lease as one line; the boot file name is kept for the next check. */
const BOOT_SCRIPT = [
  "#!/bin/sh",
  '/lib/tslirp/udhcpc.script "$@"',
  'if [ "$1" = bound ]; then echo "@@boot siaddr=$siaddr sname=$sname file=$boot_file opt66=$tftp opt67=$bootfile"; echo "$boot_file" >/tmp/bootfile; fi',
  "exit 0",
].join("\\n")

/** Milliseconds around a command from /proc/uptime (10 ms steps), for the report (never asserted). */
const timed = (cmd: string): string =>
  `s=$(cat /proc/uptime) && ${cmd} && e=$(cat /proc/uptime) && awk -v s="\${s%% *}" -v e="\${e%% *}" 'BEGIN { printf "ms=%d\\n", (e - s) * 1000 }'`

const checks: ReadonlyArray<GuestCheck> = [
  { name: "dhcp", timeoutSec: 40, shell: `printf '${BOOT_SCRIPT}\\n' >/tmp/boot.sh && chmod +x /tmp/boot.sh && udhcpc -i eth0 -f -q -n -t 6 -T 3 -s /tmp/boot.sh` },
  { name: "tftp-bootfile", timeoutSec: 30, shell: `f=$(cat /tmp/bootfile) && ${timed(`tftp -g -r "$f" -l /tmp/kernel ${GATEWAY}`)} && sha256sum /tmp/kernel` },
  { name: "tftp-blksize", timeoutSec: 40, shell: `${timed(`tftp -g -b 1428 -r big.bin -l /tmp/big ${GATEWAY}`)} && sha256sum /tmp/big` },
  {
    name: "tftp-refused",
    timeoutSec: 30,
    shell: [
      `tftp -g -r link-out -l /tmp/x ${GATEWAY}; echo "symlink rc=$?"`,
      `tftp -g -r ../outside/secret -l /tmp/y ${GATEWAY}; echo "dotdot rc=$?"`,
      `tftp -p -l /tmp/kernel -r up.bin ${GATEWAY}; echo "put rc=$?"`,
      "ls /tmp/x /tmp/y 2>&1; true",
    ].join("; "),
  },
]

describe("guest network boot: tslirp --tftp, --bootfile, --tftp-server-name", () => {
  let run: GuestRunResult

  beforeAll(async () => {
    run = await runGuestScenario({ label: "tftp", backend: "tslirp", services: {}, checks, tslirpArgs: ["--tftp", root, "--bootfile", BOOTFILE, "--tftp-server-name", SERVER_NAME] })
  }, guestBudgetMs(checks) + 60_000)

  const check = (name: string) => finishedCheck(run, name)

  it("boots, runs every check, and powers off", () => {
    expect(run.setupError, explain(run)).toBeUndefined()
    expect(run.parsed.booted, `no boot marker\n${explain(run)}`).toBe(true)
    expect(run.parsed.errors, explain(run)).toEqual([])
    expect(run.parsed.endRc, `script did not finish\n${explain(run)}`).toBe(0)
    expect(run.timedOut, explain(run)).toBe(false)
  })

  it(`DHCP: next server ${GATEWAY}, boot file and TFTP server name in the header fields and options 66/67`, () => {
    const result = check("dhcp")
    const why = explain(run, "dhcp")
    expect(result.rc, why).toBe(0)
    expect(result.output, why).toContain(`@@boot siaddr=${GATEWAY} sname=${SERVER_NAME} file=${BOOTFILE} opt66=${SERVER_NAME} opt67=${BOOTFILE}`)
  })

  it("TFTP: the boot file DHCP named arrives whole (sha256 matches the host's file)", () => {
    const result = check("tftp-bootfile")
    const why = explain(run, "tftp-bootfile")
    expect(result.rc, why).toBe(0)
    expect(result.output, why).toContain(`${sha256(kernel)}  /tmp/kernel`)
    const ms = /ms=(\d+)/.exec(result.output)?.[1]
    if (ms !== undefined) console.log(`guest tftp (blksize 512) of ${kernel.length} bytes: ${ms} ms`)
  })

  it(`TFTP: ${BIG_BYTES} bytes with blksize 1428 arrive whole (sha256 matches)`, () => {
    const result = check("tftp-blksize")
    const why = explain(run, "tftp-blksize")
    expect(result.rc, why).toBe(0)
    expect(result.output, why).toContain(`${sha256(big)}  /tmp/big`)
    const ms = /ms=(\d+)/.exec(result.output)?.[1]
    if (ms !== undefined && Number(ms) > 0) console.log(`guest tftp -b 1428 of ${BIG_BYTES} bytes: ${ms} ms (${((BIG_BYTES * 8) / Number(ms) / 1000).toFixed(1)} Mbit/s)`)
  })

  it("TFTP: a symlink out of the root and a '..' name are refused (error 2), a write too; nothing is written", () => {
    const result = check("tftp-refused")
    const why = explain(run, "tftp-refused")
    expect(result.output, why).toMatch(/server error: \(2\) access violation[\s\S]*symlink rc=1/)
    expect(result.output, why).toMatch(/server error: \(2\) access violation[\s\S]*dotdot rc=1/)
    expect(result.output, why).toMatch(/server error: \(2\) read-only server[\s\S]*put rc=1/)
    expect(result.output, why).not.toContain(SECRET)
    expect(result.output, why).toMatch(/\/tmp\/x: No such file or directory/)
    expect(result.output, why).toMatch(/\/tmp\/y: No such file or directory/)
  })
})
