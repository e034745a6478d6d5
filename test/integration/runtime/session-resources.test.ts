/**
 * Session resource safety (issue: each guest session is a scoped program): a session with a
 * TCP, a UDP and an ICMP flow and armed timers, ended in each of the four ways (the guest goes
 * away, its link fails, its stack throws, the session is shut down), leaves the process with
 * the sockets and timers it had before, and ends with the typed reason. Each run is a child
 * process in a network namespace of its own (only `lo`; ping sockets allowed there), so the
 * counts are that process's alone and the ICMP flow's echo never leaves the namespace.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { NODE, requireTools } from "../../support/netns.ts"

const CHILD = fileURLToPath(new URL("./session-resources-child.ts", import.meta.url))

interface Counts {
  readonly sockets: number
  readonly timers: number
}
interface Report {
  readonly way: string
  readonly ended: string
  readonly before: Counts
  readonly during: Counts
  readonly after: Counts
  readonly linkClosed: number
  readonly errors: number
}

const run = async (way: string): Promise<Report> => {
  await requireTools(["unshare", "ip", "sysctl"])
  const script = `ip link set lo up && sysctl -q -w net.ipv4.ping_group_range='0 2147483647' && exec "$0" "$1" "$2"`
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile("unshare", ["-n", "sh", "-c", script, NODE, CHILD, way], { timeout: 60_000 }, (err, out, errOut) =>
      err === null ? resolve(out) : reject(new Error(`child failed: ${err.message}: ${errOut}`)),
    ),
  )
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Report
}

const ways = [
  { way: "guest-gone", ended: "GuestGone", errors: 0 },
  { way: "link-error", ended: "LinkFailed", errors: 0 },
  { way: "reducer-error", ended: "ReducerFailed", errors: 1 },
  { way: "shutdown", ended: "Interrupted", errors: 0 },
] as const

describe("a guest session's resources", () => {
  for (const w of ways) {
    it(`${w.way}: ends with ${w.ended}; its TCP, UDP and ICMP sockets, timers and link are all released`, async () => {
      const r = await run(w.way)
      expect(r.ended).toBe(w.ended)
      // The flows really held resources: the host TCP socket (and the listener's accepted
      // end, in the same process), the UDP socket, the ping socket; and armed timers.
      expect(r.during.sockets).toBe(r.before.sockets + 4)
      expect(r.during.timers).toBeGreaterThan(r.before.timers)
      expect(r.after).toEqual(r.before)
      expect(r.linkClosed).toBe(1)
      expect(r.errors).toBe(w.errors)
    })
  }
})
