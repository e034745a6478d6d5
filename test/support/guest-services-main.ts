/**
 * The host side of a guest run, as a process of its own so that it can run inside the run's
 * network namespace (`ip netns exec NS node guest-services-main.ts CONFIG_JSON`): a DNS server,
 * a TFTP server (the guest's plain-UDP check), and for TCP checks an HTTP server of generated
 * files and a TCP sink that reports the sha256 of what it received. All on 127.0.0.1, which the
 * guest reaches through the gateway address (10.0.2.2); the HTTP server on ::1 when asked (the
 * IPv6 gateway fec0::2's).
 *
 * Protocol on stdout, one JSON object a line (see guest-services.ts for the types):
 * `{"type":"ready","ports":{...}}` once everything listens, then one event per request. Exits
 * when stdin closes (its parent is gone) or on SIGTERM.
 */
import { createServer as createHttpServer } from "node:http"
import { createServer as createTcpServer } from "node:net"
import { createHash } from "node:crypto"
import { startDnsServer } from "./dns-server.ts"
import { startTftpServer } from "./guest-tftp-server.ts"
import { guestPayload } from "./guest-payload.ts"
import type { GuestServicesConfig, ServiceEvent } from "./guest-services.ts"

const emit = (event: ServiceEvent): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

const config = JSON.parse(process.argv[2] ?? "{}") as GuestServicesConfig
const host = "127.0.0.1"
const closers: Array<() => Promise<void>> = []
const ports: Record<string, number> = {}

const listen = (server: { listen: (port: number, host: string, cb: () => void) => unknown; once: (e: "error", cb: (e: Error) => void) => unknown; address: () => unknown }, port: number, on = host): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, on, () => resolve((server.address() as { port: number }).port))
  })

const main = async (): Promise<void> => {
  if (config.dns !== undefined) {
    const dns = await startDnsServer({
      host,
      port: config.dns.port,
      records: config.dns.records,
      truncateOverUdp: config.dns.truncateOverUdp ?? [],
      onQuery: (q) => emit({ type: "dns", ...q }),
    })
    ports["dns"] = dns.port
    closers.push(dns.close)
  }
  if (config.tftp !== undefined) {
    const files = Object.fromEntries(Object.entries(config.tftp.files).map(([name, text]) => [name, Buffer.from(text, "utf8")]))
    const tftp = await startTftpServer({ host, port: config.tftp.port, files, onEvent: (e) => emit({ type: "tftp", ...e }) })
    ports["tftp"] = tftp.port
    closers.push(tftp.close)
  }
  if (config.http !== undefined) {
    const files = config.http.files
    const server = createHttpServer((req, res) => {
      const spec = Object.hasOwn(files, req.url ?? "") ? files[req.url ?? ""] : undefined
      emit({ type: "http", method: req.method ?? "", path: req.url ?? "", from: `${req.socket.remoteAddress}:${req.socket.remotePort}`, status: spec === undefined ? 404 : 200 })
      if (spec === undefined) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
        return
      }
      const body = guestPayload(spec.size, spec.seed)
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length })
      res.end(body)
    })
    ports["http"] = await listen(server, config.http.port, config.http.host ?? host)
    closers.push(() => new Promise((r) => server.close(() => r())))
  }
  if (config.tcpSink !== undefined) {
    const server = createTcpServer((socket) => {
      const hash = createHash("sha256")
      let bytes = 0
      const from = `${socket.remoteAddress}:${socket.remotePort}`
      socket.on("data", (chunk) => {
        hash.update(chunk)
        bytes += chunk.length
      })
      socket.on("error", (error) => emit({ type: "tcp-sink", from, bytes, sha256: "", error: error.message }))
      socket.on("end", () => {
        emit({ type: "tcp-sink", from, bytes, sha256: hash.digest("hex") })
        socket.end()
      })
    })
    ports["tcpSink"] = await listen(server, config.tcpSink.port)
    closers.push(() => new Promise((r) => server.close(() => r())))
  }
  emit({ type: "ready", ports })
}

const shutdown = (): void => {
  void Promise.all(closers.map((c) => c())).finally(() => process.exit(0))
  setTimeout(() => process.exit(0), 1_000).unref()
}
process.stdin.on("end", shutdown)
process.stdin.on("error", shutdown)
process.stdin.resume()
process.on("SIGTERM", shutdown)
main().catch((error: unknown) => {
  process.stderr.write(`guest-services: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
