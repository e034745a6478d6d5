/**
 * QEMU itself on every guest link tslirp offers: the e1000's iPXE boot ROM (`-boot n`) runs
 * DHCP, so a lease in tslirp's log proves frames cross the link both ways with QEMU's own
 * framing. No guest image is needed. QEMU runs with TCG (no KVM here).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { createSocket } from "node:dgram"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { CliProcess } from "./cli-process.ts"

const QEMU = "qemu-system-x86_64"
const dir = mkdtempSync(join(tmpdir(), "tslirp-qemu-"))
const children: Array<ChildProcess> = []
const clis: Array<CliProcess> = []

beforeAll(() => {
  const v = spawnSync(QEMU, ["--version"], { encoding: "utf8" })
  if (v.error !== undefined) throw new Error(`${QEMU} is needed for this test (apt-get install -y qemu-system-x86): ${v.error.message}`)
})
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

const bootPxe = (netdev: string): ChildProcess => {
  const q = spawn(QEMU, ["-accel", "tcg", "-m", "128", "-boot", "n", "-display", "none", "-serial", "none", "-monitor", "none", "-netdev", netdev, "-device", "e1000,netdev=n"], {
    stdio: ["ignore", "ignore", "pipe"],
  })
  children.push(q)
  return q
}

const run = async (tslirpArgs: ReadonlyArray<string>, netdev: (ready: string) => string): Promise<CliProcess> => {
  const cli = new CliProcess([...tslirpArgs, "--dns-upstream", "127.0.0.1:1", "--log-level", "info"])
  clis.push(cli)
  const [ready] = await cli.waitFor(/ready on \S+/)
  bootPxe(netdev(ready))
  await cli.waitFor(/info: guest=\S+ dhcp: lease 10\.0\.2\.15 to 52:54:00:12:34:56/, "stderr", 50_000)
  return cli
}

describe("QEMU 7.2 e1000 + iPXE gets a DHCP lease over every tslirp link", () => {
  it("-netdev stream, unix socket (server=off)", { timeout: 60_000 }, async () => {
    const path = join(dir, "q.sock")
    const cli = await run(["--socket", path], () => `stream,id=n,server=off,addr.type=unix,addr.path=${path}`)
    expect(cli.stderr).toMatch(/guest=unix:\S+ guest connected/)
  })

  it("-netdev stream, inet (server=off)", { timeout: 60_000 }, async () => {
    await run(["--listen", "127.0.0.1:0"], (ready) => {
      const port = /:(\d+)$/.exec(ready)![1]
      return `stream,id=n,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=${port}`
    })
  })

  it("-netdev socket,connect= (the older form)", { timeout: 60_000 }, async () => {
    await run(["--listen", "127.0.0.1:0"], (ready) => `socket,id=n,connect=127.0.0.1:${/:(\d+)$/.exec(ready)![1]}`)
  })

  it("-netdev dgram (one frame per datagram)", { timeout: 60_000 }, async () => {
    const ours = await freeUdpPort()
    const qemus = await freeUdpPort()
    await run(
      ["--udp", `127.0.0.1:${ours},127.0.0.1:${qemus}`],
      () => `dgram,id=n,local.type=inet,local.host=127.0.0.1,local.port=${qemus},remote.type=inet,remote.host=127.0.0.1,remote.port=${ours}`,
    )
  })
})
