/**
 * The e1000 model joined to a tslirp stack in one process, driven by a TypeScript driver that
 * brings the card up the way Linux's e1000 driver does; the stack uses real host sockets on
 * loopback (an HTTP server on 127.0.0.1, reached from the guest at 10.0.2.2). Real time: the
 * card's autonegotiation (500 ms) and RCTL flush (1 s) timers run as host timers.
 */
import { createHash } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import { NodeStack } from "../../../src/runtime/embed/node-stack.ts"
import { attachE1000, type AttachedE1000 } from "../../../src/runtime/e1000/index.ts"
import { E1000Driver, ICR_RXT0 } from "./e1000-driver.ts"
import { GuestRam } from "./guest-ram.ts"
import { GuestNet } from "./guest-net.ts"
import { fmtIp, ip } from "./packets.ts"
import { TcpClient } from "./tcp-client.ts"

const GATEWAY = ip(10, 0, 2, 2)
const FILE_BYTES = 300_000

/** Deterministic file contents (no Math.random: a failure must be reproducible). */
const makeFile = (n: number): Uint8Array => {
  const out = new Uint8Array(n)
  let x = 0x12345678
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

describe("e1000 + tslirp stack in one process (Linux-style driver, real loopback sockets)", () => {
  const file = makeFile(FILE_BYTES)
  const logger = memoryLogger()
  let server: Server
  let port = 0
  let stack: NodeStack
  let nic: AttachedE1000
  let driver: E1000Driver
  let net: GuestNet
  let gatewayMac: Uint8Array | undefined

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url !== "/file") {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(file.length), Connection: "close" })
      res.end(file)
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    port = (server.address() as AddressInfo).port
    stack = new NodeStack({ seed: 7 }, { logger })
    const ram = new GuestRam(4 * 1024 * 1024)
    nic = attachE1000({ memory: ram, link: stack, onIrq: (level) => driver.irqLine(level), logger })
    // A small receive ring (32, Linux's default is 256): the stack's bursts outrun it, so the
    // adapter's hold queue and RDT-driven re-offers carry the download.
    driver = new E1000Driver(nic, ram, { rx: 32, tx: 64 })
    net = new GuestNet(driver)
  })

  afterAll(async () => {
    driver?.stop()
    nic?.close() // closes the stack: its host sockets and timers
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it("bring-up: PCI BARs, reset, MAC from the EEPROM (Microwire), rings, interrupts, link up with LSC", async () => {
    await driver.bringUp()
    expect(driver.bar0Size).toBe(0x20000)
    expect(driver.bar0).toBe(0xfebc0000)
    expect(Array.from(driver.mac)).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
    expect(driver.readEepromEerd(0)).toBe(driver.eepromWords[0])
    expect(driver.readEepromEerd(11)).toBe(0x100e) // device id word
    await driver.waitForLink()
    expect(driver.linkUp).toBe(true)
    expect(driver.stats.lscInterrupts).toBeGreaterThanOrEqual(1)
  })

  it("DHCP: DISCOVER/OFFER/REQUEST/ACK through the rings gives 10.0.2.15, router 10.0.2.2, DNS 10.0.2.3", async () => {
    const lease = await net.dhcp()
    expect(fmtIp(lease.address)).toBe("10.0.2.15")
    expect(fmtIp(lease.router ?? 0)).toBe("10.0.2.2")
    expect(fmtIp(lease.dns ?? 0)).toBe("10.0.2.3")
    expect(fmtIp(lease.mask ?? 0)).toBe("255.255.255.0")
  })

  it("ARP: the gateway 10.0.2.2 answers with its MAC", async () => {
    expect(net.address).not.toBe(0)
    gatewayMac = await net.arp(GATEWAY)
    expect(gatewayMac.length).toBe(6)
    expect(gatewayMac.every((b) => b === 0)).toBe(false)
  })

  it("ping 10.0.2.2: the echo reply comes back through the RX ring with an RXT0 interrupt", async () => {
    expect(gatewayMac).toBeDefined()
    const payload = new TextEncoder().encode("e1000 ping payload 0123456789abcdef0123456789abcdef")
    const before = driver.stats.rxInterrupts
    const { frame, data } = await net.ping(gatewayMac!, GATEWAY, 0x4242, 1, payload)
    expect(Array.from(data)).toEqual(Array.from(payload))
    expect(frame.icr & ICR_RXT0).toBe(ICR_RXT0)
    expect(driver.stats.rxInterrupts).toBeGreaterThan(before)
  })

  it("TCP: GET a 300 kB file from an HTTP server on 127.0.0.1, reached at 10.0.2.2", async () => {
    expect(gatewayMac).toBeDefined()
    const tcp = new TcpClient(net, gatewayMac!, 40123, GATEWAY, port)
    let response: Uint8Array
    try {
      await tcp.connect()
      await tcp.write(new TextEncoder().encode("GET /file HTTP/1.0\r\nHost: 10.0.2.2\r\n\r\n"))
      response = await tcp.readToEnd()
      await tcp.close()
    } catch (err) {
      // Say what the stack said about TCP (e.g. the placeholder layer dropping every segment).
      const said = [...new Set(logger.lines.filter((l) => l.message.startsWith("tcp")).map((l) => `${l.level}: ${l.message}`))]
      throw new Error(`${err instanceof Error ? err.message : String(err)}; the stack logged about TCP: ${said.slice(0, 5).join(" | ") || "nothing"}`)
    }
    const text = new TextDecoder("latin1").decode(response.subarray(0, Math.min(response.length, 1024)))
    const headerEnd = text.indexOf("\r\n\r\n")
    expect(headerEnd).toBeGreaterThan(0)
    expect(text.startsWith("HTTP/1.1 200")).toBe(true)
    const body = response.subarray(headerEnd + 4)
    expect(body.length).toBe(file.length)
    const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")
    expect(sha(body)).toBe(sha(file))
    expect(tcp.stats.badChecksums).toBe(0)
    expect(nic.rxDropped).toBe(0)
  }, 60_000)
})
