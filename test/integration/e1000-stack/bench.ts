// Throughput of the whole in-process path, for the record (not a test: no timing assertions):
// HTTP server on 127.0.0.1 -> tslirp stack -> attachE1000 -> RX ring -> the test driver's TCP
// client, ACKs back the same way. Run: node test/integration/e1000-stack/bench.ts [MB]
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { attachE1000, silentLogger } from "../../../src/index.ts"
import { NodeStack } from "../../../src/node.ts"
import { E1000Driver } from "./e1000-driver.ts"
import { GuestRam } from "./guest-ram.ts"
import { GuestNet } from "./guest-net.ts"
import { ip } from "./packets.ts"
import { TcpClient } from "./tcp-client.ts"

const mb = Number(process.argv[2] ?? "20")
const file = new Uint8Array(mb * 1024 * 1024).map((_, i) => i & 0xff)
const server = createServer((_req, res) => {
  res.writeHead(200, { "Content-Length": String(file.length), Connection: "close" })
  res.end(file)
})
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
const ram = new GuestRam(4 * 1024 * 1024)
let driver: E1000Driver | undefined
const nic = attachE1000({ memory: ram, link: new NodeStack({}, { logger: silentLogger }), onIrq: (l) => driver?.irqLine(l) })
driver = new E1000Driver(nic, ram)
const net = new GuestNet(driver, 60_000)
await driver.bringUp()
await driver.waitForLink()
await net.dhcp()
const gw = await net.arp(ip(10, 0, 2, 2))
const tcp = new TcpClient(net, gw, 40000, ip(10, 0, 2, 2), (server.address() as AddressInfo).port)
const t0 = process.hrtime.bigint()
await tcp.connect()
await tcp.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"))
const got = await tcp.readToEnd(600_000)
const s = Number(process.hrtime.bigint() - t0) / 1e9
await tcp.close()
console.log(
  `${(got.length / 1e6).toFixed(1)} MB in ${s.toFixed(2)} s: ${((got.length * 8) / s / 1e6).toFixed(0)} Mbit/s, ` +
    `${driver.stats.framesReceived} frames in, ${driver.stats.interrupts} interrupts, ${tcp.stats.retransmits} retransmits, ${nic.rxDropped} dropped`,
)
driver.stop()
nic.close()
server.close()
