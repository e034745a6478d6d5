/**
 * Host TCP below Node's streams (src/runtime/node/tcp.ts with the addon's native stream), and
 * through them (TSLIRP_NATIVE_LINK=0), against real loopback sockets: writes the kernel cannot
 * take at once continue through Node's stream in order, each write is reported once with all
 * its bytes; small reads handed over as views of a pool chunk are never written again; an
 * adopted hostfwd client (read natively too) carries data both ways and its FIN is reported once.
 */
import { connect, createServer, type Server, type Socket } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import type { StackEvent } from "../../../src/effects/event.ts"
import { socketId } from "../../../src/effects/ids.ts"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import { nodeClock } from "../../../src/runtime/node/clock.ts"
import { nodeTcp } from "../../../src/runtime/node/tcp.ts"

const cleanup: Array<() => void> = []
const saved = process.env["TSLIRP_NATIVE_LINK"]
const savedTcp = process.env["TSLIRP_NATIVE_TCP"]
afterEach(() => {
  for (const c of cleanup.splice(0)) c()
  if (saved === undefined) delete process.env["TSLIRP_NATIVE_LINK"]
  else process.env["TSLIRP_NATIVE_LINK"] = saved
  if (savedTcp === undefined) delete process.env["TSLIRP_NATIVE_TCP"]
  else process.env["TSLIRP_NATIVE_TCP"] = savedTcp
})

const listen = (onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> =>
  new Promise((resolve) => {
    const server = createServer({ allowHalfOpen: true }, onConn)
    server.listen(0, "127.0.0.1", () => {
      cleanup.push(() => server.close())
      resolve({ server, port: (server.address() as { port: number }).port })
    })
  })

const until = async (cond: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 10_000
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** Deterministic bytes: position i holds (i * 7 + seed) & 0xff. */
const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff)

const s1 = socketId(1)

/** Our connection (socket 1) to a loopback peer, connected; `data` collects what we read from the peer. */
const connectedToPeer = async (): Promise<{ readonly peer: Socket; readonly data: Array<Uint8Array> }> => {
  let peer: Socket | undefined
  const { port } = await listen((s) => {
    peer = s
  })
  const data: Array<Uint8Array> = []
  const events: Array<StackEvent> = []
  const tcp = nodeTcp(nodeClock, memoryLogger())((e) => {
    events.push(e)
    if (e._tag === "HostTcpData") data.push(e.data)
  })
  cleanup.push(() => tcp.closeAll())
  tcp.connect(s1, { family: 4, address: "127.0.0.1", port })
  await until(() => events.some((e) => e._tag === "HostTcpConnected") && peer !== undefined, "connected")
  return { peer: peer!, data }
}

for (const mode of [
  { name: "native", env: "1" },
  { name: "node streams", env: "0" },
] as const) {
  describe(`host TCP (${mode.name})`, () => {
    it("writes beyond the kernel's buffer arrive whole and in order; one HostTcpWritten per write with all its bytes", async () => {
      process.env["TSLIRP_NATIVE_LINK"] = mode.env
      process.env["TSLIRP_NATIVE_TCP"] = mode.env
      const received: Array<Buffer> = []
      let peer: Socket | undefined
      // The peer does not read until told: our writes fill the kernel's buffers first.
      const { port } = await listen((s) => {
        peer = s
        s.pause()
        s.on("data", (d) => received.push(d))
      })
      const events: Array<StackEvent> = []
      const tcp = nodeTcp(nodeClock, memoryLogger())((e) => events.push(e))
      cleanup.push(() => tcp.closeAll())
      tcp.connect(s1, { family: 4, address: "127.0.0.1", port })
      await until(() => events.some((e) => e._tag === "HostTcpConnected") && peer !== undefined, "connected")
      // 24 writes of 3 chunks each, 1 MiB per write: far beyond loopback's socket buffers.
      const writes: Array<ReadonlyArray<Uint8Array>> = []
      for (let w = 0; w < 24; w++) {
        const whole = pattern(1 << 20, w)
        const chunks = [whole.subarray(0, 1000), whole.subarray(1000, 300_000), whole.subarray(300_000)]
        writes.push(chunks)
        tcp.write(s1, chunks)
      }
      peer!.resume()
      const total = 24 << 20
      await until(() => received.reduce((n, b) => n + b.length, 0) >= total, "all bytes at the peer")
      await until(() => events.filter((e) => e._tag === "HostTcpWritten").length >= 24, "24 HostTcpWritten")
      const got = Buffer.concat(received)
      expect(got.length).toBe(total)
      const sent = Buffer.concat(writes.flat())
      expect(got.equals(sent)).toBe(true)
      const written = events.filter((e) => e._tag === "HostTcpWritten")
      expect(written.map((e) => (e._tag === "HostTcpWritten" ? e.bytes : 0))).toEqual(Array(24).fill(1 << 20))
    })

    it("small reads stay intact while later reads arrive (views of a pool chunk are never reused)", async () => {
      process.env["TSLIRP_NATIVE_LINK"] = mode.env
      process.env["TSLIRP_NATIVE_TCP"] = mode.env
      const messages = Array.from({ length: 300 }, (_, i) => pattern(1 + ((i * 37) % 900), i))
      const { peer, data } = await connectedToPeer()
      // One message at a time, each read before the next is sent: many small reads.
      let sent = 0
      for (const m of messages) {
        peer.write(m)
        sent += m.length
        await until(() => data.reduce((n, d) => n + d.length, 0) >= sent, "the message")
      }
      expect(data.length).toBeGreaterThan(50)
      expect(Buffer.concat(data).equals(Buffer.concat(messages))).toBe(true)
    })

    it("a burst far larger than one read arrives whole, in reads of at most 64 KiB (one read is one burst of segments to the guest)", async () => {
      process.env["TSLIRP_NATIVE_LINK"] = mode.env
      process.env["TSLIRP_NATIVE_TCP"] = mode.env
      const { peer, data } = await connectedToPeer()
      const burst = pattern(4 << 20, 9)
      peer.write(burst)
      await until(() => data.reduce((n, d) => n + d.length, 0) >= burst.length, "the burst")
      expect(Buffer.concat(data).equals(burst)).toBe(true)
      expect(Math.max(...data.map((d) => d.length))).toBeLessThanOrEqual(64 * 1024)
    })

    it("an adopted hostfwd client carries data both ways; its FIN is reported once, even when reading resumes after it", async () => {
      process.env["TSLIRP_NATIVE_LINK"] = mode.env
      process.env["TSLIRP_NATIVE_TCP"] = mode.env
      const events: Array<StackEvent> = []
      const data: Array<Uint8Array> = []
      const tcp = nodeTcp(nodeClock, memoryLogger())((e) => {
        events.push(e)
        if (e._tag === "HostTcpData") data.push(e.data)
      })
      cleanup.push(() => tcp.closeAll())
      const listener = socketId(10)
      tcp.listen!(listener, { family: 4, address: "127.0.0.1", port: 0 })
      await until(() => events.some((e) => e._tag === "HostListening"), "listening")
      const listening = events.find((e) => e._tag === "HostListening")
      const port = listening?._tag === "HostListening" ? listening.port : 0
      const client = connect({ host: "127.0.0.1", port, allowHalfOpen: true })
      cleanup.push(() => client.destroy())
      const fromUs: Array<Buffer> = []
      client.on("data", (d: Buffer) => fromUs.push(d))
      await until(() => events.some((e) => e._tag === "HostTcpAccepted"), "accepted")
      const accepted = events.find((e) => e._tag === "HostTcpAccepted")
      // Sent before the adoption: held unread by the kernel until then, and not lost.
      const early = pattern(500, 1)
      client.write(early)
      tcp.adopt!(s1, accepted?._tag === "HostTcpAccepted" ? accepted.accepted : -1)
      const late = pattern(3000, 2)
      client.write(late)
      await until(() => data.reduce((n, d) => n + d.length, 0) >= 3500, "the client's bytes")
      expect(Buffer.concat(data).equals(Buffer.concat([early, late]))).toBe(true)
      tcp.write(s1, [pattern(2000, 3), pattern(10, 4)])
      await until(() => fromUs.reduce((n, d) => n + d.length, 0) >= 2010, "our bytes at the client")
      expect(Buffer.concat(fromUs).equals(Buffer.concat([pattern(2000, 3), pattern(10, 4)]))).toBe(true)
      client.end()
      await until(() => events.some((e) => e._tag === "HostTcpEof"), "the client's FIN")
      tcp.setReading(s1, false)
      tcp.setReading(s1, true)
      // A round trip after the FIN: a second reader, had reading resumed one, has seen EOF by then.
      tcp.write(s1, [pattern(100, 5)])
      await until(() => fromUs.reduce((n, d) => n + d.length, 0) >= 2110, "the last bytes at the client")
      tcp.shutdownWrite(s1)
      await new Promise<void>((r) => client.once("end", () => r()))
      expect(tcp.close(s1)).toBe(true)
      await until(() => events.some((e) => e._tag === "HostSocketClosed"), "closed")
      expect(events.filter((e) => e._tag === "HostTcpEof").length).toBe(1)
      expect(events.filter((e) => e._tag === "HostSocketError")).toEqual([])
    })
  })
}
