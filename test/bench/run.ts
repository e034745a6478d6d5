/**
 * `npm run bench`: TCP throughput of tslirp beside libslirp, slirp4netns and a trivial relay,
 * with a network namespace as the guest (Linux's own TCP, iperf3) behind QEMU `-M none`.
 * Needs root, qemu-system-x86_64, iperf3, slirp4netns, ip.
 *
 * Usage: node test/bench/run.ts [--time SECONDS] [--repeat N] [--only ID,ID...] [--json FILE]
 *                               [--cpu-prof DIR] [--baseline REF] [--list]
 *   --time      seconds per direction (default 10, env BENCH_TIME)
 *   --repeat    rounds (default 2, env BENCH_REPEAT); each round runs every configuration once,
 *               so tslirp and its reference are interleaved and share the machine's load
 *               over time; cells show the median and, with 2+ rounds, the range
 *   --only      configurations whose id contains one of the words (env BENCH_ONLY)
 *   --json      also write the results as JSON
 *   --cpu-prof  run tslirp under node --cpu-prof, profiles written to DIR
 *   --baseline  also run tslirp as built at commit REF (stream at 1500 and 32000, interleaved
 *               with the rest) and print now/before ratios of Gbit/s and of tslirp's CPU
 *               seconds per GB (baseline.ts)
 *
 * Prints one table of Gbit/s (receiver side) for both directions, then the ratios of tslirp to
 * its reference at the same MTU (of the medians), then the backend processes' CPU seconds per GB
 * moved (tslirp's node, QEMU, slirp4netns, read from /proc): a figure other load on this
 * machine skews far less (a slowed pipeline still wakes more often per byte), and tslirp's peak
 * resident set. Progress lines on stderr show each run's figure and the sender's retransmits. Default set: tslirp (stream 1500 and 32000, dgram 65000),
 * libslirp at 1500, slirp4netns at 32000 and 65000, hostfwd at 1500 for tslirp and libslirp
 * (iperf3 -s in the guest, the client on the host through the rule), and the link ceiling
 * (null backend) on each link; `--only relay` adds a two-guest byte relay (see relay.ts). `--list` prints the ids. A configuration that fails prints `failed: reason`; the exit
 * status is 1 when any measurement failed.
 */
import { writeFileSync, mkdirSync } from "node:fs"
import { availableParallelism, loadavg } from "node:os"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import { requireTools } from "../support/netns.ts"
import { prepareBaseline } from "./baseline.ts"
import { BASELINE_RATIOS, baselineConfigs, CONFIGS, LATENCY_RATIOS, RATIOS, type Config } from "./configs.ts"
import { cpuDelta, sampleBackendCpu, tslirpPeakRssMb, type CpuSample } from "./cpu.ts"
import type { Direction, Outcome } from "./iperf.ts"
import type { Figure, LatencyResult } from "./latency.ts"

const DIRECTIONS: ReadonlyArray<Direction> = ["guest->host", "host->guest"]

/** One run of one configuration: an outcome and the backends' CPU seconds per direction. */
interface Trial {
  readonly config: Config
  readonly results: Record<Direction, Outcome>
  readonly cpu: Partial<Record<Direction, CpuSample>>
  /** Peak resident set of tslirp over the run, MB (0 for other backends). */
  readonly rssMb: number
  /** Request/response, connection rate, ping (configurations that measure latency). */
  readonly latency?: LatencyResult
}

/** All rounds of one configuration. */
interface Row {
  readonly config: Config
  readonly trials: ReadonlyArray<Trial>
}

const { values } = parseArgs({
  options: {
    time: { type: "string" },
    repeat: { type: "string" },
    only: { type: "string" },
    json: { type: "string" },
    "cpu-prof": { type: "string" },
    baseline: { type: "string" },
    list: { type: "boolean" },
  },
})

const seconds = Number(values.time ?? process.env["BENCH_TIME"] ?? "10")
if (!Number.isInteger(seconds) || seconds < 2) {
  process.stderr.write("bench: --time must be an integer >= 2\n")
  process.exit(2)
}
const rounds = Number(values.repeat ?? process.env["BENCH_REPEAT"] ?? "2")
if (!Number.isInteger(rounds) || rounds < 1) {
  process.stderr.write("bench: --repeat must be an integer >= 1\n")
  process.exit(2)
}
const onlyWords = (values.only ?? process.env["BENCH_ONLY"] ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s !== "")
const baseline = (() => {
  if (values.baseline === undefined) return undefined
  try {
    return prepareBaseline(values.baseline)
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(2)
  }
})()
const selected = [
  ...CONFIGS.filter((c) => (onlyWords.length === 0 ? c.byDefault : onlyWords.some((w) => c.id.includes(w)))),
  ...(baseline === undefined ? [] : baselineConfigs(baseline.short, baseline.main)),
]

if (values.list === true) {
  for (const c of CONFIGS) process.stdout.write(`${c.id}${c.byDefault ? "" : " (only with --only)"}\n`)
  process.exit(0)
}
if (selected.length === 0) {
  process.stderr.write(`bench: no configuration matches ${onlyWords.join(",")}; ids: ${CONFIGS.map((c) => c.id).join(" ")}\n`)
  process.exit(2)
}

const tslirpNodeArgs: string[] = []
if (values["cpu-prof"] !== undefined) {
  const dir = resolve(values["cpu-prof"])
  mkdirSync(dir, { recursive: true })
  tslirpNodeArgs.push("--cpu-prof", `--cpu-prof-dir=${dir}`)
}

// Ctrl-C: exit through process.exit so the harness's exit hook removes namespaces and QEMUs.
process.on("SIGINT", () => process.exit(130))
process.on("SIGTERM", () => process.exit(143))

const oneLine = (s: string): string => s.replace(/\s+/g, " ").trim().slice(0, 300)
const failed = (reason: string): Outcome => ({ _tag: "Failed", reason: oneLine(reason) })

const runConfig = async (config: Config, round: number): Promise<Trial> => {
  process.stderr.write(`bench: ${config.id}${rounds > 1 ? ` (round ${round}/${rounds})` : ""} ...\n`)
  let setup
  try {
    setup = await config.setup({ tslirpNodeArgs })
  } catch (err) {
    const reason = failed(`setup: ${err instanceof Error ? err.message : String(err)}`)
    return { config, results: { "guest->host": reason, "host->guest": reason }, cpu: {}, rssMb: 0 }
  }
  try {
    const results = {} as Record<Direction, Outcome>
    const cpu: Partial<Record<Direction, CpuSample>> = {}
    for (const direction of DIRECTIONS) {
      if (!setup.alive()) {
        results[direction] = failed(`backend no longer running: ${setup.diagnostics()}`)
        continue
      }
      const before = sampleBackendCpu()
      const outcome = await setup.measure(direction, seconds)
      cpu[direction] = cpuDelta(before, sampleBackendCpu())
      results[direction] =
        outcome._tag === "Failed" && !setup.alive()
          ? failed(`${outcome.reason}; backend died: ${setup.diagnostics().split("\n").slice(-6).join(" ")}`)
          : outcome
      const shown =
        outcome._tag === "Measured"
          ? `${outcome.gbps.toFixed(2)} Gbit/s${outcome.retransmits === null ? "" : `, ${outcome.retransmits} retransmits`}`
          : `failed: ${outcome.reason}`
      process.stderr.write(`bench:   ${direction}: ${shown}\n`)
    }
    const rssMb = tslirpPeakRssMb()
    if (setup.latency === undefined) return { config, results, cpu, rssMb }
    if (!setup.alive()) return { config, results, cpu, rssMb }
    const latency = await setup.latency(Math.min(seconds, 10))
    const show = (f: Figure, unit: string, digits: number) => (f._tag === "Measured" ? `${f.value.toFixed(digits)} ${unit}` : `failed: ${f.reason}`)
    process.stderr.write(`bench:   latency: rr ${show(latency.rr, "/s", 0)}, crr ${show(latency.crr, "/s", 0)}, ping ${show(latency.ping, "ms", 3)}\n`)
    return { config, results, cpu, rssMb, latency }
  } finally {
    await setup.teardown()
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const measured = (row: Row, d: Direction): number[] =>
  row.trials.flatMap((t) => {
    const o = t.results[d]
    return o._tag === "Measured" ? [o.gbps] : []
  })

const cell = (row: Row, d: Direction): string => {
  const xs = measured(row, d)
  if (xs.length === 0) return "failed"
  const m = median(xs).toFixed(2)
  if (rounds === 1) return m
  return `${m} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})${xs.length < row.trials.length ? "!" : ""}`
}

/** Median CPU seconds per GB (1e9 bytes) of each backend role, for trials whose bytes are known. */
const cpuCell = (row: Row, d: Direction): string => {
  const per: Record<string, number[]> = {}
  for (const t of row.trials) {
    const o = t.results[d]
    const c = t.cpu[d]
    if (o._tag !== "Measured" || o.bytes === null || o.bytes <= 0 || c === undefined) continue
    for (const [role, sec] of Object.entries(c)) if (sec > 0) (per[role] ??= []).push(sec / (o.bytes / 1e9))
  }
  const parts = Object.entries(per).map(([role, xs]) => `${role} ${median(xs).toFixed(2)}`)
  return parts.length === 0 ? "-" : parts.join(" + ")
}

/** Median of tslirp's own CPU seconds per GB over the trials of a row. */
const tslirpCpuPerGb = (row: Row, d: Direction): number | undefined => {
  const xs: number[] = []
  for (const t of row.trials) {
    const o = t.results[d]
    const c = t.cpu[d]
    if (o._tag === "Measured" && o.bytes !== null && o.bytes > 0 && c !== undefined && c.tslirp > 0) xs.push(c.tslirp / (o.bytes / 1e9))
  }
  return xs.length === 0 ? undefined : median(xs)
}

const loadAtStart = loadavg()

const main = async (): Promise<number> => {
  await requireTools(["ip", "qemu-system-x86_64", "iperf3", "slirp4netns", "unshare"])
  const trials = new Map<string, Trial[]>(selected.map((c) => [c.id, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const config of selected) trials.get(config.id)!.push(await runConfig(config, round))
  }
  const rows: Row[] = selected.map((config) => ({ config, trials: trials.get(config.id)! }))
  const loadAtEnd = loadavg()

  const byId = new Map(rows.map((r) => [r.config.id, r]))
  const pairs = RATIOS.flatMap(([num, den]) => {
    const a = byId.get(num)
    const b = byId.get(den)
    return a === undefined || b === undefined ? [] : [{ a, b, label: `${a.config.label} / ${b.config.label}` }]
  })
  const w = Math.max(...rows.map((r) => r.config.label.length), ...pairs.map((p) => p.label.length), 24)
  const cw = rounds === 1 ? 11 : 20
  const out: string[] = []
  out.push(
    `tslirp throughput: iperf3 TCP, ${seconds} s per direction (first second omitted), Gbit/s at the receiver` +
      (rounds > 1 ? `; ${rounds} interleaved rounds, median (min-max)` : ""),
  )
  const load = (l: ReadonlyArray<number>): string => l.map((x) => x.toFixed(2)).join(" ")
  out.push(`host: ${availableParallelism()} CPUs, load average ${load(loadAtStart)} at start, ${load(loadAtEnd)} at end (other load skews every Gbit/s figure)`)
  out.push(`${"configuration".padEnd(w)}  ${"MTU".padStart(5)}  ${"guest->host".padStart(cw)}  ${"host->guest".padStart(cw)}`)
  for (const r of rows) {
    out.push(`${r.config.label.padEnd(w)}  ${String(r.config.mtu).padStart(5)}  ${cell(r, "guest->host").padStart(cw)}  ${cell(r, "host->guest").padStart(cw)}`)
  }
  const ratioLines: string[] = []
  for (const { a, b, label } of pairs) {
    const ratio = (d: Direction): string => {
      const x = measured(a, d)
      const y = measured(b, d)
      return x.length > 0 && y.length > 0 && median(y) > 0 ? (median(x) / median(y)).toFixed(2) : "n/a"
    }
    ratioLines.push(`${label.padEnd(w)}  ${String(a.config.mtu).padStart(5)}  ${ratio("guest->host").padStart(cw)}  ${ratio("host->guest").padStart(cw)}`)
  }
  if (rows.some((r) => r.config.id.startsWith("link-"))) {
    out.push("ceiling rows: a null backend on the same QEMU link, no stack; Ethernet frame bytes (UDP flood), not TCP payload")
  }
  if (rows.some((r) => r.config.id.startsWith("relay-"))) {
    out.push("relay rows: two namespace guests, two QEMUs and a Node byte relay, iperf3 between the namespaces")
  }
  if (ratioLines.length > 0) {
    out.push("")
    out.push("ratios of the medians (target >= 1.00 both ways)")
    out.push(...ratioLines)
  }
  const cpuRows = rows.filter((r) => !r.config.id.startsWith("link-"))
  if (cpuRows.length > 0) {
    out.push("")
    out.push("backend CPU seconds per GB moved (median; far less skewed by other load than Gbit/s, though a slowed pipeline wakes more often per byte; lower is better)")
    for (const r of cpuRows) {
      const rss = Math.max(...r.trials.map((t) => t.rssMb))
      out.push(
        `${r.config.label.padEnd(w)}  ${String(r.config.mtu).padStart(5)}  g->h ${cpuCell(r, "guest->host")}  |  h->g ${cpuCell(r, "host->guest")}` +
          (rss > 0 ? `  |  tslirp peak RSS ${rss.toFixed(0)} MB` : ""),
      )
    }
  }
  const baselinePairs = BASELINE_RATIOS.flatMap(([num, den]) => {
    const a = byId.get(num)
    const b = byId.get(den)
    return a === undefined || b === undefined ? [] : [{ a, b }]
  })
  if (baselinePairs.length > 0) {
    out.push("")
    out.push("now / before (the --baseline build): Gbit/s (higher is better) and tslirp's CPU seconds per GB (lower is better; target within 10%)")
    const ratioOf = (x: number | undefined, y: number | undefined): string => (x !== undefined && y !== undefined && y > 0 ? (x / y).toFixed(2) : "n/a")
    for (const { a, b } of baselinePairs) {
      const gbps = (d: Direction) => {
        const x = measured(a, d)
        const y = measured(b, d)
        return ratioOf(x.length > 0 ? median(x) : undefined, y.length > 0 ? median(y) : undefined)
      }
      const cpu = (d: Direction) => ratioOf(tslirpCpuPerGb(a, d), tslirpCpuPerGb(b, d))
      out.push(
        `${"tslirp now / before, -netdev stream".padEnd(w)}  ${String(a.config.mtu).padStart(5)}  Gbit/s g->h ${gbps("guest->host")}  h->g ${gbps("host->guest")}  |  CPU s/GB g->h ${cpu("guest->host")}  h->g ${cpu("host->guest")}`,
      )
    }
  }
  const latencyRows = rows.filter((r) => r.trials.some((t) => t.latency !== undefined))
  const latencyMedian = (r: Row, k: keyof LatencyResult): number | undefined => {
    const xs = r.trials.flatMap((t) => {
      const f = t.latency?.[k]
      return f !== undefined && f._tag === "Measured" ? [f.value] : []
    })
    return xs.length === 0 ? undefined : median(xs)
  }
  if (latencyRows.length > 0) {
    const fmt = (x: number | undefined, digits: number) => (x === undefined ? "failed" : x.toFixed(digits))
    out.push("")
    out.push(`latency, MTU 1500, ${rounds > 1 ? `median of ${rounds} interleaved rounds` : "one round"}: TCP request/response (64 B, one connection) and connection (connect, one exchange, close) per second, ping to 10.0.2.2 (median RTT)`)
    out.push(`${"configuration".padEnd(w)}  ${"req/resp /s".padStart(12)}  ${"conn /s".padStart(9)}  ${"ping ms".padStart(8)}`)
    for (const r of latencyRows) {
      out.push(`${r.config.label.padEnd(w)}  ${fmt(latencyMedian(r, "rr"), 0).padStart(12)}  ${fmt(latencyMedian(r, "crr"), 0).padStart(9)}  ${fmt(latencyMedian(r, "ping"), 3).padStart(8)}`)
    }
    for (const [num, den] of LATENCY_RATIOS) {
      const a = byId.get(num)
      const b = byId.get(den)
      if (a === undefined || b === undefined || !latencyRows.includes(a) || !latencyRows.includes(b)) continue
      const ratio = (k: "rr" | "crr") => {
        const x = latencyMedian(a, k)
        const y = latencyMedian(b, k)
        return x !== undefined && y !== undefined && y > 0 ? (x / y).toFixed(2) : "n/a"
      }
      const pa = latencyMedian(a, "ping")
      const pb = latencyMedian(b, "ping")
      const dp = pa !== undefined && pb !== undefined ? `${pa - pb >= 0 ? "+" : ""}${(pa - pb).toFixed(3)}` : "n/a"
      out.push(`${`${a.config.label} / ${b.config.label}`.padEnd(w)}  ${ratio("rr").padStart(12)}  ${ratio("crr").padStart(9)}  ${dp.padStart(8)}`)
    }
    out.push("(ratio rows: rates as ratios, target >= 0.80 against libslirp; ping as the difference in ms, target <= +0.100)")
  }
  const failures: string[] = []
  for (const r of rows) {
    for (const t of r.trials) {
      for (const d of DIRECTIONS) {
        const o = t.results[d]
        if (o._tag === "Failed") failures.push(`${r.config.id} ${d} failed: ${o.reason}`)
      }
      for (const [k, f] of Object.entries(t.latency ?? {})) if (f._tag === "Failed") failures.push(`${r.config.id} latency ${k} failed: ${f.reason}`)
    }
  }
  if (failures.length > 0) {
    out.push("")
    out.push(...failures)
  }
  process.stdout.write(`${out.join("\n")}\n`)

  if (values.json !== undefined) {
    const json = rows.map((r) => ({
      id: r.config.id,
      label: r.config.label,
      mtu: r.config.mtu,
      seconds,
      trials: r.trials.map((t) => ({ results: t.results, cpuSeconds: t.cpu, tslirpPeakRssMb: t.rssMb, latency: t.latency })),
    }))
    writeFileSync(values.json, `${JSON.stringify(json, null, 2)}\n`)
  }
  return failures.length > 0 ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  },
)
