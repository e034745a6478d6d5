import { describe, expect, it } from "vitest"
import { createE1000 } from "../../../src/device/e1000/api.ts"
import { Bench, bytes, createSyncE1000, ether, ICR_BITS, MAC, REG, step as e1000Step } from "./harness.ts"

describe("e1000 interrupts and mitigation", () => {
  it("first edge raises at once and opens a 500*256 ns window; edges inside it only set ICR", () => {
    const b = new Bench()
    b.enablePci()
    b.now = 1000
    b.write(REG.IMS, ICR_BITS.LSC | ICR_BITS.MDAC)
    b.write(REG.ICS, ICR_BITS.LSC)
    expect(b.irqs).toEqual([true])
    expect(b.timers.get("mit")).toBe(1000 + 128_000)
    b.read(REG.ICR) // falling edge: immediate
    expect(b.irqs).toEqual([true, false])
    b.now = 50_000
    b.write(REG.ICS, ICR_BITS.MDAC)
    expect(b.irqs).toEqual([true, false]) // held
    expect(b.read(REG.ICS)).toBe(ICR_BITS.MDAC)
    b.advance(1000 + 128_000 - 1 - b.now)
    expect(b.irqs).toEqual([true, false])
    b.advance(1)
    expect(b.irqs).toEqual([true, false, true])
    expect(b.timers.get("mit")).toBe(129_000 + 128_000) // re-armed by the raise
  })

  it("ITR widens the window (ITR=1000 -> 256 us)", () => {
    const b = new Bench()
    b.enablePci()
    b.write(REG.ITR, 1000)
    b.write(REG.IMS, ICR_BITS.LSC)
    b.write(REG.ICS, ICR_BITS.LSC)
    expect(b.timers.get("mit")).toBe(256_000)
  })

  it("RADV applies only when RDTR != 0 and RXT0 is pending; TADV only after an IDE descriptor", () => {
    const b = new Bench()
    b.enablePci()
    b.write(REG.RADV, 1000) // 1000 * 4 = 4000 units
    b.write(REG.IMS, ICR_BITS.RXT0)
    b.write(REG.ICS, ICR_BITS.RXT0)
    expect(b.timers.get("mit")).toBe(128_000) // RDTR = 0: RADV ignored
    const c = new Bench()
    c.enablePci()
    c.write(REG.RDTR, 1)
    c.write(REG.RADV, 1000)
    c.write(REG.IMS, ICR_BITS.RXT0)
    c.write(REG.ICS, ICR_BITS.RXT0)
    expect(c.timers.get("mit")).toBe(4000 * 256)
    const t = new Bench()
    t.enablePci()
    t.txRing(8)
    t.write(REG.TADV, 200) // 800 units
    t.write(REG.IMS, ICR_BITS.TXDW)
    const f = ether([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], Array.from(MAC), 0x0800, bytes(50))
    t.mem.set(f, 0x20000)
    t.txDesc(0, 0x20000, f.length | (1 << 24) | (1 << 27) | 0x80000000, 0)
    t.write(REG.TCTL, 2)
    t.write(REG.TDT, 1)
    expect(t.irqs).toEqual([true])
    expect(t.timers.get("mit")).toBe(800 * 256)
  })

  it("IMS on a pending cause raises; IMC lowers at once", () => {
    const b = new Bench()
    b.enablePci()
    b.write(REG.ICS, ICR_BITS.RXT0)
    expect(b.irqs).toEqual([])
    b.write(REG.IMS, ICR_BITS.RXT0)
    expect(b.irqs).toEqual([true])
    b.write(REG.IMC, ICR_BITS.RXT0)
    expect(b.irqs).toEqual([true, false])
  })

  it("reset cancels armed timers", () => {
    const b = new Bench()
    b.write(REG.IMS, ICR_BITS.LSC)
    b.write(REG.ICS, ICR_BITS.LSC)
    b.write(REG.RCTL, 2)
    expect(b.timers.size).toBe(2)
    b.step({ _tag: "Reset" })
    expect(b.timers.size).toBe(0)
  })
})

describe("e1000 pure reducer: DMA suspension", () => {
  it("a TDT write suspends on each DmaRead; events meanwhile wait and run after completion", () => {
    let s = createE1000({ mac: MAC })
    const mem = new Uint8Array(0x30000)
    const dv = new DataView(mem.buffer)
    const f = ether([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], Array.from(MAC), 0x0800, bytes(50))
    mem.set(f, 0x20000)
    dv.setUint32(0x10000, 0x20000, true)
    dv.setUint32(0x10008, f.length | (1 << 24) | (1 << 27), true)
    const step = (ev: Parameters<typeof e1000Step>[2]) => {
      const [next, eff] = e1000Step(s, 0, ev)
      s = next
      return eff
    }
    step({ _tag: "ConfigWrite", offset: 4, size: 2, value: 6 })
    step({ _tag: "MmioWrite", offset: REG.TDBAL, size: 4, value: 0x10000 })
    step({ _tag: "MmioWrite", offset: REG.TDLEN, size: 4, value: 128 })
    step({ _tag: "MmioWrite", offset: REG.TCTL, size: 4, value: 2 })
    step({ _tag: "MmioRead", offset: REG.ICR, size: 4 })
    const e1 = step({ _tag: "MmioWrite", offset: REG.TDT, size: 4, value: 1 })
    expect(e1).toEqual([{ _tag: "DmaRead", request: 1, address: 0x10000, length: 16 }])
    // a read arriving while suspended is answered only after the transmit completes
    expect(step({ _tag: "MmioRead", offset: REG.TDH, size: 4 })).toEqual([])
    const e2 = step({ _tag: "DmaReadDone", request: 1, data: mem.slice(0x10000, 0x10010) })
    expect(e2).toEqual([{ _tag: "DmaRead", request: 2, address: 0x20000, length: f.length }])
    expect(step({ _tag: "DmaReadDone", request: 99, data: new Uint8Array(0) })).toEqual([]) // stray
    const e3 = step({ _tag: "DmaReadDone", request: 2, data: mem.slice(0x20000, 0x20000 + f.length) })
    expect(e3.map((e) => e._tag)).toEqual(["Transmit", "DmaWrite", "ReadValue"])
    expect(e3[2]).toEqual({ _tag: "ReadValue", value: 1 })
  })
})

describe("e1000 sync wrapper", () => {
  it("transmits and receives against synchronous memory with callbacks", () => {
    const mem = new Uint8Array(0x100000)
    const dv = new DataView(mem.buffer)
    const sent: Uint8Array[] = []
    const irqs: boolean[] = []
    let now = 0
    let ready = 0
    const nic = createSyncE1000({
      mac: MAC,
      memory: { read: (a, n) => mem.subarray(a, a + n), write: (a, d) => mem.set(d, a) },
      onTransmit: (fr) => sent.push(fr),
      onIrq: (l) => irqs.push(l),
      nowNs: () => now,
      onRxReady: () => ready++,
    })
    nic.configWrite(4, 2, 6)
    nic.mmioWrite(REG.IMS, 4, ICR_BITS.RXT0 | ICR_BITS.TXDW)
    // TX
    const f = ether([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], Array.from(MAC), 0x0800, bytes(50))
    mem.set(f, 0x20000)
    dv.setUint32(0x10000, 0x20000, true)
    dv.setUint32(0x10008, f.length | (1 << 24) | (1 << 27), true)
    nic.mmioWrite(REG.TDBAL, 4, 0x10000)
    nic.mmioWrite(REG.TDLEN, 4, 128)
    nic.mmioWrite(REG.TCTL, 4, 2)
    nic.mmioWrite(REG.TDT, 4, 1)
    expect(sent).toEqual([f])
    expect(nic.irq).toBe(true)
    expect(nic.mmioRead(REG.ICR, 4)).toBe(ICR_BITS.TXDW | ICR_BITS.TXQE)
    expect(nic.irq).toBe(false)
    // RX
    for (let i = 0; i < 8; i++) dv.setUint32(0x11000 + 16 * i, 0x40000 + 0x1000 * i, true)
    nic.mmioWrite(REG.RDBAL, 4, 0x11000)
    nic.mmioWrite(REG.RDLEN, 4, 128)
    nic.mmioWrite(REG.RDT, 4, 7)
    nic.mmioWrite(REG.RCTL, 4, 0x8002)
    expect(nic.receive(f)).toBe(false)
    expect(nic.nextDeadlineNs()).toBe(128_000) // the mit window opened by the TX interrupt
    now = 2_000_000_000
    nic.advanceTo(now)
    expect(ready).toBe(1)
    expect(nic.receive(f)).toBe(true)
    expect(mem[0x11000 + 12]).toBe(0x07)
    expect(mem.slice(0x40000, 0x40000 + f.length)).toEqual(f)
    expect(nic.irq).toBe(true) // the mit window from the TX raise expired long ago
  })
})
