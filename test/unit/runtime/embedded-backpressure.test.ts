/**
 * The embedder's side of backpressure and re-entrancy (embed/stack.ts): a busy guest's frames
 * are held in order and delivered on `guestReady`; an answer may be delivered inside
 * `fromGuest`; a callback that calls `fromGuest` is queued, never re-entering the stack.
 */
import { describe, expect, it } from "vitest"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import { EmbeddedStack, HELD_LIMIT_BYTES } from "../../../src/runtime/embed/stack.ts"
import { createMockHost } from "../../../src/runtime/mock/mock-host.ts"
import { arpRequest, readArpReply } from "../../integration/runtime/frames.ts"

const setup = () => {
  const host = createMockHost()
  const logger = memoryLogger()
  const stack = new EmbeddedStack({}, host.deps(logger), 1)
  const seen: Array<string> = []
  stack.onFrameToGuest((f) => void seen.push(readArpReply(f)?.ip ?? "other"))
  return { host, logger, stack, seen }
}

describe("EmbeddedStack: a guest that cannot take frames now", () => {
  it("an ARP reply is delivered inside fromGuest", () => {
    const { stack, seen } = setup()
    stack.fromGuest(arpRequest("10.0.2.15", "10.0.2.2"))
    expect(seen).toEqual(["10.0.2.2"])
  })

  it("while busy, frames are held; guestReady delivers them in order before newer ones", () => {
    const { stack, seen } = setup()
    stack.guestBusy()
    stack.fromGuest(arpRequest("10.0.2.15", "10.0.2.2"))
    stack.fromGuest(arpRequest("10.0.2.15", "10.0.2.3"))
    expect(seen).toEqual([])
    stack.guestReady()
    expect(seen).toEqual(["10.0.2.2", "10.0.2.3"])
    stack.fromGuest(arpRequest("10.0.2.15", "10.0.2.2"))
    expect(seen).toEqual(["10.0.2.2", "10.0.2.3", "10.0.2.2"])
  })

  it("a callback that says busy again while held frames are delivered keeps the rest held, in order", () => {
    const { stack, seen } = setup()
    stack.guestBusy()
    for (const ip of ["10.0.2.2", "10.0.2.3", "10.0.2.2"]) stack.fromGuest(arpRequest("10.0.2.15", ip))
    const off = stack.onFrameToGuest(() => {
      // The ring fills after each frame.
      stack.guestBusy()
    })
    stack.guestReady()
    expect(seen).toEqual(["10.0.2.2"])
    stack.guestReady()
    expect(seen).toEqual(["10.0.2.2", "10.0.2.3"])
    off()
    stack.guestReady()
    expect(seen).toEqual(["10.0.2.2", "10.0.2.3", "10.0.2.2"])
  })

  it("beyond the hold limit, frames are dropped with one debug line per burst", () => {
    const { stack, seen, logger } = setup()
    let length = 0
    const off = stack.onFrameToGuest((f) => void (length = f.length))
    stack.fromGuest(arpRequest("10.0.2.15", "10.0.2.2"))
    off()
    seen.length = 0
    const fit = Math.floor(HELD_LIMIT_BYTES / length)
    stack.guestBusy()
    const n = fit + 10
    for (let i = 0; i < n; i++) stack.fromGuest(arpRequest("10.0.2.15", "10.0.2.2"))
    expect(logger.lines.filter((l) => l.message.startsWith("guest busy")).map((l) => l.level)).toEqual(["debug"])
    stack.guestReady()
    expect(seen.length).toBe(fit)
  })

  it("a callback calling fromGuest is answered after the current frame, in order", () => {
    const { stack, seen } = setup()
    let once = true
    stack.onFrameToGuest(() => {
      if (once) {
        once = false
        stack.fromGuest(arpRequest("10.0.2.15", "10.0.2.3"))
        // Not re-entered: the nested frame waits for the current event to finish.
        expect(seen).toEqual(["10.0.2.2"])
      }
    })
    stack.fromGuest(arpRequest("10.0.2.15", "10.0.2.2"))
    expect(seen).toEqual(["10.0.2.2", "10.0.2.3"])
  })
})
