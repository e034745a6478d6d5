/**
 * TFTP through the real interpreter on the mocked host: a guest-side client (frames) against
 * the stack with a TFTP root, files from the mocked host's in-memory directories, a TestClock
 * (it.effect).
 * Every event goes through the referential-transparency harness.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { afterEach, describe, expect } from "vitest"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { openSession, type StackMachine } from "../../../src/runtime/host/session.ts"
import { makeMockHost, type MockGuest, type MockHost } from "../../../src/runtime/mock/mock-host.ts"
import { TFTP_MAX_RETRANSMITS, TFTP_MAX_SESSIONS, TFTP_RETRANSMIT_MS } from "../../../src/protocol/tftp/server.ts"
import { checkedMachine } from "../../support/checked.ts"
import { TftpGuestClient } from "../../support/tftp-guest-client.ts"

const checked = checkedMachine()
afterEach(() => expect(checked.failures.splice(0)).toEqual([]))

const ROOT = "/srv/tftp"
const bytes = (n: number, salt = 0) => new Uint8Array(n).map((_, i) => (i * 31 + salt) & 0xff)

const setup = (latencyMs = 1) =>
  Effect.gen(function* () {
    const host = yield* makeMockHost({ latencyMs, machine: checked.machine as StackMachine<unknown> })
    host.files(ROOT, { "boot.img": bytes(3000), "dir/kernel": bytes(1468 * 2, 5), "link-out": { error: "EACCES" }, sub: { error: "EISDIR" } })
    const guest = host.attach({ tftpRoot: ROOT })
    return { host, guest }
  })

/** Runs clients to completion: every frame the stack delivers goes to each client; answers go back. */
const run = (host: MockHost, guest: MockGuest, clients: ReadonlyArray<TftpGuestClient>, drop?: (answer: Uint8Array, n: number) => boolean): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (const c of clients) yield* guest.send(c.request())
    let answers = 0
    for (let step = 0; step < 10_000 && !clients.every((c) => c.done); step++) {
      const frames = guest.take()
      if (frames.length === 0) {
        yield* host.advance(100)
        continue
      }
      for (const f of frames)
        for (const c of clients) {
          const answer = c.receive(f)
          if (answer !== undefined && !(drop?.(answer, answers++) ?? false)) yield* guest.send(answer)
        }
    }
  })

describe("mocked host: TFTP from the gateway", () => {
  it.effect("busybox-style fetch: the file arrives whole, the file is closed after the last ACK", () =>
    Effect.gen(function* () {
      const { host, guest } = yield* setup()
      const c = new TftpGuestClient("boot.img", [["tsize", "0"]])
      yield* run(host, guest, [c])
      expect(c.error).toBeUndefined()
      expect(c.oack).toEqual([["tsize", "3000"]])
      expect([...c.data]).toEqual([...bytes(3000)])
      yield* host.advance(10)
      expect(host.openFiles()).toBe(0)
      expect(guest.logs.some((l) => l.level === "info" && l.message.includes('sent "boot.img"'))).toBe(true)
    }),
  )

  it.effect("blksize 1468 at MTU 1500: two full blocks and an empty last one, each in one frame", () =>
    Effect.gen(function* () {
      const { host, guest } = yield* setup()
      const c = new TftpGuestClient("dir/kernel", [["blksize", "1468"]])
      yield* run(host, guest, [c])
      expect(c.blocks.map((b) => b.length)).toEqual([1468, 1468, 0])
      expect([...c.data]).toEqual([...bytes(1468 * 2, 5)])
      expect(guest.frames.every((f) => f.frame.length <= 1514)).toBe(true)
    }),
  )

  it.effect("lost ACKs are recovered by the server's retransmission", () =>
    Effect.gen(function* () {
      const { host, guest } = yield* setup()
      const c = new TftpGuestClient("boot.img")
      // Drop the 2nd and 3rd answers (ACK 2, then ACK 2 again after the resend).
      yield* run(host, guest, [c], (_a, n) => n === 1 || n === 2)
      expect([...c.data]).toEqual([...bytes(3000)])
      const resent = guest.effects.filter((e) => e._tag === "SetTimer").length
      expect(resent).toBeGreaterThan(7) // one per block, plus the resends
    }),
  )

  it.effect("a silent client: the server gives up after its retransmissions and closes the file", () =>
    Effect.gen(function* () {
      const { host, guest } = yield* setup()
      yield* guest.send(new TftpGuestClient("boot.img").request())
      yield* host.advance(TFTP_RETRANSMIT_MS * (TFTP_MAX_RETRANSMITS + 2))
      const frames = guest.take()
      expect(frames).toHaveLength(TFTP_MAX_RETRANSMITS + 2) // DATA 1, its resends, error 0
      const c = new TftpGuestClient("boot.img")
      for (const f of frames) c.receive(f)
      expect(c.error).toEqual({ code: 0, message: "timed out" })
      expect(host.openFiles()).toBe(0)
    }),
  )

  it.effect.each([
    ["missing.bin", 1, "file not found"],
    ["link-out", 2, "access violation"],
    ["sub", 2, "access violation"],
    ["../etc/passwd", 2, "access violation"],
  ] as const)("%s: error %d", ([name, code, message]) =>
    Effect.gen(function* () {
      const { host, guest } = yield* setup()
      const c = new TftpGuestClient(name)
      yield* run(host, guest, [c])
      expect(c.error).toEqual({ code, message })
      expect(host.openFiles()).toBe(0)
    }),
  )

  it.effect(`${TFTP_MAX_SESSIONS} clients at once all get the file; one more is told to try later`, () =>
    Effect.gen(function* () {
      const { host, guest } = yield* setup(5)
      const clients = Array.from({ length: TFTP_MAX_SESSIONS }, (_, i) => new TftpGuestClient("boot.img", [], 5000 + i))
      const extra = new TftpGuestClient("boot.img", [], 6000)
      yield* run(host, guest, [...clients, extra])
      expect(clients.map((c) => c.data.length)).toEqual(clients.map(() => 3000))
      expect(extra.error).toEqual({ code: 0, message: "too many transfers, try again later" })
      expect(host.openFiles()).toBe(0)
    }),
  )

  it.effect("a runtime without files (HostDeps.files absent): the request fails with error 0 at once, with one warning", () =>
    Effect.gen(function* () {
      const host = yield* makeMockHost({ machine: checked.machine as StackMachine<unknown> })
      const logs: Array<string> = []
      const { files: _files, ...deps } = host.deps({ enabled: () => true, log: (level, message) => void logs.push(`${level}: ${message}`) })
      const client = new TftpGuestClient("boot.img")
      const session = openSession({ ...defaultConfig, tftpRoot: ROOT }, deps, (frame) => void client.receive(frame), { machine: checked.machine })
      session.fromGuest(client.request())
      yield* host.settle
      expect(client.error).toEqual({ code: 0, message: "cannot read the file" })
      expect(logs.filter((l) => l.startsWith("warn:"))).toEqual(["warn: tftp: this runtime has no file port (HostDeps.files); file requests fail"])
      session.shutdown()
    }),
  )

  it.effect("shutdown mid-transfer closes the file", () =>
    Effect.gen(function* () {
      const { host, guest } = yield* setup()
      yield* guest.send(new TftpGuestClient("boot.img").request())
      yield* host.advance(5)
      expect(host.openFiles()).toBe(1)
      yield* guest.shutdown()
      expect(host.openFiles()).toBe(0)
    }),
  )
})
