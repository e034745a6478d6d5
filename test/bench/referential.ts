/**
 * What the referential-transparency harness (test/support/referential.ts) costs on the TCP
 * simulation: `node test/bench/referential.ts [runs]` runs the first `runs` (default 4) seeds
 * of the 50-seed mixed sweep of test/sim/tcp/sim.test.ts (~2 MiB each way) unchecked and
 * checked, alternating, and prints the main thread's CPU seconds (`process.threadCpuUsage`,
 * which does not count time descheduled on a shared machine) for each and their ratio.
 * Each run's results are compared, so a harness that changed the run cannot post a figure.
 */
import { mixedSweepParams, runSim, type SimParams } from "../sim/tcp/sim.ts"

const runs = Number(process.argv[2] ?? "4")
const params = (seed: number, checked: boolean): SimParams => ({ ...mixedSweepParams(seed), checked })

const cpu = (f: () => void): number => {
  const t = process.threadCpuUsage()
  f()
  const d = process.threadCpuUsage(t)
  return (d.user + d.system) / 1e6
}

let plain = 0
let checked = 0
for (let seed = 1; seed <= runs; seed++) {
  let a: ReturnType<typeof runSim> | undefined
  let b: ReturnType<typeof runSim> | undefined
  const tp = cpu(() => (a = runSim(params(seed, false))))
  const tc = cpu(() => (b = runSim(params(seed, true))))
  if (!a!.finished || !b!.finished || a!.virtualMs !== b!.virtualMs || a!.b.receivedBytes !== b!.b.receivedBytes) {
    throw new Error(`seed ${seed}: the checked run differs from the unchecked one`)
  }
  plain += tp
  checked += tc
  console.log(`seed ${seed} mtu ${params(seed, false).mtu}: unchecked ${tp.toFixed(2)} s, checked ${tc.toFixed(2)} s (x${(tc / tp).toFixed(1)})`)
}
console.log(`total ${runs} runs: unchecked ${plain.toFixed(2)} s CPU, checked ${checked.toFixed(2)} s CPU, ratio x${(checked / plain).toFixed(1)}`)
