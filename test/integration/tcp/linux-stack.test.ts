/**
 * The whole stack reducer (ARP, IPv4, TCP layer, frame building) with Linux's TCP as the guest
 * behind a TAP device and real host sockets: uploads and downloads checked by SHA-256 at MTU
 * 1500 and 9000, short connections. This is the TCP layer's outputs going through the IP
 * layer's frame building and checksumming, which linux-guest.test.ts replaces with a shim.
 */
import { createHash } from "node:crypto"
import { createServer, type Server } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { StackEvent } from "../../../src/effects/event.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { createStack, reduce as rawReduce, type StackState } from "../../../src/protocol/stack/stack.ts"
import { checkedStackReduce } from "../../support/checked.ts"
import { hostSockets, type HostSockets } from "./host-sockets.ts"
import { startNetnsTap, type NetnsTap } from "./netns-tap.ts"

// Every event through the referential-transparency harness (test/support/checked.ts).
const reduce = checkedStackReduce(rawReduce)

const CLIENT = new URL("./guest-client.py", import.meta.url).pathname

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)))

for (const mtu of [1500, 9000]) {
  describe(`whole stack with a Linux guest, MTU ${mtu}`, () => {
    let tap: NetnsTap
    let host: HostSockets
    let state: StackState
    const logs: Array<string> = []
    const servers: Array<Server> = []
    const blob = Buffer.alloc(16 * 1024 * 1024)
    for (let i = 0; i < blob.length; i += 32) createHash("sha256").update(String(i)).digest().copy(blob, i)

    const feed = (ev: StackEvent): void => {
      const [s, fx] = reduce(state, ev)
      state = s
      for (const e of fx) {
        if (e._tag === "DeliverFrame") tap.send(e.frame)
        else if (e._tag === "Log") logs.push(`${e.level}: ${e.message}`)
        else host.perform(e)
      }
    }

    beforeAll(async () => {
      state = createStack({ ...defaultConfig, mtu, seed: 99 })
      host = hostSockets((ev) => feed(ev))
      tap = await startNetnsTap(
        [
          ["ip", "link", "set", "lo", "up"],
          ["ip", "link", "set", "tap0", "mtu", String(mtu), "up"],
          ["ip", "addr", "add", "10.0.2.15/24", "dev", "tap0"],
          ["ip", "route", "add", "default", "via", "10.0.2.2"],
          ["sysctl", "-q", "-w", "net.ipv6.conf.tap0.disable_ipv6=1"],
        ],
        (frame) => feed({ _tag: "FrameFromGuest", now: host.now(), frame }),
      )
    })

    afterAll(async () => {
      if (state !== undefined) feed({ _tag: "Shutdown", now: host.now() })
      host?.close()
      await tap?.close()
      for (const s of servers) s.close()
    })

    const server = async (handler: Parameters<typeof createServer>[1]): Promise<number> => {
      const s = createServer({ allowHalfOpen: true }, handler)
      servers.push(s)
      return listen(s)
    }

    it("guest -> host: 8 MiB upload arrives intact", async () => {
      const port = await server((s) => {
        const h = createHash("sha256")
        s.on("data", (d) => h.update(d))
        s.on("end", () => s.end(h.digest("hex")))
      })
      const r = await tap.exec(["python3", CLIENT, "upload", "10.0.2.2", String(port), String(8 * 1024 * 1024), "11"], 120_000)
      expect(r.code, r.stderr + logs.slice(-5).join("\n")).toBe(0)
      const [sent, received] = r.stdout.trim().split(" ")
      expect(received).toBe(sent)
    })

    it("host -> guest: 16 MiB download arrives intact", async () => {
      const port = await server((s) => s.end(blob))
      const r = await tap.exec(["python3", CLIENT, "download", "10.0.2.2", String(port)], 120_000)
      expect(r.code, r.stderr + logs.slice(-5).join("\n")).toBe(0)
      expect(r.stdout.trim()).toBe(`${blob.length} ${createHash("sha256").update(blob).digest("hex")}`)
    })

    it("50 short connections in a row", async () => {
      const port = await server((s) => {
        let got = ""
        s.on("data", (d) => (got += d.toString()))
        s.on("end", () => s.end(got.replace("ping", "pong")))
      })
      const r = await tap.exec(["python3", CLIENT, "many", "10.0.2.2", String(port), "50"], 120_000)
      expect(r.code, r.stderr + logs.slice(-5).join("\n")).toBe(0)
      expect(r.stdout.trim()).toBe("ok")
    })

    it("no resets", () => {
      expect(logs.filter((l) => l.includes("reset:"))).toEqual([])
      expect(host.resets()).toBe(0)
    })
  })
}
