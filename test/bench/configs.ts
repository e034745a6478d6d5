/**
 * The benchmark's configurations: which backend, which link, which MTU, and where the iperf3
 * server runs. Every backend sees the same guest: a namespace with 10.0.2.15/24 via 10.0.2.2
 * (static, no DHCP), iperf3 server on the host's 127.0.0.1 reached as 10.0.2.2.
 *
 * Contract: `setup` returns ready guests or throws (and leaves nothing behind); `teardown`
 * removes everything `setup` made.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createNetnsGuest, type Backend, type NetnsGuest } from "../support/netns.ts"
import { startDgramRelay, startStreamRelay } from "./relay.ts"

export interface Setup {
  readonly client: NetnsGuest
  readonly serverGuest: NetnsGuest | null
  /** Address iperf3 -s binds (where the server runs). */
  readonly serverAddress: string
  /** Address the client in the guest connects to. */
  readonly target: string
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
  setup(options: BenchOptions): Promise<Setup>
}

const slirpLike = (id: string, label: string, mtu: number, backend: Backend): Config => ({
  id,
  label,
  mtu,
  setup: async (options) => {
    const client = await createNetnsGuest({ backend, mtu, tslirpNodeArgs: options.tslirpNodeArgs })
    try {
      await client.configureStatic("10.0.2.15/24", "10.0.2.2")
    } catch (err) {
      await client.destroy()
      throw err
    }
    return {
      client,
      serverGuest: null,
      serverAddress: "127.0.0.1",
      target: "10.0.2.2",
      alive: () => client.backendAlive(),
      diagnostics: () => client.diagnostics(),
      teardown: () => client.destroy(),
    }
  },
})

/** Two namespace guests, A (10.0.2.15, iperf3 client) and B (10.0.2.2, server), joined by a relay. */
const relayed = (id: string, label: string, mtu: number, link: "stream" | "dgram"): Config => ({
  id,
  label,
  mtu,
  setup: async () => {
    const made: Array<() => Promise<void>> = []
    const teardown = async (): Promise<void> => {
      for (const f of made.reverse()) await f()
    }
    try {
      let backends: readonly [Backend, Backend]
      if (link === "stream") {
        const dir = mkdtempSync(join(tmpdir(), "tslirp-relay-"))
        made.push(async () => rmSync(dir, { recursive: true, force: true }))
        const relay = await startStreamRelay(join(dir, "relay.sock"))
        made.push(() => relay.close())
        backends = [
          { _tag: "QemuStream", path: relay.path },
          { _tag: "QemuStream", path: relay.path },
        ]
      } else {
        const relay = await startDgramRelay()
        made.push(() => relay.close())
        backends = [
          { _tag: "QemuDgram", ...relay.a },
          { _tag: "QemuDgram", ...relay.b },
        ]
      }
      const a = await createNetnsGuest({ backend: backends[0], mtu })
      made.push(() => a.destroy())
      const b = await createNetnsGuest({ backend: backends[1], mtu })
      made.push(() => b.destroy())
      await a.run(["ip", "addr", "add", "10.0.2.15/24", "dev", a.ifname])
      await b.run(["ip", "addr", "add", "10.0.2.2/24", "dev", b.ifname])
      return {
        client: a,
        serverGuest: b,
        serverAddress: "10.0.2.2",
        target: "10.0.2.2",
        alive: () => a.backendAlive() && b.backendAlive(),
        diagnostics: () => `${a.diagnostics()}\n${b.diagnostics()}`,
        teardown,
      }
    } catch (err) {
      await teardown()
      throw err
    }
  },
})

export const CONFIGS: ReadonlyArray<Config> = [
  slirpLike("tslirp-stream-1500", "tslirp, -netdev stream", 1500, { _tag: "TslirpStream" }),
  slirpLike("libslirp-1500", "libslirp, -netdev user", 1500, { _tag: "Libslirp" }),
  slirpLike("tslirp-stream-32000", "tslirp, -netdev stream", 32000, { _tag: "TslirpStream" }),
  slirpLike("slirp4netns-32000", "slirp4netns", 32000, { _tag: "Slirp4netns" }),
  slirpLike("tslirp-dgram-65000", "tslirp, -netdev dgram", 65000, { _tag: "TslirpDgram" }),
  slirpLike("slirp4netns-65000", "slirp4netns", 65000, { _tag: "Slirp4netns" }),
  relayed("relay-stream-1500", "ceiling: byte relay, stream", 1500, "stream"),
  relayed("relay-stream-32000", "ceiling: byte relay, stream", 32000, "stream"),
  relayed("relay-dgram-65000", "ceiling: datagram relay, dgram", 65000, "dgram"),
]

/** tslirp against its reference at the same MTU: the target is >= 1.0 both ways. */
export const RATIOS: ReadonlyArray<readonly [string, string]> = [
  ["tslirp-stream-1500", "libslirp-1500"],
  ["tslirp-stream-32000", "slirp4netns-32000"],
  ["tslirp-dgram-65000", "slirp4netns-65000"],
]
