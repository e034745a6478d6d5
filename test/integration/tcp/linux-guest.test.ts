/**
 * The TCP layer against Linux's own TCP (a namespace behind a TAP device), with real host
 * sockets on 127.0.0.1: uploads and downloads checked by SHA-256, many short connections, a
 * refused port. Window scaling, SACK and timestamps are negotiated with a real peer here.
 */
import { createHash } from "node:crypto"
import { createServer, type Server } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startLinuxGuest, type LinuxGuest } from "./linux-guest.ts"

const CLIENT = new URL("./guest-client.py", import.meta.url).pathname

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)))

/** Deterministic bytes for the download (a counter hashed in blocks). */
const downloadBlob = (n: number): Buffer => {
  const out = Buffer.alloc(n)
  for (let o = 0, i = 0; o < n; o += 32, i++) createHash("sha256").update(String(i)).digest().copy(out, o)
  return out
}

for (const mtu of [1500, 9000]) {
  describe(`TCP layer with a Linux guest, MTU ${mtu}`, () => {
    let guest: LinuxGuest
    let sink: Server
    let sinkPort = 0
    let source: Server
    let sourcePort = 0
    let pong: Server
    let pongPort = 0
    const blob = downloadBlob(16 * 1024 * 1024)

    beforeAll(async () => {
      guest = await startLinuxGuest(mtu)
      sink = createServer({ allowHalfOpen: true }, (s) => {
        const h = createHash("sha256")
        s.on("data", (d) => h.update(d))
        s.on("end", () => s.end(h.digest("hex")))
      })
      sinkPort = await listen(sink)
      source = createServer((s) => s.end(blob))
      sourcePort = await listen(source)
      pong = createServer({ allowHalfOpen: true }, (s) => {
        let got = ""
        s.on("data", (d) => (got += d.toString()))
        s.on("end", () => s.end(got.replace("ping", "pong")))
      })
      pongPort = await listen(pong)
    })

    afterAll(async () => {
      await guest?.close()
      sink?.close()
      source?.close()
      pong?.close()
    })

    it("guest -> host: 8 MiB upload arrives intact (SHA-256 on both ends)", async () => {
      const r = await guest.exec(["python3", CLIENT, "upload", "10.0.2.2", String(sinkPort), String(8 * 1024 * 1024), "7"], 120_000)
      expect(r.code, r.stderr + guest.logs.slice(-5).join("\n")).toBe(0)
      const [sent, received] = r.stdout.trim().split(" ")
      expect(received).toBe(sent)
    })

    it("host -> guest: 16 MiB download arrives intact", async () => {
      const r = await guest.exec(["python3", CLIENT, "download", "10.0.2.2", String(sourcePort)], 120_000)
      expect(r.code, r.stderr + guest.logs.slice(-5).join("\n")).toBe(0)
      const [n, hash] = r.stdout.trim().split(" ")
      expect(Number(n)).toBe(blob.length)
      expect(hash).toBe(createHash("sha256").update(blob).digest("hex"))
    })

    it("100 short connections in a row", async () => {
      const r = await guest.exec(["python3", CLIENT, "many", "10.0.2.2", String(pongPort), "100"], 120_000)
      expect(r.code, r.stderr + guest.logs.slice(-5).join("\n")).toBe(0)
      expect(r.stdout.trim()).toBe("ok")
    })

    it("a closed host port -> the guest sees ECONNREFUSED (RST)", async () => {
      const closed = createServer()
      const port = await listen(closed)
      closed.close()
      const r = await guest.exec(["python3", CLIENT, "refused", "10.0.2.2", String(port)], 30_000)
      expect(r.stdout.trim()).toBe("ConnectionRefusedError")
    })

    it("no connection was reset along the way (besides the refused one)", () => {
      expect(guest.logs.filter((l) => l.includes("reset:") && !l.includes("host connect failed (ECONNREFUSED)"))).toEqual([])
      expect(guest.stats.resets).toBe(0)
    })
  })
}

describe("TCP layer with a Linux guest over a link dropping 2% of frames each way", () => {
  let guest: LinuxGuest
  let sink: Server
  let source: Server
  const blob = downloadBlob(4 * 1024 * 1024)

  beforeAll(async () => {
    guest = await startLinuxGuest(1500, {}, 0.02)
    sink = createServer({ allowHalfOpen: true }, (s) => {
      const h = createHash("sha256")
      s.on("data", (d) => h.update(d))
      s.on("end", () => s.end(h.digest("hex")))
    })
    source = createServer((s) => s.end(blob))
  })

  afterAll(async () => {
    await guest?.close()
    sink?.close()
    source?.close()
  })

  it("4 MiB each way arrive intact", async () => {
    const up = await guest.exec(["python3", CLIENT, "upload", "10.0.2.2", String(await listen(sink)), String(4 * 1024 * 1024), "9"], 120_000)
    expect(up.code, up.stderr + guest.logs.slice(-5).join("\n")).toBe(0)
    const [sent, received] = up.stdout.trim().split(" ")
    expect(received).toBe(sent)
    const down = await guest.exec(["python3", CLIENT, "download", "10.0.2.2", String(await listen(source))], 120_000)
    expect(down.code, down.stderr + guest.logs.slice(-5).join("\n")).toBe(0)
    expect(down.stdout.trim()).toBe(`${blob.length} ${createHash("sha256").update(blob).digest("hex")}`)
    expect(guest.logs.filter((l) => l.includes("reset:"))).toEqual([])
  })
})
