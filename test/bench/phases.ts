/**
 * One bench configuration, chosen phases, one backend process kept for all of them: for looking
 * at a phase from outside while it runs (strace, `perf record -p`, `perf stat`, `nstat`), or at
 * what one phase leaves behind for the next (host->guest after guest->host in the same tslirp
 * swings between two regimes: see the session notes of 2026-12-07).
 *
 * Usage: node test/bench/phases.ts ID PHASE[,PHASE...] [--time SECONDS] [--rounds N] [--node-args "ARGS"]
 *   ID       a configuration id (`node test/bench/run.ts --list`)
 *   PHASE    guest->host, host->guest or latency (slirp-like configurations at 1500)
 *   --node-args  extra node arguments for tslirp, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *
 * Prints "ready" on stderr once the guest is up (attach tools then), then one line per phase:
 * the phase and its outcome as JSON. Exit status 1 when any phase failed.
 */
import { parseArgs } from "node:util"
import { CONFIGS } from "./configs.ts"
import type { Direction } from "./iperf.ts"

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { time: { type: "string" }, rounds: { type: "string" }, "node-args": { type: "string" } },
})
const [id, phaseList] = positionals
const config = CONFIGS.find((c) => c.id === id)
const phases = (phaseList ?? "").split(",").filter((p) => p !== "")
const seconds = Number(values.time ?? "6")
const rounds = Number(values.rounds ?? "1")
const usage = "usage: node test/bench/phases.ts ID PHASE[,PHASE...] [--time SECONDS] [--rounds N] [--node-args ARGS]"
if (config === undefined || phases.length === 0 || phases.some((p) => p !== "guest->host" && p !== "host->guest" && p !== "latency")) {
  process.stderr.write(`${usage}\n`)
  process.exit(2)
}
if (!Number.isInteger(seconds) || seconds < 2 || !Number.isInteger(rounds) || rounds < 1) {
  process.stderr.write("phases: --time must be an integer >= 2 and --rounds >= 1\n")
  process.exit(2)
}

const setup = await config.setup({ tslirpNodeArgs: (values["node-args"] ?? "").split(" ").filter((a) => a !== "") })
process.stderr.write("ready\n")
let failed = false
try {
  for (let r = 0; r < rounds; r++) {
    for (const phase of phases) {
      if (phase === "latency") {
        if (setup.latency === undefined) {
          process.stderr.write(`phases: ${config.id} measures no latency\n`)
          failed = true
          continue
        }
        const l = await setup.latency(seconds)
        failed ||= Object.values(l).some((f) => f._tag === "Failed")
        process.stdout.write(`${phase} ${JSON.stringify(l)}\n`)
      } else {
        const o = await setup.measure(phase as Direction, seconds)
        failed ||= o._tag === "Failed"
        process.stdout.write(`${phase} ${JSON.stringify(o)}\n`)
      }
    }
  }
} finally {
  await setup.teardown()
}
process.exit(failed ? 1 : 0)
