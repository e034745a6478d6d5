/**
 * The e1000 adapter as a `-netdev stream` client of a separate `tslirp --socket PATH` process
 * (the real CLI, spawned here): the same Linux-style driver gets a DHCP lease, ARPs for the
 * gateway, pings it and downloads a file from an HTTP server on 127.0.0.1 (reached at 10.0.2.2),
 * with every frame crossing the unix socket in QEMU's 4-byte-length framing.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { attachE1000, connectStreamLink, type AttachedE1000 } from "../../../src/runtime/e1000/index.ts"
import { E1000Driver, ICR_RXT0 } from "./e1000-driver.ts"
import { GuestRam } from "./guest-ram.ts"
import { GuestNet } from "./guest-net.ts"
import { fmtIp, ip } from "./packets.ts"
import { TcpClient } from "./tcp-client.ts"

const ROOT = fileURLToPath(new URL("../../../", import.meta.url))
const NODE = `${ROOT}node_modules/.bin/node`
const MAIN = `${ROOT}src/runtime/cli/main.ts`

/** Starts `tslirp --socket path`; resolves once it prints its ready line. */
const startTslirp = (path: string): Promise<{ child: ChildProcess; output: () => string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(NODE, [MAIN, "--socket", path], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    const output = (): string => out
    const timer = setTimeout(() => reject(new Error(`tslirp printed no ready line within 20 s: ${out}`)), 20_000)
    const onData = (d: Buffer): void => {
      out += d.toString()
      if (/tslirp: ready on unix:/.test(out)) {
        clearTimeout(timer)
        resolve({ child, output })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`tslirp exited (${code}) before it was ready: ${out}`))
    })
  })

describe("e1000 as a -netdev stream client of a `tslirp --socket` process", () => {
  const dir = mkdtempSync(join(tmpdir(), "tslirp-e1000-"))
  const path = join(dir, "net.sock")
  let tslirp: { child: ChildProcess; output: () => string } | undefined
  let nic: AttachedE1000 | undefined
  let driver: E1000Driver | undefined
  let net: GuestNet | undefined
  let gatewayMac: Uint8Array | undefined
  const file = new Uint8Array(200_000).map((_, i) => (i * 7 + (i >>> 8)) & 0xff)
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "Content-Length": String(file.length), Connection: "close" })
    res.end(file)
  })

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    tslirp = await startTslirp(path)
  }, 30_000)

  afterAll(async () => {
    driver?.stop()
    nic?.close()
    const child = tslirp?.child
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it("brings the card up over the socket, gets a lease, ARPs and pings 10.0.2.2", async () => {
    const link = await connectStreamLink({ path })
    const ram = new GuestRam(4 * 1024 * 1024)
    nic = attachE1000({ memory: ram, link, onIrq: (level) => driver?.irqLine(level) })
    driver = new E1000Driver(nic, ram)
    net = new GuestNet(driver)
    await driver.bringUp()
    await driver.waitForLink()
    const lease = await net.dhcp(0x5eed0001)
    expect(fmtIp(lease.address)).toBe("10.0.2.15")
    gatewayMac = await net.arp(ip(10, 0, 2, 2))
    const payload = new TextEncoder().encode("over the stream socket")
    const { frame, data } = await net.ping(gatewayMac, ip(10, 0, 2, 2), 7, 1, payload)
    expect(new TextDecoder().decode(data)).toBe("over the stream socket")
    expect(frame.icr & ICR_RXT0).toBe(ICR_RXT0)
  }, 30_000)

  it("TCP: downloads 200 kB from 127.0.0.1 through the tslirp process", async () => {
    expect(gatewayMac).toBeDefined()
    const port = (server.address() as AddressInfo).port
    const tcp = new TcpClient(net!, gatewayMac!, 40321, ip(10, 0, 2, 2), port)
    await tcp.connect()
    await tcp.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"))
    const response = await tcp.readToEnd()
    await tcp.close()
    const head = new TextDecoder("latin1").decode(response.subarray(0, 512))
    const body = response.subarray(head.indexOf("\r\n\r\n") + 4)
    const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")
    expect(head.startsWith("HTTP/1.1 200")).toBe(true)
    expect(body.length).toBe(file.length)
    expect(sha(body)).toBe(sha(file))
    expect(nic!.rxDropped).toBe(0)
  }, 60_000)

  it("when tslirp goes away, the card's link goes down (LSC)", async () => {
    expect(driver?.linkUp).toBe(true)
    const lsc = driver!.stats.lscInterrupts
    const child = tslirp!.child
    const exited = new Promise((resolve) => child.once("exit", resolve))
    child.kill("SIGTERM")
    await exited
    for (let i = 0; i < 200 && driver!.linkUp; i++) await new Promise((r) => setTimeout(r, 10))
    expect(driver!.linkUp).toBe(false)
    for (let i = 0; i < 200 && driver!.stats.lscInterrupts === lsc; i++) await new Promise((r) => setTimeout(r, 10))
    expect(driver!.stats.lscInterrupts).toBeGreaterThan(lsc)
  }, 30_000)
})
