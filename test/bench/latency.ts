/**
 * Latency measurements through a namespace guest, for tslirp beside libslirp (issue: interactive
 * use feels per-packet delay more than bulk throughput):
 * - TCP request/response rate: 64-byte request, 64-byte echo, one connection (like TCP_RR);
 * - TCP connection rate: connect, one 64-byte exchange, close, repeat (like TCP_CRR);
 * - ping round-trip time to the gateway 10.0.2.2, which the backend answers itself (median of
 *   the replies' `time=`).
 * The echo server runs in this process on 127.0.0.1, reached from the guest as 10.0.2.2.
 *
 * Contract: `measureLatency` never throws; each figure is a number or a one-line failure.
 */
import { createServer, type Server } from "node:net"
import { fileURLToPath } from "node:url"
import { NODE, type NetnsGuest } from "../support/netns.ts"

export type Figure = { readonly _tag: "Measured"; readonly value: number } | { readonly _tag: "Failed"; readonly reason: string }

export interface LatencyResult {
  /** Transactions per second. */
  readonly rr: Figure
  /** Connections (each with one exchange) per second. */
  readonly crr: Figure
  /** Milliseconds, median. */
  readonly ping: Figure
}

const CLIENT = fileURLToPath(new URL("./rr-client.ts", import.meta.url))
const MESSAGE = 64
const failed = (reason: string): Figure => ({ _tag: "Failed", reason: reason.replace(/\s+/g, " ").trim().slice(0, 200) })

/** Echoes every byte back on every connection, until closed. */
const startEcho = (): Promise<{ server: Server; port: number }> =>
  new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true }, (s) => {
      s.on("data", (d) => s.write(d))
      s.on("error", () => s.destroy())
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const a = server.address()
      if (a === null || typeof a === "string") reject(new Error("echo server has no port"))
      else resolve({ server, port: a.port })
    })
  })

const runClient = async (guest: NetnsGuest, mode: "rr" | "crr", port: number, seconds: number): Promise<Figure> => {
  try {
    const r = await guest.exec([NODE, CLIENT, mode, "10.0.2.2", String(port), String(MESSAGE), String(seconds)], { timeoutMs: (seconds + 30) * 1_000 })
    if (r.code !== 0) return failed(`rr-client ${mode} exited with ${r.code}: ${r.stderr}`)
    const j = JSON.parse(r.stdout.trim()) as { transactions: number; seconds: number }
    if (!(j.transactions > 0 && j.seconds > 0)) return failed(`rr-client ${mode}: no transaction completed`)
    return { _tag: "Measured", value: j.transactions / j.seconds }
  } catch (err) {
    return failed(err instanceof Error ? err.message : String(err))
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const pingGateway = async (guest: NetnsGuest, count: number): Promise<Figure> => {
  try {
    const r = await guest.exec(["ping", "-n", "-c", String(count), "-i", "0.02", "-W", "2", "10.0.2.2"], { timeoutMs: count * 1_000 + 30_000 })
    const times = [...r.stdout.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1]))
    if (times.length === 0) return failed(`ping: no reply (exit ${r.code}): ${r.stderr || r.stdout}`)
    return { _tag: "Measured", value: median(times) }
  } catch (err) {
    return failed(err instanceof Error ? err.message : String(err))
  }
}

export const measureLatency = async (guest: NetnsGuest, seconds: number): Promise<LatencyResult> => {
  let echo: { server: Server; port: number }
  try {
    echo = await startEcho()
  } catch (err) {
    const f = failed(`echo server: ${err instanceof Error ? err.message : String(err)}`)
    return { rr: f, crr: f, ping: f }
  }
  try {
    const ping = await pingGateway(guest, 200)
    const rr = await runClient(guest, "rr", echo.port, seconds)
    const crr = await runClient(guest, "crr", echo.port, seconds)
    return { rr, crr, ping }
  } finally {
    echo.server.close()
  }
}
