/**
 * A small e1000 driver in TypeScript that brings the card up in the order Linux's e1000 does
 * (drivers/net/ethernet/intel/e1000: e1000_probe, e1000_reset_hw, e1000_read_eeprom over the
 * Microwire EECD bit-bang, e1000_init_hw, e1000_setup_copper_link, e1000_configure_tx/rx,
 * e1000_irq_enable), and then moves frames through legacy descriptor rings in simulated guest
 * RAM. Receive and transmit completion are handled only in the interrupt handler, so every frame
 * the driver sees arrived with an interrupt.
 *
 * The "platform" is a PCI bus of one slot: BARs are sized and assigned through configuration
 * writes, and MMIO at a physical address is routed to BAR0 by the base the driver programmed.
 */
import type { AttachedE1000 } from "../../../src/runtime/e1000/index.ts"
import type { GuestRam } from "./guest-ram.ts"

// Registers (82540EM datasheet, section 13)
export const CTRL = 0x0000
export const STATUS = 0x0008
export const EECD = 0x0010
export const EERD = 0x0014
export const MDIC = 0x0020
export const ICR = 0x00c0
export const ITR = 0x00c4
export const IMS = 0x00d0
export const IMC = 0x00d8
export const RCTL = 0x0100
export const TCTL = 0x0400
export const TIPG = 0x0410
export const RDBAL = 0x2800
export const RDBAH = 0x2804
export const RDLEN = 0x2808
export const RDH = 0x2810
export const RDT = 0x2818
export const RDTR = 0x2820
export const TDBAL = 0x3800
export const TDBAH = 0x3804
export const TDLEN = 0x3808
export const TDH = 0x3810
export const TDT = 0x3818
export const MTA = 0x5200
export const RAL0 = 0x5400
export const RAH0 = 0x5404
export const VFTA = 0x5600

const CTRL_SLU = 1 << 6
const CTRL_FRCSPD = 1 << 11
const CTRL_FRCDPLX = 1 << 12
const CTRL_RST = 1 << 26
export const STATUS_LU = 1 << 1
const EECD_SK = 0x01
const EECD_CS = 0x02
const EECD_DI = 0x04
const EECD_DO = 0x08
const EECD_REQ = 0x40
const EECD_GNT = 0x80
const EECD_PRES = 0x100
const EERD_START = 0x01
const EERD_DONE = 0x10
const MDIC_OP_WRITE = 0x04000000
const MDIC_OP_READ = 0x08000000
const MDIC_READY = 0x10000000
const MDIC_ERROR = 0x40000000
const PHY_CTRL = 0
const MII_CR_AUTO_NEG_EN = 0x1000
const MII_CR_RESTART_AUTO_NEG = 0x0200
export const ICR_TXDW = 0x01
export const ICR_TXQE = 0x02
export const ICR_LSC = 0x04
export const ICR_RXDMT0 = 0x10
export const ICR_RXSEQ = 0x08
export const ICR_RXT0 = 0x80
/** Linux's IMS_ENABLE_MASK. */
const IMS_ENABLE_MASK = ICR_RXT0 | ICR_TXDW | ICR_RXDMT0 | ICR_RXSEQ | ICR_LSC
const RCTL_EN = 1 << 1
const RCTL_BAM = 1 << 15
const RCTL_SECRC = 1 << 26
const TCTL_EN = 1 << 1
const TCTL_PSP = 1 << 3
const TCTL_CT = 0x0f << 4
const TCTL_COLD = 0x40 << 12
const TXD_CMD_EOP = 0x01
const TXD_CMD_IFCS = 0x02
const TXD_CMD_RS = 0x08
const DESC_DD = 0x01
const RXD_EOP = 0x02
const MICROWIRE_READ = 0x6
const EEPROM_WORDS = 64
const EEPROM_ADDRESS_BITS = 6
export const EEPROM_SUM = 0xbaba

// PCI configuration space
const PCI_ID = 0x00
const PCI_COMMAND = 0x04
const PCI_BAR0 = 0x10
const PCI_BAR1 = 0x14
const COMMAND_IO = 0x1
const COMMAND_MEMORY = 0x2
const COMMAND_MASTER = 0x4
const E1000_ID = 0x100e8086

export interface ReceivedFrame {
  readonly frame: Uint8Array
  /** The ICR value read by the interrupt handler that collected this frame. */
  readonly icr: number
}

export interface DriverStats {
  interrupts: number
  rxInterrupts: number
  lscInterrupts: number
  framesReceived: number
  framesSent: number
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export class E1000Driver {
  readonly stats: DriverStats = { interrupts: 0, rxInterrupts: 0, lscInterrupts: 0, framesReceived: 0, framesSent: 0 }
  mac = new Uint8Array(6)
  eepromWords: Array<number> = []
  bar0 = 0
  bar0Size = 0
  bar1 = 0
  private readonly rxCount: number
  private readonly txCount: number
  private rxRing = 0
  private txRing = 0
  private rxBuffers: Array<number> = []
  private txBuffers: Array<number> = []
  private rxNext = 0
  private txNext = 0
  private txClean = 0
  private isrPending = false
  private frameHandler: (f: ReceivedFrame) => void = () => undefined
  private readonly linkWaiters: Array<() => void> = []
  private stopped = false

  private readonly nic: AttachedE1000
  private readonly ram: GuestRam

  constructor(nic: AttachedE1000, ram: GuestRam, rings: { rx: number; tx: number } = { rx: 256, tx: 256 }) {
    this.nic = nic
    this.ram = ram
    this.rxCount = rings.rx
    this.txCount = rings.tx
  }

  /** The emulator's interrupt controller input for the card's INTA#: level-triggered. */
  irqLine(level: boolean): void {
    if (!level || this.isrPending || this.stopped) return
    // The CPU takes the interrupt after the current instruction: not inside the MMIO access.
    this.isrPending = true
    setImmediate(() => this.isr())
  }

  onFrame(handler: (f: ReceivedFrame) => void): void {
    this.frameHandler = handler
  }

  // ---- the bus

  private readl(reg: number): number {
    return this.physRead(this.bar0 + reg)
  }

  private writel(reg: number, v: number): void {
    this.physWrite(this.bar0 + reg, v >>> 0)
  }

  /** CPU physical accesses, decoded against the programmed BAR0. */
  physRead(address: number): number {
    if (address < this.bar0 || address >= this.bar0 + this.bar0Size) throw new Error(`no device at ${address.toString(16)}`)
    return this.nic.mmioRead(address - this.bar0, 4)
  }

  physWrite(address: number, v: number): void {
    if (address < this.bar0 || address >= this.bar0 + this.bar0Size) throw new Error(`no device at ${address.toString(16)}`)
    this.nic.mmioWrite(address - this.bar0, 4, v)
  }

  // ---- probe (firmware's BAR assignment, then e1000_probe)

  /** Sizes and assigns the BARs as a BIOS does, enables memory, I/O and bus mastering. */
  pciSetup(bar0Base: number, bar1Base: number): void {
    const id = this.nic.configRead(PCI_ID, 4)
    if (id !== E1000_ID) throw new Error(`not an 82540EM: PCI id ${id.toString(16)}`)
    this.nic.configWrite(PCI_BAR0, 4, 0xffffffff)
    const mask0 = this.nic.configRead(PCI_BAR0, 4)
    this.bar0Size = (~(mask0 & ~0xf) + 1) >>> 0
    this.nic.configWrite(PCI_BAR0, 4, bar0Base)
    this.bar0 = (this.nic.configRead(PCI_BAR0, 4) & ~0xf) >>> 0
    this.nic.configWrite(PCI_BAR1, 4, 0xffffffff)
    const mask1 = this.nic.configRead(PCI_BAR1, 4)
    if ((mask1 & 1) !== 1) throw new Error("BAR1 is not an I/O BAR")
    this.nic.configWrite(PCI_BAR1, 4, bar1Base | 1)
    this.bar1 = (this.nic.configRead(PCI_BAR1, 4) & ~0x3) >>> 0
    this.nic.configWrite(PCI_COMMAND, 2, COMMAND_IO | COMMAND_MEMORY | COMMAND_MASTER)
  }

  /** e1000_reset_hw: mask interrupts, stop RX/TX, global reset, mask again, clear ICR. */
  async resetHw(): Promise<void> {
    this.writel(IMC, 0xffffffff)
    this.writel(RCTL, 0)
    this.writel(TCTL, TCTL_PSP)
    this.readl(STATUS) // flush posted writes
    await delay(10) // "Delay to allow any outstanding PCI transactions to complete"
    this.writel(CTRL, this.readl(CTRL) | CTRL_RST)
    await delay(5)
    this.writel(IMC, 0xffffffff)
    this.readl(ICR)
  }

  // ---- EEPROM, Microwire over EECD (e1000_read_eeprom for 82540: no EERD)

  private eecdWrite(v: number): void {
    this.writel(EECD, v)
    this.readl(STATUS) // E1000_WRITE_FLUSH
  }

  private raiseClock(eecd: number): number {
    const v = eecd | EECD_SK
    this.eecdWrite(v)
    return v
  }

  private lowerClock(eecd: number): number {
    const v = eecd & ~EECD_SK
    this.eecdWrite(v)
    return v
  }

  private shiftOut(eecd: number, data: number, count: number): number {
    for (let mask = 1 << (count - 1); mask !== 0; mask >>>= 1) {
      eecd = (data & mask) !== 0 ? eecd | EECD_DI : eecd & ~EECD_DI
      this.eecdWrite(eecd)
      eecd = this.raiseClock(eecd)
      eecd = this.lowerClock(eecd)
    }
    eecd &= ~EECD_DI
    this.eecdWrite(eecd)
    return eecd
  }

  private shiftIn(eecd: number): [number, number] {
    let data = 0
    eecd &= ~(EECD_DO | EECD_DI)
    for (let i = 0; i < 16; i++) {
      data <<= 1
      eecd = this.raiseClock(eecd)
      const r = this.readl(EECD)
      eecd = r & ~EECD_DI
      if ((r & EECD_DO) !== 0) data |= 1
      eecd = this.lowerClock(eecd)
    }
    return [eecd, data]
  }

  /** e1000_acquire_eeprom, read every word (opcode, address, 16 bits in, standby), release. */
  readEepromBitBang(): Array<number> {
    let eecd = this.readl(EECD)
    if ((eecd & EECD_PRES) === 0) throw new Error("EECD: no EEPROM present")
    eecd |= EECD_REQ
    this.eecdWrite(eecd)
    eecd = this.readl(EECD)
    if ((eecd & EECD_GNT) === 0) throw new Error("EECD: EEPROM access not granted")
    eecd &= ~(EECD_DI | EECD_SK)
    this.eecdWrite(eecd)
    eecd |= EECD_CS
    this.eecdWrite(eecd)
    const words: Array<number> = []
    for (let w = 0; w < EEPROM_WORDS; w++) {
      eecd = this.shiftOut(eecd, MICROWIRE_READ, 3)
      eecd = this.shiftOut(eecd, w, EEPROM_ADDRESS_BITS)
      let data: number
      ;[eecd, data] = this.shiftIn(eecd)
      words.push(data)
      // e1000_standby_eeprom (Microwire): deselect, then clock a CS rising edge
      eecd &= ~(EECD_CS | EECD_SK)
      this.eecdWrite(eecd)
      eecd |= EECD_SK
      this.eecdWrite(eecd)
      eecd |= EECD_CS
      this.eecdWrite(eecd)
      eecd &= ~EECD_SK
      this.eecdWrite(eecd)
    }
    // e1000_release_eeprom
    eecd &= ~(EECD_CS | EECD_DI)
    this.eecdWrite(eecd)
    eecd |= EECD_SK
    this.eecdWrite(eecd)
    eecd &= ~EECD_SK
    this.eecdWrite(eecd)
    this.eecdWrite(eecd & ~EECD_REQ)
    return words
  }

  /** One word through EERD (what newer chips use; the 82540 model answers it too). */
  readEepromEerd(word: number): number {
    this.writel(EERD, (word << 8) | EERD_START)
    const v = this.readl(EERD)
    if ((v & EERD_DONE) === 0) throw new Error("EERD: read not done")
    return v >>> 16
  }

  // ---- PHY over MDIC

  private mdic(op: number, reg: number, data: number): number {
    this.writel(MDIC, (data & 0xffff) | (reg << 16) | (1 << 21) | op)
    for (let i = 0; i < 64; i++) {
      const v = this.readl(MDIC)
      if ((v & MDIC_READY) !== 0) {
        if ((v & MDIC_ERROR) !== 0) throw new Error(`MDIC error on PHY register ${reg}`)
        return v & 0xffff
      }
    }
    throw new Error("MDIC did not complete")
  }

  // ---- bring-up

  /** Probe and open: PCI, reset, EEPROM and MAC, init_hw, link setup, rings, interrupts. */
  async bringUp(): Promise<void> {
    this.pciSetup(0xfebc0000, 0xc000)
    await this.resetHw()
    this.eepromWords = this.readEepromBitBang()
    let sum = 0
    for (const w of this.eepromWords) sum = (sum + w) & 0xffff
    if (sum !== EEPROM_SUM) throw new Error(`EEPROM checksum ${sum.toString(16)} is not babA`)
    for (let i = 0; i < 3; i++) {
      this.mac[2 * i] = this.eepromWords[i]! & 0xff
      this.mac[2 * i + 1] = this.eepromWords[i]! >>> 8
    }

    // e1000_init_hw: receive address 0 = our MAC, clear the multicast and VLAN tables
    this.writel(RAL0, this.mac[0]! | (this.mac[1]! << 8) | (this.mac[2]! << 16) | (this.mac[3]! << 24))
    this.writel(RAH0, this.mac[4]! | (this.mac[5]! << 8) | (1 << 31))
    for (let i = 0; i < 128; i++) this.writel(MTA + 4 * i, 0)
    for (let i = 0; i < 128; i++) this.writel(VFTA + 4 * i, 0)

    // e1000_setup_copper_link: set link up, let the PHY autonegotiate (LSC when done)
    this.writel(CTRL, (this.readl(CTRL) | CTRL_SLU) & ~(CTRL_FRCSPD | CTRL_FRCDPLX))
    const phyCtrl = this.mdic(MDIC_OP_READ, PHY_CTRL, 0)
    this.mdic(MDIC_OP_WRITE, PHY_CTRL, phyCtrl | MII_CR_AUTO_NEG_EN | MII_CR_RESTART_AUTO_NEG)

    // e1000_configure_tx
    this.txRing = this.ram.alloc(this.txCount * 16, 128)
    for (let i = 0; i < this.txCount; i++) this.txBuffers.push(this.ram.alloc(2048, 16))
    this.writel(TDBAL, this.txRing)
    this.writel(TDBAH, 0)
    this.writel(TDLEN, this.txCount * 16)
    this.writel(TDH, 0)
    this.writel(TDT, 0)
    this.writel(TIPG, 8 | (8 << 10) | (6 << 20))
    this.writel(TCTL, TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD)

    // e1000_configure_rx: RX off while the ring is programmed, then on; 2048-byte buffers
    this.writel(RCTL, 0)
    this.rxRing = this.ram.alloc(this.rxCount * 16, 128)
    for (let i = 0; i < this.rxCount; i++) {
      const buf = this.ram.alloc(2048, 16)
      this.rxBuffers.push(buf)
      this.ram.put64(this.rxRing + 16 * i, buf)
    }
    this.writel(RDTR, 0)
    this.writel(ITR, 0)
    this.writel(RDBAL, this.rxRing)
    this.writel(RDBAH, 0)
    this.writel(RDLEN, this.rxCount * 16)
    this.writel(RDH, 0)
    this.writel(RDT, this.rxCount - 1) // e1000_alloc_rx_buffers leaves one descriptor unused
    this.writel(RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC)

    // e1000_irq_enable
    this.writel(IMS, IMS_ENABLE_MASK)
  }

  get linkUp(): boolean {
    return (this.readl(STATUS) & STATUS_LU) !== 0
  }

  /** Resolves when STATUS.LU is set (checked in the LSC interrupt handler). */
  waitForLink(): Promise<void> {
    if (this.linkUp) return Promise.resolve()
    return new Promise((resolve) => this.linkWaiters.push(resolve))
  }

  // ---- data path

  /** e1000_xmit_frame with one legacy descriptor: EOP, IFCS, RS. */
  send(frame: Uint8Array): void {
    const i = this.txNext
    const next = (i + 1) % this.txCount
    if (next === this.txClean) throw new Error("TX ring full")
    const desc = this.txRing + 16 * i
    const buf = this.txBuffers[i]!
    this.ram.bytes.set(frame, buf)
    this.ram.put64(desc, buf)
    this.ram.put16(desc + 8, frame.length)
    this.ram.bytes[desc + 10] = 0 // CSO
    this.ram.bytes[desc + 11] = TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS
    this.ram.bytes[desc + 12] = 0 // status
    this.ram.bytes[desc + 13] = 0 // CSS
    this.ram.put16(desc + 14, 0)
    this.txNext = next
    this.stats.framesSent++
    this.writel(TDT, next)
  }

  /** e1000_intr + the NAPI poll it schedules: read (and so clear) ICR, clean RX and TX. */
  private isr(): void {
    this.isrPending = false
    if (this.stopped) return
    const icr = this.readl(ICR)
    if (icr === 0) return // shared line, not ours
    this.stats.interrupts++
    if ((icr & ICR_LSC) !== 0) {
      this.stats.lscInterrupts++
      if (this.linkUp) for (const w of this.linkWaiters.splice(0)) w()
    }
    if ((icr & (ICR_RXT0 | ICR_RXDMT0)) !== 0) this.stats.rxInterrupts++
    this.cleanTx()
    this.cleanRx(icr)
  }

  private cleanTx(): void {
    while (this.txClean !== this.txNext) {
      const desc = this.txRing + 16 * this.txClean
      if ((this.ram.bytes[desc + 12]! & DESC_DD) === 0) break
      this.txClean = (this.txClean + 1) % this.txCount
    }
  }

  /** e1000_clean_rx_irq: hand up every descriptor with DD, give it back by moving RDT. */
  private cleanRx(icr: number): void {
    let cleaned = -1
    for (;;) {
      const desc = this.rxRing + 16 * this.rxNext
      const status = this.ram.bytes[desc + 12]!
      if ((status & DESC_DD) === 0) break
      const length = this.ram.u16(desc + 8)
      const buf = this.rxBuffers[this.rxNext]!
      if ((status & RXD_EOP) !== 0) {
        // SECRC is set: length is the frame without FCS
        const frame = this.ram.bytes.slice(buf, buf + length)
        this.stats.framesReceived++
        this.frameHandler({ frame, icr })
      }
      this.ram.bytes[desc + 12] = 0
      cleaned = this.rxNext
      this.rxNext = (this.rxNext + 1) % this.rxCount
    }
    if (cleaned >= 0) this.writel(RDT, cleaned)
  }

  /** Stop taking interrupts (the test is over). */
  stop(): void {
    this.stopped = true
    this.writel(IMC, 0xffffffff)
    this.writel(RCTL, 0)
  }
}
