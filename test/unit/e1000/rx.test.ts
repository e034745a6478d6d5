import { describe, expect, it } from "vitest"
import { Bench, bytes, ether, ICR_BITS, MAC, REG } from "./harness.ts"

const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
const OURS = Array.from(MAC)
const OTHER = [0x52, 0x54, 0x00, 0x99, 0x99, 0x99]
const PEER = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]

const RCTL_EN = 0x2
const UPE = 0x8
const MPE = 0x10
const LPE = 0x20
const BAM = 0x8000
const VFE = 1 << 18
const SECRC = 1 << 26

const setup = (rctl = RCTL_EN | BAM, n = 8): Bench => {
  const b = new Bench()
  b.enablePci()
  b.rxRing(n, rctl)
  b.read(REG.ICR)
  return b
}

describe("e1000 receive: gating and queueing", () => {
  it("the RCTL write holds receive off for 1000 ms (ms-quantised); the held frame is re-offered at RxFlush", () => {
    const b = new Bench()
    b.enablePci()
    b.now = 2_500_000
    for (let i = 0; i < 8; i++) b.put32(Bench.RX_RING + 16 * i, 0x40000 + i * 0x1000)
    b.write(REG.RDBAL, Bench.RX_RING)
    b.write(REG.RDLEN, 128)
    b.write(REG.RDT, 7)
    b.write(REG.RCTL, RCTL_EN | BAM)
    expect(b.timers.get("flush")).toBe(1_002_000_000)
    const f = ether(BCAST, PEER, 0x0806, bytes(46))
    expect(b.receive(f)).toBe(false)
    expect(b.receive(f)).toBe(false)
    b.advance(1_002_000_000 - b.now)
    expect(b.flushes).toBe(1)
    expect(b.receive(f)).toBe(true)
    expect(b.rxDesc(0).status).toBe(0x07)
  })

  it("refused without bus mastering, with RCTL.EN clear, with a full ring", () => {
    const b = setup()
    const f = ether(BCAST, PEER, 0x0806, bytes(46))
    b.write(REG.RDT, 0) // RDH == RDT: no free descriptor
    expect(b.receive(f)).toBe(false)
    b.write(REG.RDT, 7)
    expect(b.flushes).toBe(1) // RDT write with free buffers flushes
    expect(b.receive(f)).toBe(true)
    b.cfgWrite(0x04, 0x0002, 2)
    expect(b.receive(f)).toBe(false)
    b.cfgWrite(0x04, 0x0006, 2)
    expect(b.flushes).toBe(2) // enabling bus mastering flushes
    expect(b.receive(f)).toBe(true)
    b.write(REG.RCTL, BAM)
    expect(b.receive(f)).toBe(false)
    expect(b.read(REG.RDH)).toBe(2)
  })

  it("a held frame re-offered while the link is down is dropped, and the next one is offered fresh", () => {
    const b = setup()
    const f = ether(BCAST, PEER, 0x0806, bytes(46))
    b.write(REG.RDT, 0)
    expect(b.receive(f)).toBe(false) // parked: the host holds it
    expect(b.receive(f)).toBe(false) // QEMU would not read more while one is queued
    b.step({ _tag: "Link", up: false })
    b.write(REG.RDT, 7)
    expect(b.flushes).toBe(1)
    expect(b.receive(f)).toBe(true) // dropped at delivery (link down)
    expect(b.receive(f)).toBe(true) // dropped by the backend
    expect(b.read(REG.TPR)).toBe(0)
    b.step({ _tag: "Link", up: true }) // autoneg restarts: LU stays 0 for 500 ms
    expect(b.receive(f)).toBe(false)
    b.advance(500_000_000)
    expect(b.flushes).toBe(2)
    expect(b.receive(f)).toBe(true)
    expect(b.read(REG.TPR)).toBe(1)
  })

  it("the queued frame is delivered at the flush point itself: a flush timer due with autoneg drops it (LU still 0)", () => {
    const b = new Bench()
    b.enablePci()
    for (let i = 0; i < 8; i++) b.put32(Bench.RX_RING + 16 * i, 0x40000 + i * 0x1000)
    b.write(REG.RDBAL, Bench.RX_RING)
    b.write(REG.RDLEN, 128)
    b.write(REG.RDT, 7)
    b.write(REG.RCTL, RCTL_EN | BAM) // flush timer at 1000 ms
    b.now = 500_000_000
    b.write(REG.MDIC, (1 << 26) | (1 << 21) | 0x1340) // restart autoneg: done at 1000 ms too
    const f = ether(BCAST, PEER, 0x0806, bytes(46))
    expect(b.receive(f)).toBe(false)
    b.advance(500_000_000) // flush fires first (armed first) and drops it; then autoneg
    expect(b.flushes).toBe(1)
    expect(b.receive(f)).toBe(true) // the host's re-offer of the queued frame: already consumed
    expect(b.read(REG.TPR)).toBe(0)
    expect(b.read(REG.STATUS) & 2).toBe(2)
    expect(b.receive(f)).toBe(true) // a fresh frame is received
    expect(b.read(REG.TPR)).toBe(1)
  })

  it("receive with the backend link down drops the frame", () => {
    const b = setup()
    b.step({ _tag: "Link", up: false })
    expect(b.receive(ether(BCAST, PEER, 0x0806, bytes(46)))).toBe(true)
    expect(b.read(REG.TPR)).toBe(0)
  })
})

describe("e1000 receive: descriptors", () => {
  it("short frames are padded to 60; length counts the FCS; status DD|EOP|IXSM; csum/errors kept", () => {
    const b = setup()
    b.mem[Bench.RX_RING + 10] = 0xbb
    b.mem[Bench.RX_RING + 11] = 0xbb
    b.mem[Bench.RX_RING + 12] = 0xf0
    b.mem[Bench.RX_RING + 13] = 0x5a
    const f = ether(BCAST, PEER, 0x0806, bytes(28)) // 42 bytes
    expect(b.receive(f)).toBe(true)
    const d = b.rxDesc(0)
    expect(d).toEqual({ addr: 0x40000, length: 64, csum: 0xbbbb, status: 0xf7, errors: 0x5a, special: 0 })
    expect(b.mem.slice(0x40000, 0x40000 + 60)).toEqual(Uint8Array.from([...f, ...new Uint8Array(18)]))
    expect(b.mem[0x40000 + 60]).toBe(0) // FCS bytes are never written
    expect(b.read(REG.RDH)).toBe(1)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.RXT0)
    expect(b.read(REG.PRC64)).toBe(1)
    expect(b.read(REG.TORL)).toBe(64)
  })

  it("SECRC: lengths exclude the FCS", () => {
    const b = setup(RCTL_EN | BAM | SECRC)
    b.receive(ether(BCAST, PEER, 0x0806, bytes(100)))
    expect(b.rxDesc(0).length).toBe(114)
  })

  it("a frame larger than the buffer spans descriptors; EOP only on the last", () => {
    const b = setup(RCTL_EN | BAM | (3 << 16)) // 256-byte buffers
    const f = ether(BCAST, PEER, 0x0800, bytes(586)) // 600 bytes + FCS = 604
    expect(b.receive(f)).toBe(true)
    expect([0, 1, 2].map((i) => b.rxDesc(i).length)).toEqual([256, 256, 92])
    expect([0, 1, 2].map((i) => b.rxDesc(i).status)).toEqual([0x01, 0x01, 0x07])
    expect(b.mem.slice(0x41000, 0x41000 + 256)).toEqual(f.subarray(256, 512))
    expect(b.mem.slice(0x42000, 0x42000 + 88)).toEqual(f.subarray(512))
  })

  it("a descriptor with a null buffer address is consumed without data", () => {
    const b = setup()
    b.put32(Bench.RX_RING, 0)
    b.mem[Bench.RX_RING + 8] = 0x33
    const f = ether(BCAST, PEER, 0x0806, bytes(46))
    b.receive(f)
    expect(b.rxDesc(0)).toMatchObject({ length: 0x33, status: 0x01 })
    expect(b.rxDesc(1)).toMatchObject({ length: 64, status: 0x07 })
  })

  it("overrun when the frame needs more buffers than are free: RNBC, MPC, RXO", () => {
    const b = setup(RCTL_EN | BAM | LPE)
    b.write(REG.RDT, 1)
    expect(b.receive(ether(BCAST, PEER, 0x0800, bytes(3000)))).toBe(true)
    expect(b.read(REG.RNBC)).toBe(1)
    expect(b.read(REG.MPC)).toBe(1)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.RXO)
    expect(b.read(REG.RDH)).toBe(0)
  })

  it("RXDMT0 when free descriptors fall to RDLEN >> (RDMTS + 1)", () => {
    const b = setup(RCTL_EN | BAM, 16) // 16 descriptors, threshold 256 >> 1 = 128 bytes = 8 descriptors
    const f = ether(BCAST, PEER, 0x0806, bytes(46))
    const causes: number[] = []
    for (let i = 0; i < 8; i++) {
      b.receive(f)
      causes.push(b.read(REG.ICR))
    }
    // RDT = 15; after k frames RDH = k, free = 15 - k; RXDMT0 once (15 - k) * 16 <= 128
    expect(causes).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x90, 0x90])
  })

  it("oversize frames without LPE are dropped and counted in ROC; SBP lets them through", () => {
    const b = setup()
    const big = ether(BCAST, PEER, 0x0800, bytes(1600))
    expect(b.receive(big)).toBe(true)
    expect(b.read(REG.ROC)).toBe(1)
    expect(b.read(REG.RDH)).toBe(0)
    const sbp = setup(RCTL_EN | BAM | 0x4)
    expect(sbp.receive(big)).toBe(true)
    expect(sbp.read(REG.ROC)).toBe(0)
    expect(sbp.read(REG.RDH)).toBe(1)
  })
})

describe("e1000 receive: filtering", () => {
  const accepts = (rctl: number, dst: ReadonlyArray<number>, prep?: (b: Bench) => void): boolean => {
    const b = setup(rctl)
    prep?.(b)
    b.receive(ether(dst, PEER, 0x0800, bytes(100)))
    return b.read(REG.RDH) === 1
  }

  it("exact match on RA[0] (our MAC) and on another valid RA entry", () => {
    expect(accepts(RCTL_EN, OURS)).toBe(true)
    expect(accepts(RCTL_EN, OTHER)).toBe(false)
    expect(
      accepts(RCTL_EN, OTHER, (b) => {
        b.write(REG.RAL0 + 8 * 3, 0x99005452)
        b.write(REG.RAH0 + 8 * 3, 0x80009999)
      }),
    ).toBe(true)
    expect(
      accepts(RCTL_EN, OTHER, (b) => {
        b.write(REG.RAL0 + 8 * 3, 0x99005452)
        b.write(REG.RAH0 + 8 * 3, 0x00009999) // AV clear
      }),
    ).toBe(false)
  })

  it("broadcast needs BAM; UPE alone does not accept broadcast", () => {
    expect(accepts(RCTL_EN, BCAST)).toBe(false)
    expect(accepts(RCTL_EN | UPE, BCAST)).toBe(false)
    expect(accepts(RCTL_EN | BAM, BCAST)).toBe(true)
  })

  it("unicast promiscuous (UPE) and multicast promiscuous (MPE, counts MPRC)", () => {
    expect(accepts(RCTL_EN | UPE, OTHER)).toBe(true)
    expect(accepts(RCTL_EN | UPE, [0x01, 0, 0x5e, 0, 0, 1])).toBe(false)
    const b = setup(RCTL_EN | MPE)
    b.receive(ether([0x01, 0, 0x5e, 0, 0, 1], PEER, 0x0800, bytes(100)))
    expect(b.read(REG.RDH)).toBe(1)
    expect(b.read(REG.MPRC)).toBe(1)
  })

  it("MTA hash by RCTL.MO (MO=0: bits 47:36 of the address)", () => {
    const dst = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]
    const h = (((dst[5]! << 8) | dst[4]!) >> 4) & 0xfff
    expect(accepts(RCTL_EN, dst)).toBe(false)
    expect(accepts(RCTL_EN, dst, (b) => b.write(REG.MTA + 4 * (h >> 5), 1 << (h & 31)))).toBe(true)
    const h3 = ((dst[5]! << 8) | dst[4]!) & 0xfff // MO=3: shift 0
    expect(accepts(RCTL_EN | (3 << 12), dst, (b) => b.write(REG.MTA + 4 * (h3 >> 5), 1 << (h3 & 31)))).toBe(true)
  })

  it("VLAN filter (VFE) against VFTA, and stripping with CTRL.VME: VP and the TCI in special", () => {
    const tagged = (tci: number): Uint8Array => {
      const inner = ether(OURS, PEER, 0x0800, bytes(100))
      const f = new Uint8Array(inner.length + 4)
      f.set(inner.subarray(0, 12))
      f.set([0x81, 0x00, tci >> 8, tci & 0xff], 12)
      f.set(inner.subarray(12), 16)
      return f
    }
    const b = setup(RCTL_EN | VFE)
    b.receive(tagged(0x2005))
    expect(b.read(REG.RDH)).toBe(0)
    b.write(REG.VFTA + 4 * ((0x2005 >> 5) & 0x7f), 1 << (0x2005 & 31))
    b.write(REG.CTRL, b.read(REG.CTRL) | (1 << 30))
    const f = tagged(0x2005)
    b.receive(f)
    expect(b.read(REG.RDH)).toBe(1)
    expect(b.rxDesc(0)).toMatchObject({ status: 0x0f, special: 0x2005, length: f.length - 4 + 4 })
    const want = new Uint8Array(f.length - 4)
    want.set(f.subarray(0, 12))
    want.set(f.subarray(16), 12)
    expect(b.mem.slice(0x40000, 0x40000 + want.length)).toEqual(want)
  })
})
