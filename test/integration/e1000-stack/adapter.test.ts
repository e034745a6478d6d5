/**
 * attachE1000's own rules, with a scripted link and the emulator's (virtual) clock, so no host
 * timer is involved: frames held while the card cannot take them and delivered in order later,
 * the bounded hold queue, deferral of frames a link delivers from inside an access, the I/O
 * BAR stub, link loss when the wire goes away, and close.
 */
import { describe, expect, it } from "vitest"
import { attachE1000, type AttachedE1000, type FrameLink } from "../../../src/runtime/e1000/index.ts"
import { E1000Driver, type ReceivedFrame } from "./e1000-driver.ts"
import { GuestRam } from "./guest-ram.ts"
import { BROADCAST, ether } from "./packets.ts"

const MS = 1_000_000

class ScriptedLink implements FrameLink {
  readonly sent: Array<Uint8Array> = []
  private readonly cbs = new Set<(f: Uint8Array) => void>()
  private closeCb: (() => void) | undefined
  closed = false
  /** Called for each frame the card sends (a synchronous "stack"). */
  reply: ((frame: Uint8Array) => void) | undefined

  send(frame: Uint8Array): void {
    this.sent.push(frame.slice())
    this.reply?.(frame)
  }
  onFrame(cb: (f: Uint8Array) => void): () => void {
    this.cbs.add(cb)
    return () => void this.cbs.delete(cb)
  }
  onClose(cb: () => void): void {
    this.closeCb = cb
  }
  deliver(frame: Uint8Array): void {
    for (const cb of this.cbs) cb(frame)
  }
  hangUp(): void {
    this.closeCb?.()
  }
  close(): void {
    this.closed = true
  }
}

const SRC = new Uint8Array([0x52, 0x55, 10, 0, 2, 2])

/** A broadcast frame whose payload starts with its sequence number. */
const numbered = (n: number): Uint8Array => {
  const payload = new Uint8Array(46)
  payload[0] = n >> 8
  payload[1] = n & 0xff
  return ether(BROADCAST, SRC, 0x88b5, payload) // IEEE local experimental ethertype
}
const numberOf = (f: ReceivedFrame): number => (f.frame[14]! << 8) | f.frame[15]!

interface Rig {
  readonly link: ScriptedLink
  readonly nic: AttachedE1000
  readonly driver: E1000Driver
  readonly got: Array<number>
  clock: number
  /** Advance the emulator clock and fire the card's due timers. */
  advance(ns: number): void
}

const rig = async (opts: { rx?: number; rxQueueLimit?: number } = {}): Promise<Rig> => {
  const link = new ScriptedLink()
  const ram = new GuestRam(2 * 1024 * 1024)
  let driver: E1000Driver | undefined
  const r: { clock: number } = { clock: 1_000 * MS }
  const nic = attachE1000({
    memory: ram,
    link,
    onIrq: (level) => driver?.irqLine(level),
    nowNs: () => r.clock,
    ...(opts.rxQueueLimit === undefined ? {} : { rxQueueLimit: opts.rxQueueLimit }),
  })
  driver = new E1000Driver(nic, ram, { rx: opts.rx ?? 16, tx: 16 })
  const got: Array<number> = []
  driver.onFrame((f) => got.push(numberOf(f)))
  await driver.bringUp()
  const rigObj: Rig = {
    link,
    nic,
    driver,
    got,
    get clock() {
      return r.clock
    },
    set clock(v: number) {
      r.clock = v
    },
    advance(ns) {
      r.clock += ns
      nic.advanceTo(r.clock)
    },
  }
  return rigObj
}

/**
 * The emulator runs: each turn lets the driver's interrupt handler (setImmediate) run and moves
 * the virtual clock on by 1 ms (the card's interrupt mitigation window closes on that clock),
 * until `done` or a bound of turns.
 */
const settle = async (r: Rig, done: () => boolean, turns = 200): Promise<void> => {
  for (let i = 0; i < turns && !done(); i++) {
    await new Promise((resolve) => setImmediate(resolve))
    r.advance(MS)
  }
}

describe("attachE1000 with the emulator's clock and a scripted link", () => {
  it("emulator clock: the link comes up only when the emulator advances past autonegotiation (500 ms)", async () => {
    const r = await rig()
    const { nic, driver, advance } = r
    expect(driver.linkUp).toBe(false) // autonegotiation restarted by the driver, 500 ms virtual
    const deadline = nic.nextDeadlineNs()
    expect(deadline).toBeDefined()
    advance(600 * MS)
    await settle(r, () => driver.stats.lscInterrupts > 0)
    expect(driver.linkUp).toBe(true)
    expect(driver.stats.lscInterrupts).toBe(1)
    nic.close()
  })

  it("frames arriving during the RCTL flush window are held (copied), then delivered in order with an interrupt", async () => {
    const r = await rig()
    const { nic, link, got, advance } = r
    advance(600 * MS) // link up; the RCTL flush timer (1 s) is still pending
    // One buffer, rewritten for every frame: a link's frame is only valid during its callback.
    const reused = numbered(0)
    for (let i = 0; i < 5; i++) {
      reused.set(numbered(i))
      link.deliver(reused)
    }
    reused.fill(0xee)
    expect(nic.rxQueued).toBe(5)
    await settle(r, () => false, 5)
    expect(got).toEqual([])
    advance(500 * MS) // past the flush deadline
    await settle(r, () => got.length === 5)
    expect(got).toEqual([0, 1, 2, 3, 4])
    expect(nic.rxQueued).toBe(0)
    expect(nic.rxDropped).toBe(0)
    nic.close()
  })

  it("a full receive ring: frames wait in the queue and follow as the driver advances RDT, none lost", async () => {
    const r = await rig({ rx: 8 })
    const { nic, link, got, advance } = r
    advance(1_100 * MS)
    for (let i = 0; i < 40; i++) link.deliver(numbered(i))
    expect(nic.rxQueued).toBeGreaterThan(0) // 7 usable descriptors took the first frames
    await settle(r, () => got.length === 40)
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i))
    expect(nic.rxDropped).toBe(0)
    nic.close()
  })

  it("the hold queue is bounded: beyond rxQueueLimit new frames are dropped and counted", async () => {
    const r = await rig({ rxQueueLimit: 4 })
    const { nic, link, got, advance } = r
    advance(600 * MS) // RX still blocked by the flush window
    for (let i = 0; i < 10; i++) link.deliver(numbered(i))
    expect(nic.rxQueued).toBe(4)
    expect(nic.rxDropped).toBe(6)
    advance(500 * MS)
    await settle(r, () => got.length === 4)
    expect(got).toEqual([0, 1, 2, 3])
    nic.close()
  })

  it("a link that answers inside the TDT write: the reply is delivered after the access returns", async () => {
    const r = await rig()
    const { nic, link, driver, got, advance } = r
    advance(1_100 * MS)
    let queuedAtReply = -1
    let irqDuringWrite = false
    link.reply = (frame) => {
      queuedAtReply = nic.rxQueued // the answer is queued, not yet in the ring
      link.deliver(numbered(frame[15]! + 100))
      queuedAtReply = nic.rxQueued
    }
    await settle(r, () => !nic.irq) // the LSC interrupt handled
    const irqBefore = nic.irq
    driver.send(numbered(7))
    irqDuringWrite = nic.irq
    expect(link.sent.length).toBe(1)
    expect(queuedAtReply).toBe(1) // held while the card was inside the write
    expect(nic.rxQueued).toBe(0) // and delivered when the write returned
    expect(irqBefore).toBe(false)
    expect(irqDuringWrite).toBe(true)
    await settle(r, () => got.length === 1)
    expect(got).toEqual([107])
    nic.close()
  })

  it("the I/O BAR is QEMU 7.2's stub; a link that goes away takes the card's link down; close closes the link", async () => {
    const r = await rig()
    const { nic, link, driver, advance } = r
    advance(1_100 * MS)
    expect(driver.linkUp).toBe(true)
    nic.ioWrite(0, 4, 0x8)
    expect(nic.ioRead(4, 4)).toBe(0)
    link.hangUp()
    expect(driver.linkUp).toBe(false)
    nic.close()
    expect(link.closed).toBe(true)
    link.deliver(numbered(1)) // after close: ignored
    expect(nic.rxQueued).toBe(0)
  })
})
