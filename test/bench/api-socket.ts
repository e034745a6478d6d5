/**
 * What the control socket costs, and that it does not cost the network:
 * - request round trip (connect, list_hostfwd, shutdown, reply, close) through the real server
 *   against an in-memory ForwardControl, one client at a time: median and 99th percentile;
 * - requests per second with 16 clients at once;
 * - the guest's ARP round trip to the gateway through a `tslirp --api-socket` process, alone and
 *   while 31 control clients are connected and silent (the most it serves at once is 32).
 * Run: node test/bench/api-socket.ts  (figures on stdout; nothing is asserted).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { connect, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { listenApiSocket } from "../../src/runtime/api/server.ts"
import type { Logger } from "../../src/runtime/host/ports.ts"
import { CliProcess, StreamGuest } from "../integration/runtime/cli-process.ts"
import { arpRequest, readArpReply } from "../integration/runtime/frames.ts"
import { callApi } from "../support/api-client.ts"
import { FakeForwardControl } from "../support/fake-forward-control.ts"

const quiet: Logger = { enabled: () => false, log: () => undefined }
const dir = mkdtempSync(join(tmpdir(), "tslirp-api-bench-"))

const call = (path: string, request: string): Promise<string> => callApi(path, request)

const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

const arpRtts = async (guestPath: string, n: number): Promise<Array<number>> => {
  const g = await StreamGuest.open({ path: guestPath })
  const out: Array<number> = []
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      g.send(arpRequest("10.0.2.15", "10.0.2.2"))
      await g.next((f) => readArpReply(f))
      out.push(performance.now() - t0)
      g.frames.length = 0
    }
  } finally {
    g.close()
  }
  return out
}

try {
  const control = new FakeForwardControl()
  await control.addHostFwd({ proto: "tcp", hostAddr: "0.0.0.0", hostPort: 8080, guestAddr: "", guestPort: 80 })
  const path = join(dir, "api.sock")
  const server = await listenApiSocket({ path, control, logger: quiet })
  const LIST = '{"execute": "list_hostfwd"}'
  for (let i = 0; i < 200; i++) await call(path, LIST) // warm up
  const rtts: Array<number> = []
  for (let i = 0; i < 2_000; i++) {
    const t0 = performance.now()
    await call(path, LIST)
    rtts.push(performance.now() - t0)
  }
  console.log(`request round trip, one client: median ${quantile(rtts, 0.5).toFixed(3)} ms, p99 ${quantile(rtts, 0.99).toFixed(3)} ms (2000 requests)`)
  const t0 = performance.now()
  let done = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (done < 8_000) {
        done++
        await call(path, LIST)
      }
    }),
  )
  console.log(`16 clients at once: ${Math.round(done / ((performance.now() - t0) / 1000))} requests/s`)
  await server.close()

  const guestPath = join(dir, "guest.sock")
  const api = join(dir, "cli-api.sock")
  const p = new CliProcess(["--socket", guestPath, "--api-socket", api, "--dns-upstream", "none", "--log-level", "warn"])
  try {
    await p.waitFor(/^tslirp: ready on /m)
    await arpRtts(guestPath, 200) // warm up
    const alone = await arpRtts(guestPath, 1_000)
    const stuck: Array<Socket> = []
    for (let i = 0; i < 31; i++) {
      const s = connect(api)
      s.on("error", () => undefined)
      await new Promise((r) => s.once("connect", r))
      stuck.push(s)
    }
    const beside = await arpRtts(guestPath, 1_000)
    for (const s of stuck) s.destroy()
    console.log(
      `guest ARP round trip through tslirp: median ${quantile(alone, 0.5).toFixed(3)} ms alone, ${quantile(beside, 0.5).toFixed(3)} ms with 31 silent control clients connected (p99 ${quantile(alone, 0.99).toFixed(3)} / ${quantile(beside, 0.99).toFixed(3)} ms)`,
    )
  } finally {
    await p.stop("SIGTERM")
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
