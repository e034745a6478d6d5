/**
 * The benchmark's configurations: which backend, which link, which MTU, and how one direction
 * is measured. The slirp-like backends see the same guest: a namespace with 10.0.2.15/24 via
 * 10.0.2.2 (static, no DHCP) running the iperf3 client, iperf3 server on the host's 127.0.0.1
 * reached as 10.0.2.2. The IPv6 rows (ids with "6-") use the same guest configured by SLAAC
 * from the backend's router advertisement (fec0::/64, default via fe80::2), iperf3 server on
 * the host's ::1 reached as fec0::2.
 *
 * Contract: `setup` returns ready guests or throws (and leaves nothing behind); `teardown`
 * removes everything `setup` made; `measure` never throws.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { createNetnsGuest, freeTcpPort, NODE, type Backend, type NetnsGuest } from "../support/netns.ts"
import { measure as iperf, measureHostfwd, type Direction, type Outcome } from "./iperf.ts"
import { measureLatency, type LatencyResult } from "./latency.ts"
import { floodFrame, startDgramNullLink, startStreamNullLink, type NullLink } from "./link.ts"
import { startDgramRelay, startStreamRelay } from "./relay.ts"

export interface Setup {
  measure(direction: Direction, seconds: number): Promise<Outcome>
  /** Request/response, connection rate and ping to the gateway (latency.ts); slirp-like backends at 1500 only. */
  latency?(seconds: number): Promise<LatencyResult>
  /** Backend processes still running (a crash mid-run is reported with the figure). */
  alive(): boolean
  diagnostics(): string
  teardown(): Promise<void>
}

export interface BenchOptions {
  /** Extra node arguments for tslirp (profiling). */
  readonly tslirpNodeArgs: ReadonlyArray<string>
}

export interface Config {
  readonly id: string
  readonly label: string
  readonly mtu: number
  /** Run without `--only`. */
  readonly byDefault: boolean
  setup(options: BenchOptions): Promise<Setup>
}

const failed = (reason: string): Outcome => ({ _tag: "Failed", reason })

/** Undo list: run in reverse order of creation. */
const undoList = (): { push(f: () => Promise<void>): void; run(): Promise<void> } => {
  const fs: Array<() => Promise<void>> = []
  return {
    push: (f) => void fs.push(f),
    run: async () => {
      for (const f of fs.reverse()) await f()
      fs.length = 0
    },
  }
}

const tempDir = (undo: ReturnType<typeof undoList>, prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  undo.push(async () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * The slirp-like guest: over IPv4 with 10.0.2.15/24 via 10.0.2.2 and the host's 127.0.0.1 as
 * 10.0.2.2; over IPv6 by SLAAC from the backend's RA and the host's ::1 as fec0::2.
 */
const slirpLike = (id: string, label: string, mtu: number, backend: Backend, ip: 4 | 6 = 4): Config => ({
  id,
  label,
  mtu,
  byDefault: true,
  setup: async (options) => {
    const client = await createNetnsGuest({ backend, mtu, tslirpNodeArgs: options.tslirpNodeArgs })
    try {
      await (ip === 4 ? client.configureStatic("10.0.2.15/24", "10.0.2.2") : waitSlaac(client))
    } catch (err) {
      await client.destroy()
      throw err
    }
    const [serverAddress, target] = ip === 4 ? ["127.0.0.1", "10.0.2.2"] : ["::1", "fec0::2"]
    return {
      measure: async (direction, seconds) => iperf({ client, serverGuest: null, serverAddress, target, port: await freeTcpPort(), seconds, direction }),
      ...(mtu === 1500 && ip === 4 ? { latency: (seconds: number) => measureLatency(client, seconds) } : {}),
      alive: () => client.backendAlive(),
      diagnostics: () => client.diagnostics(),
      teardown: () => client.destroy(),
    }
  },
})

/** Waits for the guest's SLAAC address in fec0::/64 (DAD done) and its default route via fe80::2. */
const waitSlaac = async (guest: NetnsGuest): Promise<void> => {
  let seen = ""
  for (let i = 0; i < 80; i++) {
    const addrs = (await guest.run(["ip", "-6", "-o", "addr", "show", "dev", guest.ifname])).split("\n").filter((l) => l.includes("inet6 fec0:"))
    const route = await guest.run(["ip", "-6", "route", "show", "default"])
    seen = `${addrs.join("\n")}\n${route}`
    if (addrs.length > 0 && !addrs.some((l) => /tentative/.test(l)) && /default via fe80::2/.test(route)) return
    await sleep(250)
  }
  throw new Error(`no SLAAC address in fec0::/64 with a default route via fe80::2 after 20 s:\n${seen}`)
}

/** The port iperf3 listens on inside the guest for the hostfwd configurations. */
const GUEST_IPERF_PORT = 5201

/**
 * hostfwd: the same guest as `slirpLike`, iperf3 -s in it, the client on the host's loopback at
 * a port the backend forwards to it (`backend(hostPort)` adds the rule).
 */
const hostfwd = (id: string, label: string, mtu: number, backend: (hostPort: number) => Backend): Config => ({
  id,
  label,
  mtu,
  byDefault: true,
  setup: async (options) => {
    const hostPort = await freeTcpPort()
    const guest = await createNetnsGuest({ backend: backend(hostPort), mtu, tslirpNodeArgs: options.tslirpNodeArgs })
    try {
      await guest.configureStatic("10.0.2.15/24", "10.0.2.2")
    } catch (err) {
      await guest.destroy()
      throw err
    }
    return {
      measure: (direction, seconds) => measureHostfwd({ guest, guestAddress: "10.0.2.15", guestPort: GUEST_IPERF_PORT, hostPort, seconds, direction }),
      alive: () => guest.backendAlive(),
      diagnostics: () => guest.diagnostics(),
      teardown: () => guest.destroy(),
    }
  },
})

/** Two namespace guests, A (10.0.2.15, iperf3 client) and B (10.0.2.2, server), joined by a byte relay. */
const relayed = (id: string, label: string, mtu: number, link: "stream" | "dgram"): Config => ({
  id,
  label,
  mtu,
  byDefault: false,
  setup: async () => {
    const undo = undoList()
    try {
      let backends: readonly [Backend, Backend]
      if (link === "stream") {
        const relay = await startStreamRelay(join(tempDir(undo, "tslirp-relay-"), "relay.sock"))
        undo.push(() => relay.close())
        backends = [
          { _tag: "QemuStream", path: relay.path },
          { _tag: "QemuStream", path: relay.path },
        ]
      } else {
        const relay = await startDgramRelay()
        undo.push(() => relay.close())
        backends = [
          { _tag: "QemuDgram", ...relay.a },
          { _tag: "QemuDgram", ...relay.b },
        ]
      }
      const a = await createNetnsGuest({ backend: backends[0], mtu })
      undo.push(() => a.destroy())
      const b = await createNetnsGuest({ backend: backends[1], mtu })
      undo.push(() => b.destroy())
      await a.run(["ip", "addr", "add", "10.0.2.15/24", "dev", a.ifname])
      await b.run(["ip", "addr", "add", "10.0.2.2/24", "dev", b.ifname])
      return {
        measure: async (direction, seconds) =>
          iperf({ client: a, serverGuest: b, serverAddress: "10.0.2.2", target: "10.0.2.2", port: await freeTcpPort(), seconds, direction }),
        alive: () => a.backendAlive() && b.backendAlive(),
        diagnostics: () => `${a.diagnostics()}\n${b.diagnostics()}`,
        teardown: () => undo.run(),
      }
    } catch (err) {
      await undo.run()
      throw err
    }
  },
})

const BLAST = fileURLToPath(new URL("./udp-blast.ts", import.meta.url))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const rxBytes = async (guest: NetnsGuest): Promise<number> => {
  const out = await guest.run(["cat", `/sys/class/net/${guest.ifname}/statistics/rx_bytes`])
  return Number(out.trim())
}

const measureLink = async (guest: NetnsGuest, link: NullLink, mtu: number, direction: Direction, seconds: number): Promise<Outcome> => {
  try {
    switch (direction) {
      case "guest->host": {
        link.resetReceived()
        // UDP payload that fills one frame: MTU minus IPv4 and UDP headers.
        const r = await guest.exec([NODE, BLAST, "10.0.2.2", "9", String(mtu - 28), String(seconds)], { timeoutMs: (seconds + 30) * 1_000 })
        if (r.code !== 0) return failed(`udp-blast exited with ${r.code}: ${r.stderr.trim()}`)
        await sleep(200)
        const { bytes, spanMs } = link.received()
        if (bytes === 0 || spanMs <= 0) return failed("no frames reached the null backend")
        return { _tag: "Measured", gbps: (bytes * 8) / (spanMs * 1e6), retransmits: null, bytes: null }
      }
      case "host->guest": {
        const mac = (await guest.run(["cat", `/sys/class/net/${guest.ifname}/address`])).trim().split(":").map((h) => Number.parseInt(h, 16))
        link.startSource(floodFrame(mac, mtu))
        await sleep(1_000) // let the pipeline fill, like iperf3 -O 1
        const before = await rxBytes(guest)
        const t0 = performance.now()
        await sleep(seconds * 1_000)
        const after = await rxBytes(guest)
        const t1 = performance.now()
        link.stopSource()
        await sleep(200)
        if (after <= before) return failed("no frames reached the guest")
        return { _tag: "Measured", gbps: ((after - before) * 8) / ((t1 - t0) * 1e6), retransmits: null, bytes: null }
      }
      default:
        return direction satisfies never
    }
  } catch (err) {
    link.stopSource()
    return failed(err instanceof Error ? err.message : String(err))
  }
}

/** One namespace guest on QEMU's link to a null backend in this process. */
const nullLink = (id: string, label: string, mtu: number, link: "stream" | "dgram"): Config => ({
  id,
  label,
  mtu,
  byDefault: true,
  setup: async () => {
    const undo = undoList()
    try {
      const nl = link === "stream" ? await startStreamNullLink(join(tempDir(undo, "tslirp-link-"), "link.sock")) : await startDgramNullLink()
      undo.push(() => nl.close())
      const guest = await createNetnsGuest({ backend: nl.backend, mtu })
      undo.push(() => guest.destroy())
      await guest.configureStatic("10.0.2.15/24", "10.0.2.2")
      // Nothing answers ARP on a null link: pin the gateway's address.
      await guest.run(["ip", "neigh", "replace", "10.0.2.2", "lladdr", "52:55:0a:00:02:02", "dev", guest.ifname, "nud", "permanent"])
      return {
        measure: (direction, seconds) => measureLink(guest, nl, mtu, direction, seconds),
        alive: () => guest.backendAlive(),
        diagnostics: () => guest.diagnostics(),
        teardown: () => undo.run(),
      }
    } catch (err) {
      await undo.run()
      throw err
    }
  },
})

export const CONFIGS: ReadonlyArray<Config> = [
  slirpLike("tslirp-stream-1500", "tslirp, -netdev stream", 1500, { _tag: "TslirpStream" }),
  slirpLike("libslirp-1500", "libslirp, -netdev user", 1500, { _tag: "Libslirp" }),
  slirpLike("tslirp6-stream-1500", "tslirp over IPv6, -netdev stream", 1500, { _tag: "TslirpStream" }, 6),
  slirpLike("libslirp6-1500", "libslirp over IPv6, -netdev user", 1500, { _tag: "Libslirp" }, 6),
  slirpLike("tslirp-stream-32000", "tslirp, -netdev stream", 32000, { _tag: "TslirpStream" }),
  slirpLike("slirp4netns-32000", "slirp4netns", 32000, { _tag: "Slirp4netns" }),
  slirpLike("tslirp-dgram-65000", "tslirp, -netdev dgram", 65000, { _tag: "TslirpDgram" }),
  slirpLike("slirp4netns-65000", "slirp4netns", 65000, { _tag: "Slirp4netns" }),
  hostfwd("hostfwd-tslirp-stream-1500", "hostfwd: tslirp, -netdev stream", 1500, (p) => ({ _tag: "TslirpStream", extraArgs: ["--hostfwd", `tcp:127.0.0.1:${p}-10.0.2.15:${GUEST_IPERF_PORT}`] })),
  hostfwd("hostfwd-libslirp-1500", "hostfwd: libslirp, -netdev user", 1500, (p) => ({ _tag: "Libslirp", netdevOptions: `,hostfwd=tcp:127.0.0.1:${p}-10.0.2.15:${GUEST_IPERF_PORT}` })),
  nullLink("link-stream-1500", "ceiling: null backend, stream", 1500, "stream"),
  nullLink("link-stream-32000", "ceiling: null backend, stream", 32000, "stream"),
  nullLink("link-dgram-65000", "ceiling: null backend, dgram", 65000, "dgram"),
  relayed("relay-stream-1500", "byte relay, 2 guests, stream", 1500, "stream"),
  relayed("relay-stream-32000", "byte relay, 2 guests, stream", 32000, "stream"),
  relayed("relay-dgram-65000", "byte relay, 2 guests, dgram", 65000, "dgram"),
]

/**
 * tslirp as built at an earlier commit (`--baseline REF`, see baseline.ts), on the links and MTUs
 * where a change's cost is judged: stream at 1500 and 32000.
 */
export const baselineConfigs = (short: string, main: string): ReadonlyArray<Config> => [
  slirpLike(`baseline-stream-1500`, `tslirp ${short} (before), -netdev stream`, 1500, { _tag: "TslirpStream", main }),
  slirpLike(`baseline-stream-32000`, `tslirp ${short} (before), -netdev stream`, 32000, { _tag: "TslirpStream", main }),
]

/** The baseline against tslirp now: throughput and tslirp's CPU seconds per GB, now / before. */
export const BASELINE_RATIOS: ReadonlyArray<readonly [string, string]> = [
  ["tslirp-stream-1500", "baseline-stream-1500"],
  ["tslirp-stream-32000", "baseline-stream-32000"],
]

/** Latency of tslirp against libslirp (targets: rates >= 0.8x, ping <= +0.1 ms). */
export const LATENCY_RATIOS: ReadonlyArray<readonly [string, string]> = [
  ["tslirp-stream-1500", "libslirp-1500"],
  ["tslirp-stream-1500", "baseline-stream-1500"],
]

/** tslirp against its reference at the same MTU: the target is >= 1.0 both ways. */
export const RATIOS: ReadonlyArray<readonly [string, string]> = [
  ["tslirp-stream-1500", "libslirp-1500"],
  // IPv6 (issue 10): the target is at least the IPv4 ratio of the row above.
  ["tslirp6-stream-1500", "libslirp6-1500"],
  ["hostfwd-tslirp-stream-1500", "hostfwd-libslirp-1500"],
  ["tslirp-stream-32000", "slirp4netns-32000"],
  ["tslirp-dgram-65000", "slirp4netns-65000"],
]
