/**
 * The stream link read and written below Node's streams (native-stream.ts) and through them
 * (TSLIRP_NATIVE_LINK=0) behave alike: frames split anywhere arrive whole and in order, in
 * batches per read; answers flushed at a batch's end reach the guest; the guest closing its end
 * closes the connection once.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { GuestConnection } from "../../../src/runtime/link/guest-link.ts"
import { encodeFrame, StreamDecoder } from "../../../src/runtime/link/stream-framing.ts"
import { listenUnix } from "../../../src/runtime/link/stream-link.ts"
import { loadAddon } from "../../../src/runtime/node/addon.ts"

const quiet = { log: () => undefined, enabled: () => false }
const dirs: string[] = []
const saved = process.env["TSLIRP_NATIVE_LINK"]
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  if (saved === undefined) delete process.env["TSLIRP_NATIVE_LINK"]
  else process.env["TSLIRP_NATIVE_LINK"] = saved
})

const until = async (cond: () => boolean): Promise<void> => {
  const deadline = Date.now() + 10_000
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
}

const modes = [
  { name: "native", env: "1" },
  { name: "node streams", env: "0" },
] as const

describe("stream link: reading and writing the guest's socket", () => {
  it("the addon has the guest stream functions", () => {
    const addon = loadAddon()
    expect(typeof addon === "string" ? addon : typeof addon["streamOpen"]).toBe("function")
  })

  for (const mode of modes) {
    it(`${mode.name}: frames split at any byte arrive whole, in order; each is answered once; the guest closing is one onClose`, async () => {
      process.env["TSLIRP_NATIVE_LINK"] = mode.env
      const dir = mkdtempSync(join(tmpdir(), "tslirp-native-"))
      dirs.push(dir)
      const got: Array<Uint8Array> = []
      let batches = 0
      let closes = 0
      let conn: GuestConnection | undefined
      const listener = await listenUnix(
        join(dir, "g.sock"),
        (c) => {
          conn = c
          return {
            onFrame: (f) => {
              got.push(f)
              // Echo it back: queued until the batch ends.
              c.send(Uint8Array.from(f))
            },
            batch: (fill) => {
              batches++
              fill()
              c.flush()
            },
            onClose: () => void closes++,
          }
        },
        quiet,
      )
      const client = connect(join(dir, "g.sock"))
      await new Promise<void>((r) => client.once("connect", () => r()))
      const echoed: Array<Uint8Array> = []
      const decoder = new StreamDecoder()
      client.on("data", (chunk: Buffer) => void decoder.push(chunk, (f) => echoed.push(Uint8Array.from(f))))

      const sent: Array<Uint8Array> = []
      for (let i = 0; i < 50; i++) {
        const f = new Uint8Array(60 + ((i * 97) % 1400))
        f.fill(i)
        sent.push(f)
      }
      const bytes = Buffer.concat(sent.map(encodeFrame))
      // Cut at odd places (inside prefixes and bodies), one write per piece.
      for (let off = 0, k = 1; off < bytes.length; k++) {
        const n = Math.min(bytes.length - off, (k * 331) % 2000 + 1)
        client.write(bytes.subarray(off, off + n))
        off += n
        if (k % 5 === 0) await new Promise((r) => setImmediate(r))
      }
      await until(() => echoed.length >= sent.length)
      expect(conn).toBeDefined()
      expect(got.map((f) => Array.from(f))).toEqual(sent.map((f) => Array.from(f)))
      expect(echoed.map((f) => Array.from(f))).toEqual(sent.map((f) => Array.from(f)))
      expect(batches).toBeGreaterThan(0)
      client.end()
      await until(() => closes > 0)
      expect(closes).toBe(1)
      await listener.close()
      expect(closes).toBe(1)
    })
  }
})
