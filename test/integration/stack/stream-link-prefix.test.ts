import { mkdtempSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { frameSlab } from "../../../src/runtime/host/session.ts"
import type { GuestConnection } from "../../../src/runtime/link/guest-link.ts"
import { StreamDecoder } from "../../../src/runtime/link/stream-framing.ts"
import { listenUnix } from "../../../src/runtime/link/stream-link.ts"
import { rng } from "../../unit/wire/prng.ts"

const quiet = { log: () => undefined, enabled: () => false }
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe("stream link: frames for the guest", () => {
  it("every frame arrives whole and in order with its length prefix, whether built in a slab (prefix in the headroom, runs uncopied) or not (seeded mix, odd and jumbo lengths)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tslirp-link-"))
    dirs.push(dir)
    let conn: GuestConnection | undefined
    const listener = await listenUnix(join(dir, "l.sock"), (c) => {
      conn = c
      return { onFrame: () => undefined, batch: (fill) => fill(), onClose: () => undefined }
    }, quiet)
    const client = connect(join(dir, "l.sock"))
    await new Promise<void>((r) => client.once("connect", () => r()))
    while (conn === undefined) await new Promise((r) => setTimeout(r, 5))

    const r = rng(4242)
    const sent: Uint8Array[] = []
    const received: Uint8Array[] = []
    const decoder = new StreamDecoder()
    client.on("data", (chunk: Buffer) => {
      expect(decoder.push(chunk, (f) => received.push(Uint8Array.from(f)))).toBeUndefined()
    })
    // Several batches, each a burst flushed as one writev, as the session does at a batch's end.
    for (let turn = 0; turn < 20; turn++) {
      for (let k = 0; k < 40; k++) {
        const len = k % 13 === 0 ? r.int(16000, 40000) : r.int(60, 1514)
        const f = k % 7 === 3 ? new Uint8Array(len) : frameSlab.frame(len)
        for (let i = 0; i < len; i++) f[i] = (i * 31 + turn + k) & 0xff
        sent.push(f.slice())
        conn.send(f)
      }
      conn.flush()
      await new Promise((res) => setImmediate(res))
    }
    const total = sent.length
    const deadline = Date.now() + 10_000
    while (received.length < total && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10))
    expect(received.length).toBe(total)
    for (let i = 0; i < total; i++) expect(received[i], `frame ${i}`).toEqual(sent[i])
    client.destroy()
    await listener.close()
  })
})
