import { describe, expect, it } from "vitest"
import { Bench, ICR_BITS, REG } from "./harness.ts"

// The image QEMU 7.2 shows for 52:54:00:12:34:56 (captured from the running binary).
const GOLDEN = `
5452 1200 5634 0000 ffff 0000 0000 0000 3000 1000 6403 100e 8086 100e 8086 3040
0008 2000 7e14 0048 1000 00d8 0000 2700 6cc9 3150 0722 040b 0984 0000 c000 0706
1008 0000 0f04 7fff 4d01 ffff ffff ffff ffff ffff ffff ffff ffff ffff ffff ffff
0100 4000 121c ffff ffff ffff ffff ffff ffff ffff ffff ffff ffff ffff ffff 79ad`
  .trim()
  .split(/\s+/)
  .map((h) => parseInt(h, 16))

const SK = 0x1
const CS = 0x2
const DI = 0x4
const DO = 0x8
const REQ = 0x40

/** The Linux e1000 driver's Microwire read (e1000_read_eeprom on an 82540). */
const bitBangRead = (b: Bench, word: number): number => {
  let eecd = b.read(REG.EECD)
  b.write(REG.EECD, eecd | REQ)
  eecd = b.read(REG.EECD) & ~(DI | SK)
  b.write(REG.EECD, eecd)
  eecd |= CS
  b.write(REG.EECD, eecd)
  const shiftOut = (data: number, count: number): void => {
    for (let mask = 1 << (count - 1); mask !== 0; mask >>= 1) {
      eecd = (data & mask) !== 0 ? eecd | DI : eecd & ~DI
      b.write(REG.EECD, eecd)
      b.write(REG.EECD, (eecd |= SK))
      b.write(REG.EECD, (eecd &= ~SK))
    }
    eecd &= ~DI
    b.write(REG.EECD, eecd)
  }
  shiftOut(0x6, 3) // READ opcode
  shiftOut(word, 6)
  let data = 0
  eecd = b.read(REG.EECD) & ~(DO | DI)
  for (let i = 0; i < 16; i++) {
    data <<= 1
    b.write(REG.EECD, (eecd |= SK))
    eecd = b.read(REG.EECD) & ~DI
    if ((eecd & DO) !== 0) data |= 1
    b.write(REG.EECD, (eecd &= ~SK))
  }
  // standby / release
  b.write(REG.EECD, eecd & ~(CS | DI | SK | REQ))
  return data
}

describe("e1000 EEPROM", () => {
  it("EERD: START returns data << 16 | DONE | address bits; without START the raw value", () => {
    const b = new Bench()
    b.write(REG.EERD, 0x0001)
    expect(b.read(REG.EERD)).toBe(0x54520010)
    b.write(REG.EERD, 0x0b01)
    expect(b.read(REG.EERD)).toBe(0x100e0b10)
    b.write(REG.EERD, 0x4000 | 1)
    expect(b.read(REG.EERD)).toBe(0x4010) // word 64: out of range, DONE only
    b.write(REG.EERD, 0x0500)
    expect(b.read(REG.EERD)).toBe(0x0500)
  })

  it("EERD reads QEMU's image word for word, and the words sum to 0xBABA", () => {
    const b = new Bench()
    const words: number[] = []
    for (let i = 0; i < 64; i++) {
      b.write(REG.EERD, (i << 8) | 1)
      words.push(b.read(REG.EERD) >>> 16)
    }
    expect(words).toEqual(GOLDEN)
    expect(words.reduce((a, w) => (a + w) & 0xffff, 0)).toBe(0xbaba)
  })

  it("EECD idle read is PRES|GNT|DO (0x188)", () => {
    const b = new Bench()
    expect(b.read(REG.EECD)).toBe(0x188)
  })

  it("EECD Microwire bit-bang (the Linux 82540 path) reads the MAC and the checksum 0xBABA", () => {
    const b = new Bench(Uint8Array.from([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]))
    const words = Array.from({ length: 64 }, (_, i) => bitBangRead(b, i))
    expect(words.slice(0, 3)).toEqual([0xaa02, 0xccbb, 0xeedd])
    expect(words.reduce((a, w) => (a + w) & 0xffff, 0)).toBe(0xbaba)
    expect(words[11]).toBe(0x100e)
  })

  it("EEPROM contents and shifter survive reset", () => {
    const b = new Bench()
    b.step({ _tag: "Reset" })
    expect(bitBangRead(b, 0)).toBe(0x5452)
  })
})

const mdicRead = (b: Bench, reg: number, phy = 1): number => {
  b.write(REG.MDIC, (1 << 27) | (phy << 21) | (reg << 16))
  return b.read(REG.MDIC)
}
const mdicWrite = (b: Bench, reg: number, data: number, extra = 0): void => {
  b.write(REG.MDIC, (1 << 26) | (1 << 21) | (reg << 16) | data | extra)
}

describe("e1000 PHY via MDIC", () => {
  it("reads identity and status with READY set", () => {
    const b = new Bench()
    expect(mdicRead(b, 2)).toBe(0x10000000 | (1 << 27) | (1 << 21) | (2 << 16) | 0x0141)
    expect(mdicRead(b, 3) & 0xffff).toBe(0x0c20)
    expect(mdicRead(b, 1) & 0xffff).toBe(0x794d)
    expect(mdicRead(b, 0) & 0xffff).toBe(0x1140)
    expect(mdicRead(b, 0x11) & 0xffff).toBe(0xac00)
  })

  it("wrong PHY address: the previous MDIC value with ERROR|READY", () => {
    const b = new Bench()
    const before = mdicRead(b, 2)
    b.write(REG.MDIC, (1 << 27) | (2 << 21) | (3 << 16))
    expect(b.read(REG.MDIC)).toBe((before | 0x40000000 | 0x10000000) >>> 0)
  })

  it("unreadable and unwritable registers flag ERROR", () => {
    const b = new Bench()
    expect(mdicRead(b, 7) & 0x40000000).toBe(0x40000000)
    mdicWrite(b, 1, 0xffff)
    expect(b.read(REG.MDIC) & 0x40000000).toBe(0x40000000)
    expect(mdicRead(b, 1) & 0xffff).toBe(0x794d)
    mdicWrite(b, 4, 0x1234)
    expect(mdicRead(b, 4) & 0xffff).toBe(0x1234)
  })

  it("INT_EN raises MDAC", () => {
    const b = new Bench()
    mdicWrite(b, 4, 0x1234, 1 << 29)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.MDAC)
  })

  it("restart autoneg: link down at once (no LSC), up after the 500 ms timer with LSC", () => {
    const b = new Bench()
    b.now = 1_234_567_890
    mdicWrite(b, 0, 0x1340) // AUTONEG_EN | RESTART_AN | ...
    expect(b.read(REG.STATUS) & 2).toBe(0)
    expect(b.read(REG.ICR)).toBe(0)
    expect(mdicRead(b, 0) & 0xffff).toBe(0x1140) // restart bit self-clears
    expect(b.timers.get("autoneg")).toBe((1234 + 500) * 1_000_000)
    b.advance((1234 + 500) * 1_000_000 - b.now - 1)
    expect(b.read(REG.STATUS) & 2).toBe(0)
    b.advance(1)
    expect(b.read(REG.STATUS) & 2).toBe(2)
    expect(mdicRead(b, 1) & 0xffff).toBe(0x796d)
    expect(mdicRead(b, 5) & 0xffff).toBe(0x41e0)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.LSC)
  })

  it("backend link down/up: LSC only when STATUS changes; up restarts autoneg if not complete", () => {
    const b = new Bench()
    b.step({ _tag: "Link", up: false })
    expect(b.read(REG.STATUS) & 2).toBe(0)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.LSC)
    b.step({ _tag: "Link", up: false })
    expect(b.read(REG.ICR)).toBe(0)
    b.step({ _tag: "Link", up: true })
    expect(b.read(REG.STATUS) & 2).toBe(0) // autoneg restarted
    expect(b.timers.has("autoneg")).toBe(true)
    b.advance(500_000_000)
    expect(b.read(REG.STATUS) & 2).toBe(2)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.LSC)
  })
})
