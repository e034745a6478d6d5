/**
 * One iperf3 TCP measurement: a one-shot server (on the host's loopback, or inside a second
 * namespace for the relay ceiling) and a client inside the namespace guest, `-R` for
 * host->guest. The figure is what the receiver counted (`end.sum_received`), first second
 * omitted (`-O 1`) so slow start does not weigh on short runs.
 *
 * `measureHostfwd` is the same with the roles turned round: iperf3 -s in the guest, the client
 * on the host reaching it through the backend's hostfwd rule.
 *
 * Contract: `measure` and `measureHostfwd` never throw; it returns Gbit/s or a one-line failure reason (iperf3's own
 * `error` field, a timeout, a server that never listened). Both processes are gone when it returns.
 */
import { spawn } from "node:child_process"
import type { NetnsGuest } from "../support/netns.ts"
import { Background } from "../support/netns-process.ts"

export type Direction = "guest->host" | "host->guest"

export type Outcome =
  | {
      readonly _tag: "Measured"
      readonly gbps: number
      readonly retransmits: number | null
      /** Every payload byte moved while the client ran, omitted first second included (for CPU per byte); null when unknown. */
      readonly bytes: number | null
    }
  | { readonly _tag: "Failed"; readonly reason: string }

export interface MeasureSpec {
  readonly client: NetnsGuest
  /** Where iperf3 -s runs: null for the host, or a second namespace guest. */
  readonly serverGuest: NetnsGuest | null
  /** Where iperf3 -s binds. */
  readonly serverAddress: string
  /** What the client in the guest connects to (10.0.2.2 reaches the host's loopback). */
  readonly target: string
  readonly port: number
  readonly seconds: number
  readonly direction: Direction
}

const firstLine = (s: string): string => s.trim().split("\n")[0] ?? ""

interface IperfJson {
  readonly error?: string
  readonly intervals?: ReadonlyArray<{ readonly sum?: { readonly bytes?: number; readonly omitted?: boolean } }>
  readonly end?: {
    readonly sum_received?: { readonly bits_per_second?: number; readonly bytes?: number }
    readonly sum_sent?: { readonly retransmits?: number }
  }
}

/** The outcome of one iperf3 client run from its JSON output. */
const outcomeOf = (r: { readonly stdout: string; readonly stderr: string; readonly code: number | null }): Outcome => {
  let json: IperfJson
  try {
    json = JSON.parse(r.stdout) as IperfJson
  } catch {
    return { _tag: "Failed", reason: `iperf3 client exited with ${r.code}, no JSON: ${firstLine(r.stderr) || firstLine(r.stdout)}` }
  }
  if (json.error !== undefined) return { _tag: "Failed", reason: `iperf3: ${json.error}` }
  const bps = json.end?.sum_received?.bits_per_second
  if (bps === undefined || !Number.isFinite(bps)) return { _tag: "Failed", reason: "iperf3 JSON has no end.sum_received.bits_per_second" }
  if (r.code !== 0) return { _tag: "Failed", reason: `iperf3 client exited with ${r.code}: ${firstLine(r.stderr)}` }
  const counted = json.end?.sum_received?.bytes
  const omitted = (json.intervals ?? []).reduce((n, i) => n + (i.sum?.omitted === true ? (i.sum.bytes ?? 0) : 0), 0)
  return { _tag: "Measured", gbps: bps / 1e9, retransmits: json.end?.sum_sent?.retransmits ?? null, bytes: counted === undefined ? null : counted + omitted }
}

/**
 * hostfwd: iperf3 -s inside the guest (`guestAddress`:`guestPort`), the client on the host's
 * loopback at `hostPort`, which the backend forwards to the guest. "host->guest" is the
 * client sending; "guest->host" is `-R` (the guest's server sends).
 */
export const measureHostfwd = async (spec: {
  readonly guest: NetnsGuest
  readonly guestAddress: string
  readonly guestPort: number
  readonly hostPort: number
  readonly seconds: number
  readonly direction: Direction
}): Promise<Outcome> => {
  const server = spec.guest.spawn("iperf3-server", ["iperf3", "-s", "-1", "--forceflush", "-B", spec.guestAddress, "-p", String(spec.guestPort)])
  try {
    try {
      await server.waitFor(/Server listening/, 10_000)
    } catch (err) {
      return { _tag: "Failed", reason: `iperf3 server in the guest: ${err instanceof Error ? firstLine(err.message) : String(err)}: ${firstLine(server.log())}` }
    }
    const argv = ["iperf3", "-c", "127.0.0.1", "-p", String(spec.hostPort), "-t", String(spec.seconds), "-O", "1", "-J", "--connect-timeout", "5000"]
    if (spec.direction === "guest->host") argv.push("-R")
    const budgetMs = (spec.seconds + 1) * 1_000 + 30_000
    const r = await runOnHost(argv, budgetMs)
    if (r.timedOut) return { _tag: "Failed", reason: `iperf3 client timed out after ${budgetMs} ms` }
    return outcomeOf(r)
  } finally {
    await server.stop(1_000)
  }
}

const runOnHost = (argv: ReadonlyArray<string>, timeoutMs: number): Promise<{ stdout: string; stderr: string; code: number | null; timedOut: boolean }> =>
  new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let timedOut = false
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, timeoutMs)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ stdout, stderr, code, timedOut })
    })
    child.on("error", (e) => {
      clearTimeout(timer)
      resolve({ stdout, stderr: e.message, code: null, timedOut })
    })
  })

export const measure = async (spec: MeasureSpec): Promise<Outcome> => {
  const serverArgv = ["iperf3", "-s", "-1", "--forceflush", "-B", spec.serverAddress, "-p", String(spec.port)]
  const server = spec.serverGuest === null ? new Background("iperf3-server", serverArgv) : spec.serverGuest.spawn("iperf3-server", serverArgv)
  try {
    try {
      await server.waitFor(/Server listening/, 10_000)
    } catch (err) {
      return { _tag: "Failed", reason: `iperf3 server: ${err instanceof Error ? firstLine(err.message) : String(err)}: ${firstLine(server.log())}` }
    }
    const argv = ["iperf3", "-c", spec.target, "-p", String(spec.port), "-t", String(spec.seconds), "-O", "1", "-J", "--connect-timeout", "5000"]
    if (spec.direction === "host->guest") argv.push("-R")
    const budgetMs = (spec.seconds + 1) * 1_000 + 30_000
    const r = await spec.client.exec(argv, { timeoutMs: budgetMs })
    if (r.timedOut) return { _tag: "Failed", reason: `iperf3 client timed out after ${budgetMs} ms` }
    return outcomeOf(r)
  } finally {
    await server.stop(1_000)
  }
}
