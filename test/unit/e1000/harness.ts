/**
 * Test bench for the e1000 model: a flat guest memory, the pure reducer driven the way an
 * asynchronous host would (answering each DmaRead with a DmaReadDone), and helpers that set up
 * rings the way the Linux e1000 driver does. Records transmitted frames and IRQ changes.
 * Every call of the reducer goes through the referential-transparency harness (`step`, from
 * test/e1000/checked.ts): a call that writes its input state or is not repeatable fails the test.
 */
import { createE1000, type E1000Effect, type E1000Event, type E1000State } from "../../../src/device/e1000/api.ts"
import { checkedE1000Step, createCheckedSyncE1000 } from "../../e1000/checked.ts"

/** `e1000Step` under the referential-transparency check: what every unit test calls. */
export const step = checkedE1000Step
/** `createSyncE1000` whose every reducer call is checked. */
export const createSyncE1000 = createCheckedSyncE1000

export const MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])

export const REG = {
  CTRL: 0x0, STATUS: 0x8, EECD: 0x10, EERD: 0x14, CTRL_EXT: 0x18, MDIC: 0x20, VET: 0x38,
  ICR: 0xc0, ITR: 0xc4, ICS: 0xc8, IMS: 0xd0, IMC: 0xd8, RCTL: 0x100, TCTL: 0x400, TIPG: 0x410,
  RDBAL: 0x2800, RDBAH: 0x2804, RDLEN: 0x2808, RDH: 0x2810, RDT: 0x2818, RDTR: 0x2820, RADV: 0x282c,
  TDBAL: 0x3800, TDBAH: 0x3804, TDLEN: 0x3808, TDH: 0x3810, TDT: 0x3818, TIDV: 0x3820, TADV: 0x382c,
  MPC: 0x4010, GPRC: 0x4074, BPRC: 0x4078, MPRC: 0x407c, GPTC: 0x4080, GORCL: 0x4088, GORCH: 0x408c,
  GOTCL: 0x4090, GOTCH: 0x4094, RNBC: 0x40a0, ROC: 0x40ac, TORL: 0x40c0, TORH: 0x40c4, TOTL: 0x40c8,
  TOTH: 0x40cc, TPR: 0x40d0, TPT: 0x40d4, PRC64: 0x405c, PTC64: 0x40d8, PTC1522: 0x40ec, MPTC: 0x40f0,
  BPTC: 0x40f4, TSCTC: 0x40f8, MTA: 0x5200, RAL0: 0x5400, RAH0: 0x5404, VFTA: 0x5600, MANC: 0x5820,
  RDFH: 0x2410, TDFH: 0x3410, FFMT: 0x9000, PBM: 0x10000,
} as const

export const ICR_BITS = { TXDW: 0x1, TXQE: 0x2, LSC: 0x4, RXDMT0: 0x10, RXO: 0x40, RXT0: 0x80, MDAC: 0x200 } as const

export class Bench {
  s: E1000State
  now = 0
  readonly mem = new Uint8Array(1 << 20)
  readonly tx: Uint8Array[] = []
  readonly irqs: boolean[] = []
  readonly effects: E1000Effect[] = []
  readonly timers = new Map<string, number>()
  held: Uint8Array[] = []
  flushes = 0

  constructor(mac: Uint8Array = MAC) {
    this.s = createE1000({ mac })
  }

  get irq(): boolean {
    return this.irqs.length > 0 && this.irqs[this.irqs.length - 1]!
  }

  /** Sends one event and answers DMA reads until the operation completes. */
  step(ev: E1000Event): E1000Effect[] {
    const collected: E1000Effect[] = []
    let next: E1000Event | undefined = ev
    while (next !== undefined) {
      const [s, effects] = step(this.s, this.now, next)
      this.s = s
      next = undefined
      for (const e of effects) {
        collected.push(e)
        this.effects.push(e)
        switch (e._tag) {
          case "DmaRead":
            next = { _tag: "DmaReadDone", request: e.request, data: this.mem.slice(e.address, e.address + e.length) }
            break
          case "DmaWrite":
            this.mem.set(e.data, e.address)
            break
          case "Transmit":
            this.tx.push(e.frame)
            break
          case "Interrupt":
            this.irqs.push(e.level)
            break
          case "SetTimer":
            this.timers.set(e.timer, e.atNs)
            break
          case "CancelTimer":
            this.timers.delete(e.timer)
            break
          case "RxFlush":
            this.flushes++
            break
          default:
            break
        }
      }
    }
    return collected
  }

  read(offset: number, size: 1 | 2 | 4 = 4): number {
    const effects = this.step({ _tag: "MmioRead", offset, size })
    const v = effects.find((e) => e._tag === "ReadValue")
    if (v === undefined || v._tag !== "ReadValue") throw new Error("no ReadValue")
    return v.value
  }
  write(offset: number, value: number, size: 1 | 2 | 4 = 4): E1000Effect[] {
    return this.step({ _tag: "MmioWrite", offset, size, value })
  }
  cfgRead(offset: number, size: 1 | 2 | 4 = 4): number {
    const v = this.step({ _tag: "ConfigRead", offset, size }).find((e) => e._tag === "ReadValue")
    if (v === undefined || v._tag !== "ReadValue") throw new Error("no ReadValue")
    return v.value
  }
  cfgWrite(offset: number, value: number, size: 1 | 2 | 4 = 4): void {
    this.step({ _tag: "ConfigWrite", offset, size, value })
  }
  /** Offers a frame; returns whether it was accepted. */
  receive(frame: Uint8Array): boolean {
    const a = this.step({ _tag: "FrameFromNetwork", frame }).find((e) => e._tag === "RxAccepted")
    if (a === undefined || a._tag !== "RxAccepted") throw new Error("no RxAccepted")
    return a.accepted
  }
  /** Advances virtual time, firing timers. */
  advance(ns: number): E1000Effect[] {
    this.now += ns
    return this.step({ _tag: "TimerFired", timer: "mit" })
  }

  // ---- memory helpers
  put32(addr: number, v: number): void {
    new DataView(this.mem.buffer).setUint32(addr, v >>> 0, true)
  }
  get32(addr: number): number {
    return new DataView(this.mem.buffer).getUint32(addr, true)
  }
  get16(addr: number): number {
    return new DataView(this.mem.buffer).getUint16(addr, true)
  }

  /** PCI: memory + bus master on. */
  enablePci(): void {
    this.cfgWrite(0x04, 0x0006, 2)
  }

  // ---- transmit ring at 0x10000 (n descriptors), buffers at 0x20000
  static readonly TX_RING = 0x10000
  static readonly RX_RING = 0x11000
  txTail = 0
  txRing(n = 16): void {
    this.write(REG.TDBAL, Bench.TX_RING)
    this.write(REG.TDBAH, 0)
    this.write(REG.TDLEN, 16 * n)
    this.write(REG.TDH, 0)
    this.write(REG.TDT, 0)
    this.txTail = 0
  }
  /** Writes a descriptor at the tail (not yet handed over). */
  txDesc(i: number, addr: number, lower: number, upper: number): void {
    const a = Bench.TX_RING + 16 * i
    this.put32(a, addr)
    this.put32(a + 4, 0)
    this.put32(a + 8, lower)
    this.put32(a + 12, upper)
  }
  /** Context descriptor (raw 16 bytes). */
  txContext(i: number, c: { ipcss: number; ipcso: number; ipcse: number; tucss: number; tucso: number; tucse: number; paylen: number; cmd: number; hdrLen: number; mss: number }): void {
    const a = Bench.TX_RING + 16 * i
    this.mem[a] = c.ipcss
    this.mem[a + 1] = c.ipcso
    new DataView(this.mem.buffer).setUint16(a + 2, c.ipcse, true)
    this.mem[a + 4] = c.tucss
    this.mem[a + 5] = c.tucso
    new DataView(this.mem.buffer).setUint16(a + 6, c.tucse, true)
    this.put32(a + 8, (c.paylen & 0xfffff) | c.cmd | (1 << 29))
    this.mem[a + 12] = 0
    this.mem[a + 13] = c.hdrLen
    new DataView(this.mem.buffer).setUint16(a + 14, c.mss, true)
  }

  /** RX ring of n descriptors with 2048-byte buffers at 0x40000 + i * 0x1000. */
  rxRing(n = 8, rctl = 0x2 | 0x8000): void {
    for (let i = 0; i < n; i++) {
      const a = Bench.RX_RING + 16 * i
      this.put32(a, 0x40000 + i * 0x1000)
      this.put32(a + 4, 0)
      this.put32(a + 8, 0)
      this.put32(a + 12, 0)
    }
    this.write(REG.RDBAL, Bench.RX_RING)
    this.write(REG.RDBAH, 0)
    this.write(REG.RDLEN, 16 * n)
    this.write(REG.RDH, 0)
    this.write(REG.RDT, n - 1)
    this.write(REG.RCTL, rctl)
    this.advance(1_000_000_000) // past the RCTL flush timer
  }
  rxDesc(i: number): { addr: number; length: number; csum: number; status: number; errors: number; special: number } {
    const a = Bench.RX_RING + 16 * i
    return {
      addr: this.get32(a),
      length: this.get16(a + 8),
      csum: this.get16(a + 10),
      status: this.mem[a + 12]!,
      errors: this.mem[a + 13]!,
      special: this.get16(a + 14),
    }
  }
}

export const ether = (dst: ReadonlyArray<number>, src: ReadonlyArray<number>, type: number, payload: Uint8Array): Uint8Array => {
  const f = new Uint8Array(14 + payload.length)
  f.set(dst, 0)
  f.set(src, 6)
  f[12] = type >> 8
  f[13] = type & 0xff
  f.set(payload, 14)
  return f
}

export const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff)
