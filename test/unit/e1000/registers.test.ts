import { describe, expect, it } from "vitest"
import { Bench, ICR_BITS, REG } from "./harness.ts"

describe("e1000 PCI configuration space", () => {
  it("identity: 8086:100E rev 3, class 020000, subsystem 1AF4:1100, INTA, header 0", () => {
    const b = new Bench()
    expect(b.cfgRead(0x00)).toBe(0x100e8086)
    expect(b.cfgRead(0x08)).toBe(0x02000003)
    expect(b.cfgRead(0x2c)).toBe(0x11001af4)
    expect(b.cfgRead(0x3d, 1)).toBe(1)
    expect(b.cfgRead(0x0e, 1)).toBe(0)
    expect(b.cfgRead(0x04)).toBe(0) // command 0, status 0 (no capability list)
    expect(b.cfgRead(0x0c, 1)).toBe(0) // cache line size cleared by reset
  })

  it("BAR size probes: 128 KiB memory, 64-byte I/O, 256 KiB ROM", () => {
    const b = new Bench()
    for (const o of [0x10, 0x14, 0x18, 0x30]) b.cfgWrite(o, 0xffffffff)
    expect(b.cfgRead(0x10)).toBe(0xfffe0000)
    expect(b.cfgRead(0x14)).toBe(0xffffffc1)
    expect(b.cfgRead(0x18)).toBe(0)
    expect(b.cfgRead(0x30)).toBe(0xfffc0001)
  })

  it("COMMAND writable bits are 0x0507; the header is read-only elsewhere; 0x40-0xFF is writable", () => {
    const b = new Bench()
    b.cfgWrite(0x04, 0xffff, 2)
    expect(b.cfgRead(0x04, 2)).toBe(0x0507)
    b.cfgWrite(0x00, 0xffffffff)
    b.cfgWrite(0x2c, 0)
    expect(b.cfgRead(0x00)).toBe(0x100e8086)
    expect(b.cfgRead(0x2c)).toBe(0x11001af4)
    b.cfgWrite(0x40, 0xdeadbeef)
    b.cfgWrite(0xfe, 0x1234, 2)
    expect(b.cfgRead(0x40)).toBe(0xdeadbeef)
    expect(b.cfgRead(0xfe, 2)).toBe(0x1234)
  })

  it("STATUS bit 3 mirrors INTx even when INTX_DISABLE masks the pin", () => {
    const b = new Bench()
    b.enablePci()
    b.write(REG.IMS, ICR_BITS.LSC)
    b.write(REG.ICS, ICR_BITS.LSC)
    expect(b.irq).toBe(true)
    expect(b.cfgRead(0x06, 2) & 0x8).toBe(0x8)
    b.cfgWrite(0x04, 0x0406, 2)
    expect(b.irq).toBe(false)
    expect(b.cfgRead(0x06, 2) & 0x8).toBe(0x8)
    b.cfgWrite(0x04, 0x0006, 2)
    expect(b.irq).toBe(true)
  })
})

describe("e1000 register semantics", () => {
  it("reset values: CTRL, STATUS, VET, RA0 = MAC|AV, MANC, PBA, LEDCTL", () => {
    const b = new Bench()
    expect(b.read(REG.CTRL)).toBe(0x00140240)
    expect(b.read(REG.STATUS)).toBe(0x80080783)
    expect(b.read(REG.VET)).toBe(0x8100)
    expect(b.read(REG.RAL0)).toBe(0x12005452)
    expect(b.read(REG.RAH0)).toBe(0x80005634)
    expect(b.read(REG.MANC)).toBe(0x00222300)
    expect(b.read(0x1000)).toBe(0x00100030)
    expect(b.read(0x0e00)).toBe(0x602)
  })

  it("CTRL.RST is dropped and resets nothing", () => {
    const b = new Bench()
    b.write(REG.IMS, 0xff)
    b.write(REG.CTRL, 0x04000000 | 0x40)
    expect(b.read(REG.CTRL)).toBe(0x40)
    expect(b.read(REG.IMS)).toBe(0xff)
  })

  it("read-only and unimplemented registers", () => {
    const b = new Bench()
    b.write(REG.MANC, 0)
    expect(b.read(REG.MANC)).toBe(0x00222300)
    b.write(REG.STATUS, 0)
    expect(b.read(REG.STATUS)).toBe(0x80080783)
    for (const r of [REG.CTRL_EXT, REG.TIPG, REG.TIDV, 0x5000, 0x5008, 0x2828]) {
      b.write(r, 0x12345678)
      expect(b.read(r)).toBe(0)
    }
    b.write(REG.IMC, 0xffff)
    expect(b.read(REG.IMC)).toBe(0)
  })

  it("ICR: read returns and clears; writes clear the bits written; ICS sets and reads as ICR", () => {
    const b = new Bench()
    b.write(REG.ICS, 0x85)
    expect(b.read(REG.ICS)).toBe(0x85)
    b.write(REG.ICR, 0x04)
    expect(b.read(REG.ICS)).toBe(0x81)
    expect(b.read(REG.ICR)).toBe(0x81)
    expect(b.read(REG.ICR)).toBe(0)
    expect(b.read(REG.ICS)).toBe(0)
  })

  it("IMS sets, IMC clears, all 32 bits stored", () => {
    const b = new Bench()
    b.write(REG.IMS, 0xffffffff)
    expect(b.read(REG.IMS)).toBe(0xffffffff)
    b.write(REG.IMC, 0x0000ff00)
    expect(b.read(REG.IMS)).toBe(0xffff00ff)
  })

  it("write masks: ITR/RDH/TDH/RDTR 16 bits, RDLEN/TDLEN & 0xfff80, RDT/TDT 16 bits", () => {
    const b = new Bench()
    for (const r of [REG.ITR, REG.RDH, REG.TDH, REG.RDTR, REG.RADV, REG.TADV]) {
      b.write(r, 0x12345678)
      expect(b.read(r)).toBe(0x5678)
    }
    b.write(REG.RDLEN, 0xffffffff)
    expect(b.read(REG.RDLEN)).toBe(0xfff80)
    b.write(REG.TDLEN, 0x12345)
    expect(b.read(REG.TDLEN)).toBe(0x12300)
    b.write(REG.RDT, 0xabcdef)
    expect(b.read(REG.RDT)).toBe(0xcdef)
    b.write(REG.TDT, 0xabcdef)
    expect(b.read(REG.TDT)).toBe(0xcdef)
  })

  it("FIFO registers are stored whole and masked on read", () => {
    const b = new Bench()
    b.write(REG.RDFH, 0xffffffff)
    expect(b.read(REG.RDFH)).toBe(0x1fff)
    b.write(REG.TDFH, 0xffffffff)
    expect(b.read(REG.TDFH)).toBe(0x7ff)
    b.write(REG.FFMT, 0xff)
    expect(b.read(REG.FFMT)).toBe(0xf)
    b.write(REG.PBM + 0x100, 0xdeadbeef)
    expect(b.read(REG.PBM + 0x100)).toBe(0xdeadbeef)
  })

  it("sub-dword accesses hit the whole register: low bytes read, zero-extended write", () => {
    const b = new Bench()
    b.write(REG.IMS, 0x12345678)
    expect(b.read(REG.IMS + 2, 2)).toBe(0x5678)
    expect(b.read(REG.IMS + 1, 1)).toBe(0x78)
    b.write(REG.RAL0 + 1, 0xab, 1)
    expect(b.read(REG.RAL0)).toBe(0xab)
    b.write(REG.VET + 2, 0x88a8, 2)
    expect(b.read(REG.VET)).toBe(0x88a8)
  })

  it("statistics are read-only; read-to-clear ones clear; TORH clears both halves, TORL neither", () => {
    const b = new Bench()
    b.enablePci()
    b.rxRing(8)
    const f = new Uint8Array(100)
    f.fill(0xff, 0, 6)
    expect(b.receive(f)).toBe(true)
    b.write(REG.TPR, 77)
    expect(b.read(REG.TPR)).toBe(1)
    expect(b.read(REG.TPR)).toBe(0)
    expect(b.read(REG.TORL)).toBe(104)
    expect(b.read(REG.TORL)).toBe(104)
    expect(b.read(REG.TORH)).toBe(0)
    expect(b.read(REG.TORL)).toBe(0)
    expect(b.read(REG.GORCL)).toBe(104)
    expect(b.read(REG.GPRC)).toBe(1)
    expect(b.read(REG.BPRC)).toBe(1)
    expect(b.read(REG.BPRC)).toBe(0)
  })

  it("MPC and RNBC are not cleared by reads", () => {
    const b = new Bench()
    b.enablePci()
    b.rxRing(8, 0x2 | 0x8000 | 0x20) // LPE: frames up to 16 KiB
    b.write(REG.RDT, 1) // one free descriptor
    const big = new Uint8Array(3000)
    big.fill(0xff, 0, 6)
    expect(b.receive(big)).toBe(true) // consumed: dropped as overrun
    expect(b.read(REG.MPC)).toBe(1)
    expect(b.read(REG.MPC)).toBe(1)
    expect(b.read(REG.RNBC)).toBe(1)
    expect(b.read(REG.ICR) & ICR_BITS.RXO).toBe(ICR_BITS.RXO)
  })
})

describe("e1000 reset", () => {
  it("restores registers, keeps EEPROM, clears PCI COMMAND and lowers INTx", () => {
    const b = new Bench()
    b.enablePci()
    b.write(REG.IMS, 0x4)
    b.write(REG.ICS, 0x4)
    b.write(REG.VET, 0x1234)
    expect(b.irq).toBe(true)
    b.step({ _tag: "Reset" })
    expect(b.irq).toBe(false)
    expect(b.read(REG.VET)).toBe(0x8100)
    expect(b.read(REG.IMS)).toBe(0)
    expect(b.cfgRead(0x04, 2)).toBe(0)
    b.write(REG.EERD, 0x1)
    expect(b.read(REG.EERD)).toBe(0x54520010)
  })
})
