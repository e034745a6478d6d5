/**
 * The Effect structure: the same program runs on the Node layer or the mocked host layer, and
 * the scope owns listeners and sessions (closing it releases the socket file and the guests).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterAll, afterEach, describe, expect } from "vitest"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import { hostDeps } from "../../../src/runtime/host/services.ts"
import { openSession } from "../../../src/runtime/host/session.ts"
import { serveGuests } from "../../../src/runtime/link/serve.ts"
import { GuestLinks, nodeGuestLinksLayer } from "../../../src/runtime/link/service.ts"
import { memoryGuestLinks } from "../../../src/runtime/mock/memory-link.ts"
import { mockHostLayer } from "../../../src/runtime/mock/layer.ts"
import { makeMockHost } from "../../../src/runtime/mock/mock-host.ts"
import { logLayer, nodeHostLayer } from "../../../src/runtime/node/layer.ts"
import { checkedMachine } from "../../support/checked.ts"
import { StreamGuest } from "./cli-process.ts"
import { arpRequest, readArpReply, readUdp, udpFrame } from "./frames.ts"

const dir = mkdtempSync(join(tmpdir(), "tslirp-layers-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// The session opened here runs the real stack through the referential-transparency harness
// (test/support/checked.ts). `serveGuests` opens its sessions itself with the real stack (it has
// no machine option), so the two tests through it are not checked.
const checked = checkedMachine()
afterEach(() => expect(checked.failures.splice(0)).toEqual([]))

describe("host services as Effect layers", () => {
  it.effect("mockHostLayer: a session built from the services runs on the TestClock", () =>
    Effect.gen(function* () {
      const host = yield* makeMockHost()
      host.udpEcho("127.0.0.1", 9999)
      const deps = yield* Effect.provide(hostDeps, mockHostLayer(host, memoryLogger()))
      const frames: Array<Uint8Array> = []
      const session = openSession(defaultConfig, deps, (f) => void frames.push(f.slice()), { machine: checked.machine })
      session.fromGuest(arpRequest("10.0.2.15", "10.0.2.2"))
      const gw = readArpReply(frames.shift()!)!
      session.fromGuest(udpFrame({ dstMac: gw.mac, src: "10.0.2.15", dst: "10.0.2.2", srcPort: 1234, dstPort: 9999, payload: Uint8Array.of(42) }))
      expect(frames).toEqual([])
      yield* host.settle
      expect(frames.map(readUdp)).toEqual([{ src: "10.0.2.2", dst: "10.0.2.15", srcPort: 9999, dstPort: 1234, payload: Uint8Array.of(42) }])
    }),
  )

  it("nodeHostLayer + serveGuests: the scope owns the listener and every guest session", async () => {
    const path = join(dir, "scoped.sock")
    const log = memoryLogger()
    let guest: StreamGuest | undefined
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const [listener] = yield* serveGuests({ config: defaultConfig, links: [{ _tag: "Unix", path }] })
          expect(listener!.address).toBe(`unix:${path}`)
          guest = yield* Effect.promise(() => StreamGuest.open({ path }))
          guest.send(arpRequest("10.0.2.15", "10.0.2.2"))
          yield* Effect.promise(() => guest!.next((f) => readArpReply(f)))
        }),
      ).pipe(Effect.provide(Layer.mergeAll(Layer.provideMerge(nodeHostLayer, logLayer(log)), nodeGuestLinksLayer))),
    )
    await guest!.closed // closing the scope dropped the guest
    expect(existsSync(path)).toBe(false)
    // The scope closed with the guest still there: its session was shut down (annotated with it).
    expect(log.lines.map((l) => l.message)).toContain(`guest=unix:${path}#1 guest session shut down`)
  })

  it.effect("a guest session's log lines carry the guest, and a line about a flow the flow too, as Effect log annotations", () =>
    Effect.gen(function* () {
      const host = yield* makeMockHost()
      host.udpEcho("127.0.0.1", 7777)
      const links = memoryGuestLinks()
      const log = memoryLogger()
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* serveGuests({ config: defaultConfig, links: [{ _tag: "Unix", path: "unused" }] })
          const a = links.connect()
          a.send(arpRequest("10.0.2.15", "10.0.2.2"))
          const gw = readArpReply(a.frames[0]!)!
          a.send(udpFrame({ dstMac: gw.mac, src: "10.0.2.15", dst: "10.0.2.2", srcPort: 41000, dstPort: 7777, payload: Uint8Array.of(1) }))
          yield* host.advance(250_000) // the idle UDP flow expires (a debug line about it)
        }),
      ).pipe(Effect.provide(Layer.mergeAll(mockHostLayer(host, log), Layer.succeed(GuestLinks, links))))
      expect(log.lines.map((l) => l.message)).toContain("guest=memory:1 protocol=udp guestEndpoint=10.0.2.15:41000 udp: flow 10.0.2.15:41000 expired")
    }),
  )

  it.effect("mock host + memory links: serveGuests gives each guest its own stack; the scope drops them all", () =>
    Effect.gen(function* () {
      const host = yield* makeMockHost()
      const links = memoryGuestLinks()
      const log = memoryLogger()
      const seen: Array<[boolean, boolean]> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const [listener] = yield* serveGuests({ config: defaultConfig, links: [{ _tag: "Unix", path: "unused" }] })
          expect(listener!.address).toBe("memory:Unix#1")
          const a = links.connect()
          const b = links.connect()
          a.send(arpRequest("10.0.2.15", "10.0.2.2"))
          expect(a.frames.map((f) => readArpReply(f)?.ip)).toEqual(["10.0.2.2"])
          expect(b.frames).toEqual([])
          a.disconnect()
          b.send(arpRequest("10.0.2.16", "10.0.2.3"))
          expect(b.frames.map((f) => readArpReply(f)?.ip)).toEqual(["10.0.2.3"])
          seen.push([a.closed, b.closed])
          yield* Effect.addFinalizer(() => Effect.sync(() => seen.push([a.closed, b.closed])))
        }),
      ).pipe(Effect.provide(Layer.mergeAll(mockHostLayer(host, log), Layer.succeed(GuestLinks, links))))
      // a left by itself; b was dropped when the scope closed (finalizers run in reverse order,
      // so the finalizer added last saw b still connected).
      expect(seen).toEqual([
        [true, false],
        [true, false],
      ])
      expect(log.lines.filter((l) => /^guest=\S+ guest (disconnected|session shut down)/.test(l.message)).map((l) => l.message)).toEqual([
        "guest=memory:1 guest disconnected",
        // The listener, opened after the sessions' set, closes first and drops b.
        "guest=memory:2 guest disconnected",
      ])
    }),
  )
})
