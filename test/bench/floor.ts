/**
 * Where a ping's time goes on the stream link (issue: latency to match libslirp's): the median
 * RTT of pings from a namespace guest to 10.0.2.2 (QEMU -M none and a hub, as `npm run bench`),
 * answered by, interleaved per round: a C responder (the link's own cost), a minimal Node
 * responder through Node's streams and through the addon's native stream, tslirp, and QEMU's
 * libslirp. Needs root, qemu-system-x86_64, cc, ip.
 *
 * Usage: node test/bench/floor.ts [--rounds N] [--interval SECONDS]
 */
import { spawn, spawnSync } from "node:child_process"
import { mkdirSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { type Backend, createNetnsGuest, NODE, requireTools } from "../support/netns.ts"

const { values } = parseArgs({ options: { rounds: { type: "string" }, interval: { type: "string" } } })
const rounds = Number(values.rounds ?? "2")
const interval = values.interval ?? "0.02"
await requireTools(["qemu-system-x86_64", "cc", "ip"])

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url))
const cache = join(process.env["TSLIRP_CACHE"] ?? join(homedir(), ".cache/tslirp"), "bench-floor")
mkdirSync(cache, { recursive: true })
const binary = join(cache, "responder")
const cc = spawnSync("cc", ["-O2", "-o", binary, here("./floor/responder.c")], { encoding: "utf8" })
if (cc.status !== 0) throw new Error(`cc: ${cc.stderr}`)

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1] ?? Number.NaN
}

/** Median ping RTT (ms) through `backend`, with `server` (argv) listening at `path` first if given. */
const measure = async (backend: Backend, server?: ReadonlyArray<string>): Promise<number> => {
  const child = server === undefined ? undefined : spawn(server[0]!, server.slice(1), { stdio: ["ignore", "pipe", "inherit"] })
  try {
    if (child !== undefined) await new Promise((r) => child.stdout!.once("data", r))
    const guest = await createNetnsGuest({ backend })
    try {
      await guest.configureStatic()
      const r = await guest.exec(["ping", "-n", "-c", "200", "-i", interval, "-W", "2", "10.0.2.2"], { timeoutMs: 120_000 })
      return median([...r.stdout.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1])))
    } finally {
      await guest.destroy()
    }
  } finally {
    child?.kill()
  }
}

const sock = join(cache, "floor.sock")
const rows: Record<string, Array<number>> = {}
const add = (name: string, ms: number): void => {
  ;(rows[name] ??= []).push(ms)
  process.stderr.write(`floor: ${name}: ${ms} ms\n`)
}
for (let round = 0; round < rounds; round++) {
  add("C responder", await measure({ _tag: "QemuStream", path: sock }, [binary, sock]))
  add("Node responder, streams", await measure({ _tag: "QemuStream", path: sock }, [NODE, here("./floor/responder.ts"), sock, "streams"]))
  add("Node responder, native", await measure({ _tag: "QemuStream", path: sock }, [NODE, here("./floor/responder.ts"), sock, "native"]))
  add("tslirp", await measure({ _tag: "TslirpStream" }))
  add("libslirp", await measure({ _tag: "Libslirp" }))
}
console.log(`ping 10.0.2.2 every ${interval} s, median RTT in ms (median of ${rounds} rounds)`)
for (const [name, xs] of Object.entries(rows)) console.log(`${name.padEnd(28)}${median(xs).toFixed(3).padStart(8)}`)
