/**
 * `npm run bench`: TCP throughput of tslirp beside libslirp, slirp4netns and a trivial relay,
 * with a network namespace as the guest (Linux's own TCP, iperf3) behind QEMU `-M none`.
 * Needs root, qemu-system-x86_64, iperf3, slirp4netns, ip.
 *
 * Usage: node test/bench/run.ts [--time SECONDS] [--only ID,ID...] [--json FILE]
 *                               [--cpu-prof DIR] [--list]
 *   --time      seconds per direction (default 10, env BENCH_TIME)
 *   --only      configurations whose id contains one of the words (env BENCH_ONLY)
 *   --json      also write the results as JSON
 *   --cpu-prof  run tslirp under node --cpu-prof, profiles written to DIR
 *
 * Prints one table of Gbit/s (receiver side) for both directions, then the ratios of tslirp to
 * its reference at the same MTU. Default set: tslirp (stream 1500 and 32000, dgram 65000),
 * libslirp at 1500, slirp4netns at 32000 and 65000, and the link ceiling (null backend) on each
 * link; `--only relay` adds a two-guest byte relay (see relay.ts). `--list` prints the ids. A configuration that fails prints `failed: reason`; the exit
 * status is 1 when any measurement failed.
 */
import { writeFileSync, mkdirSync } from "node:fs"
import { availableParallelism, loadavg } from "node:os"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import { requireTools } from "../support/netns.ts"
import { CONFIGS, RATIOS, type Config } from "./configs.ts"
import type { Direction, Outcome } from "./iperf.ts"

const DIRECTIONS: ReadonlyArray<Direction> = ["guest->host", "host->guest"]

interface Row {
  readonly config: Config
  readonly results: Record<Direction, Outcome>
}

const { values } = parseArgs({
  options: {
    time: { type: "string" },
    only: { type: "string" },
    json: { type: "string" },
    "cpu-prof": { type: "string" },
    list: { type: "boolean" },
  },
})

const seconds = Number(values.time ?? process.env["BENCH_TIME"] ?? "10")
if (!Number.isInteger(seconds) || seconds < 2) {
  process.stderr.write("bench: --time must be an integer >= 2\n")
  process.exit(2)
}
const onlyWords = (values.only ?? process.env["BENCH_ONLY"] ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s !== "")
const selected = CONFIGS.filter((c) => (onlyWords.length === 0 ? c.byDefault : onlyWords.some((w) => c.id.includes(w))))

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

const runConfig = async (config: Config): Promise<Row> => {
  process.stderr.write(`bench: ${config.id} ...\n`)
  let setup
  try {
    setup = await config.setup({ tslirpNodeArgs })
  } catch (err) {
    const reason = failed(`setup: ${err instanceof Error ? err.message : String(err)}`)
    return { config, results: { "guest->host": reason, "host->guest": reason } }
  }
  try {
    const results = {} as Record<Direction, Outcome>
    for (const direction of DIRECTIONS) {
      if (!setup.alive()) {
        results[direction] = failed(`backend no longer running: ${setup.diagnostics()}`)
        continue
      }
      const outcome = await setup.measure(direction, seconds)
      results[direction] =
        outcome._tag === "Failed" && !setup.alive()
          ? failed(`${outcome.reason}; backend died: ${setup.diagnostics().split("\n").slice(-6).join(" ")}`)
          : outcome
      const shown = outcome._tag === "Measured" ? `${outcome.gbps.toFixed(2)} Gbit/s` : `failed: ${outcome.reason}`
      process.stderr.write(`bench:   ${direction}: ${shown}\n`)
    }
    return { config, results }
  } finally {
    await setup.teardown()
  }
}

const cell = (o: Outcome | undefined): string => (o === undefined ? "-" : o._tag === "Measured" ? o.gbps.toFixed(2) : "failed")

const loadAtStart = loadavg()

const main = async (): Promise<number> => {
  await requireTools(["ip", "qemu-system-x86_64", "iperf3", "slirp4netns", "unshare"])
  const rows: Row[] = []
  for (const config of selected) rows.push(await runConfig(config))

  const byId = new Map(rows.map((r) => [r.config.id, r]))
  const pairs = RATIOS.flatMap(([num, den]) => {
    const a = byId.get(num)
    const b = byId.get(den)
    return a === undefined || b === undefined ? [] : [{ a, b, label: `${a.config.label} / ${b.config.label}` }]
  })
  const w = Math.max(...rows.map((r) => r.config.label.length), ...pairs.map((p) => p.label.length), 24)
  const out: string[] = []
  out.push(`tslirp throughput: iperf3 TCP, ${seconds} s per direction (first second omitted), Gbit/s at the receiver`)
  out.push(`host: ${availableParallelism()} CPUs, load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(" ")} (other load skews every figure)`)
  out.push(`${"configuration".padEnd(w)}  ${"MTU".padStart(5)}  ${"guest->host".padStart(11)}  ${"host->guest".padStart(11)}`)
  for (const r of rows) {
    out.push(
      `${r.config.label.padEnd(w)}  ${String(r.config.mtu).padStart(5)}  ${cell(r.results["guest->host"]).padStart(11)}  ${cell(r.results["host->guest"]).padStart(11)}`,
    )
  }
  const ratioLines: string[] = []
  for (const { a, b, label } of pairs) {
    const ratio = (d: Direction): string => {
      const x = a.results[d]
      const y = b.results[d]
      return x._tag === "Measured" && y._tag === "Measured" && y.gbps > 0 ? (x.gbps / y.gbps).toFixed(2) : "n/a"
    }
    ratioLines.push(`${label.padEnd(w)}  ${String(a.config.mtu).padStart(5)}  ${ratio("guest->host").padStart(11)}  ${ratio("host->guest").padStart(11)}`)
  }
  if (rows.some((r) => r.config.id.startsWith("link-"))) {
    out.push("ceiling rows: a null backend on the same QEMU link, no stack; Ethernet frame bytes (UDP flood), not TCP payload")
  }
  if (rows.some((r) => r.config.id.startsWith("relay-"))) {
    out.push("relay rows: two namespace guests, two QEMUs and a Node byte relay, iperf3 between the namespaces")
  }
  if (ratioLines.length > 0) {
    out.push("")
    out.push("ratios (target >= 1.00 both ways)")
    out.push(...ratioLines)
  }
  const failures: string[] = []
  for (const r of rows) {
    for (const d of DIRECTIONS) {
      const o = r.results[d]
      if (o._tag === "Failed") failures.push(`${r.config.id} ${d} failed: ${o.reason}`)
    }
  }
  if (failures.length > 0) {
    out.push("")
    out.push(...failures)
  }
  process.stdout.write(`${out.join("\n")}\n`)

  if (values.json !== undefined) {
    const json = rows.map((r) => ({ id: r.config.id, label: r.config.label, mtu: r.config.mtu, seconds, results: r.results }))
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
