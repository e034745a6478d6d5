/**
 * The QEMU options on tslirp's ready line work as pasted: for each kind of guest link, QEMU is
 * started with exactly those options (plus a machine that network-boots), and the e1000's iPXE
 * ROM gets its DHCP lease from tslirp. Needs qemu-system-x86 (test/support/requirements.ts).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createSocket } from "node:dgram"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { CliProcess } from "../../integration/runtime/cli-process.ts"

const dir = mkdtempSync(join(tmpdir(), "tslirp-paste-"))
const children: Array<ChildProcess> = []
const clis: Array<CliProcess> = []
afterEach(async () => {
  for (const c of children.splice(0)) c.kill("SIGKILL")
  await Promise.all(clis.splice(0).map((c) => c.stop("SIGTERM")))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const freeUdpPort = async (): Promise<number> => {
  const s = createSocket("udp4")
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()))
  const port = s.address().port
  s.close()
  return port
}

/** Starts tslirp, pastes its ready line's QEMU options into QEMU, waits for the lease. */
const pasteAndBoot = async (args: ReadonlyArray<string>): Promise<string> => {
  const cli = new CliProcess([...args, "--dns-upstream", "none", "--log-level", "info"])
  clis.push(cli)
  const [, options] = await cli.waitFor(/^tslirp: ready on \S+ \(QEMU: (.*)\)$/m)
  const q = spawn("qemu-system-x86_64", ["-accel", "tcg", "-m", "128", "-boot", "n", "-display", "none", "-serial", "none", "-monitor", "none", ...options!.split(" ")], {
    stdio: ["ignore", "ignore", "pipe"],
  })
  children.push(q)
  await cli.waitFor(/info: guest=\S+ dhcp: lease 10\.0\.2\.15 to 52:54:00:12:34:56/, "stderr", 50_000)
  return options!
}

describe("the ready line's QEMU options, pasted into QEMU", () => {
  it("--socket: -netdev stream over the unix socket", { timeout: 60_000 }, async () => {
    const path = join(dir, "p.sock")
    expect(await pasteAndBoot(["--socket", path])).toContain(`addr.path=${path}`)
  })

  it("--listen 127.0.0.1:0: -netdev stream over TCP, with the port the listener got", { timeout: 60_000 }, async () => {
    expect(await pasteAndBoot(["--listen", "127.0.0.1:0"])).toMatch(/addr\.port=[1-9]\d*/)
  })

  it("--udp: -netdev dgram with the two ends swapped", { timeout: 60_000 }, async () => {
    const ours = await freeUdpPort()
    const qemus = await freeUdpPort()
    expect(await pasteAndBoot(["--udp", `127.0.0.1:${ours},127.0.0.1:${qemus}`])).toContain(`local.port=${qemus}`)
  })
})
