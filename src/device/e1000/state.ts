/**
 * The e1000 model's state record and the small pieces every path shares: timers (deadlines in
 * state, announced by SetTimer/CancelTimer), the single interrupt funnel with QEMU 7.2's
 * mitigation window (set_interrupt_cause), the INTx pin, link register updates and reset.
 *
 * The record is mutable and owned by whoever holds it (see api.ts for why). Nothing here reads
 * a clock: `s.now` is set by the reducer from the event's time (or a timer's deadline while
 * that timer runs, as QEMU's virtual clock is when the timer callback runs).
 */
import type { E1000Effect, E1000Timer, GuestMemory } from "./api.ts"
import { type EecdState, eepromImage, initialEecd } from "./eeprom.ts"
import {
  COMMAND_INTX_DISABLE,
  command,
  createPciConfig,
  type PciConfig,
  resetPciConfig,
  setInterruptStatus,
} from "./pci-config.ts"
import { MII_CR_AUTONEG_EN, MII_LPAR_ACK, MII_SR_AN_COMPLETE, MII_SR_LINK, PHY_CTRL, PHY_LP_ABILITY, PHY_STATUS, resetPhy } from "./phy.ts"
import * as R from "./regs.ts"

/** The data QEMU keeps per transmit context (e1000x_txd_props). */
export interface TxProps {
  ipcss: number
  ipcso: number
  ipcse: number
  tucss: number
  tucso: number
  tucse: number
  paylen: number
  hdrLen: number
  mss: number
  ip: boolean
  tcp: boolean
  tse: boolean
}

const zeroProps = (): TxProps => ({
  ipcss: 0, ipcso: 0, ipcse: 0, tucss: 0, tucso: 0, tucse: 0, paylen: 0, hdrLen: 0, mss: 0, ip: false, tcp: false, tse: false,
})

/** Offset of tx.data inside `buf`: QEMU keeps a 4-byte `vlan` area right before `data`. */
export const TX_DATA = 4
export const TX_DATA_SIZE = 0x10000

export interface TxState {
  /** [vlan area (4)][data (64 KiB)]: persistent like QEMU's, stale bytes included. */
  readonly buf: Uint8Array
  readonly header: Uint8Array // 256
  readonly vlanHeader: Uint8Array // 4
  size: number // uint16
  vlanNeeded: boolean
  sumNeeded: number // uint8 POPTS
  cptse: boolean
  props: TxProps
  tsoProps: TxProps
  tsoFrames: number // uint16
  busy: boolean
}

export const TIMER_MIT = 0
export const TIMER_AUTONEG = 1
export const TIMER_FLUSH = 2
export const TIMER_NAMES: ReadonlyArray<E1000Timer> = ["mit", "autoneg", "flush"]
const NS_PER_MS = 1_000_000

/** A suspended operation: resumed with the bytes of its one outstanding DMA read. */
export type Op = Generator<void, void, Uint8Array>

export interface E1000State {
  readonly mac: Uint8Array
  readonly regs: Uint32Array
  readonly phy: Uint16Array
  readonly eeprom: Uint16Array
  readonly eecd: EecdState
  readonly pci: PciConfig
  readonly tx: TxState
  rxbufSize: number
  rxbufMinShift: number
  mitTimerOn: boolean
  mitIrqLevel: boolean
  mitIde: number
  /** Device INTx level (pci_irq_state) and the pin as the interrupt controller sees it. */
  intxLevel: boolean
  pin: boolean
  /** The backend link (QEMU's nc->link_down), distinct from STATUS.LU. */
  linkDown: boolean
  /** Deadlines in ns (-1: not armed) and arm order (equal deadlines fire first-armed first). */
  readonly timerAt: Float64Array
  readonly timerSeq: Float64Array
  timerCounter: number
  now: number
  out: E1000Effect[]
  /**
   * QEMU's net queue for this card: at most one frame (its backend stops reading while one
   * waits). `queued` awaits delivery at the next flush point; `echo` was delivered from the
   * queue and the host, which also held it, will offer it once more: that offer is a no-op.
   */
  queued: Uint8Array | undefined
  echo: Uint8Array | undefined
  /** Suspended operation and its outstanding read. */
  op: Op | undefined
  reqId: number
  reqAddr: number
  reqLen: number
  readonly backlog: Array<{ readonly now: number; readonly ev: import("./api.ts").E1000Event }>
  /** Set by the sync wrapper: DMA reads are answered inline and writes applied at once. */
  memory: GuestMemory | undefined
  /** Reused write buffers, only in sync mode (GuestMemory.write copies before returning). */
  readonly scratch1: Uint8Array
  readonly scratch4: Uint8Array
  readonly scratch16: Uint8Array
}

export const createState = (mac: Uint8Array, romBar: boolean): E1000State => {
  const s: E1000State = {
    mac: Uint8Array.from(mac.subarray(0, 6)),
    regs: new Uint32Array(R.REG_WORDS),
    phy: new Uint16Array(32),
    eeprom: eepromImage(mac),
    eecd: initialEecd(),
    pci: createPciConfig(romBar),
    tx: {
      buf: new Uint8Array(TX_DATA + TX_DATA_SIZE),
      header: new Uint8Array(256),
      vlanHeader: new Uint8Array(4),
      size: 0,
      vlanNeeded: false,
      sumNeeded: 0,
      cptse: false,
      props: zeroProps(),
      tsoProps: zeroProps(),
      tsoFrames: 0,
      busy: false,
    },
    rxbufSize: 0, // QEMU: set by RCTL writes only, not by reset
    rxbufMinShift: 1,
    mitTimerOn: false,
    mitIrqLevel: false,
    mitIde: 0,
    intxLevel: false,
    pin: false,
    linkDown: false,
    timerAt: new Float64Array([-1, -1, -1]),
    timerSeq: new Float64Array(3),
    timerCounter: 0,
    now: 0,
    out: [],
    queued: undefined,
    echo: undefined,
    op: undefined,
    reqId: 0,
    reqAddr: 0,
    reqLen: 0,
    backlog: [],
    memory: undefined,
    scratch1: new Uint8Array(1),
    scratch4: new Uint8Array(4),
    scratch16: new Uint8Array(16),
  }
  resetDevice(s)
  return s
}

// ---- timers

export const armTimer = (s: E1000State, t: number, atNs: number): void => {
  s.timerAt[t] = atNs
  s.timerSeq[t] = ++s.timerCounter
  s.out.push({ _tag: "SetTimer", timer: TIMER_NAMES[t]!, atNs })
}

/** QEMU's millisecond timers: deadline = (floor(now / 1 ms) + ms) ms. */
export const armMsTimer = (s: E1000State, t: number, ms: number): void =>
  armTimer(s, t, (Math.floor(s.now / NS_PER_MS) + ms) * NS_PER_MS)

export const cancelTimer = (s: E1000State, t: number): void => {
  if (s.timerAt[t]! < 0) return
  s.timerAt[t] = -1
  s.out.push({ _tag: "CancelTimer", timer: TIMER_NAMES[t]! })
}

export const timerPending = (s: E1000State, t: number): boolean => s.timerAt[t]! >= 0

/** The armed timer that fires first (-1 if none). */
export const nextTimer = (s: E1000State): number => {
  let best = -1
  for (let t = 0; t < 3; t++) {
    const at = s.timerAt[t]!
    if (at < 0) continue
    if (best < 0 || at < s.timerAt[best]! || (at === s.timerAt[best]! && s.timerSeq[t]! < s.timerSeq[best]!)) best = t
  }
  return best
}

// ---- interrupts

/** pci_set_irq: the pin follows the level unless COMMAND.INTX_DISABLE; STATUS bit 3 always does. */
export const setIntx = (s: E1000State, level: boolean): void => {
  s.intxLevel = level
  setInterruptStatus(s.pci, level)
  updatePin(s)
}

export const updatePin = (s: E1000State): void => {
  const pin = s.intxLevel && (command(s.pci) & COMMAND_INTX_DISABLE) === 0
  if (pin !== s.pin) {
    s.pin = pin
    s.out.push({ _tag: "Interrupt", level: pin })
  }
}

const minNonZero = (cur: number, v: number): number => (v !== 0 && (cur === 0 || v < cur) ? v : cur)
const MIT_MIN_DELAY = 500 // 256 ns units: the datasheet's 7813 interrupts/s ceiling
const MIT_UNIT_NS = 256

/**
 * QEMU's set_interrupt_cause: ICR = ICS = val; a rising edge raises the line at once and opens a
 * mitigation window (TADV if an IDE descriptor was seen, RADV if RDTR != 0, ITR; at least 500,
 * in 256 ns units); rising edges inside the window only update ICR. Falling edges are immediate.
 */
export const setInterruptCause = (s: E1000State, val: number): void => {
  const r = s.regs
  r[R.ICR] = val
  r[R.ICS] = val
  const pending = (r[R.IMS]! & r[R.ICR]!) >>> 0
  if (!s.mitIrqLevel && pending !== 0) {
    if (s.mitTimerOn) return
    let delay = 0
    if (s.mitIde !== 0 && (pending & (R.ICR_TXQE | R.ICR_TXDW)) !== 0) delay = minNonZero(delay, r[R.TADV]! * 4)
    if (r[R.RDTR] !== 0 && (pending & R.ICR_RXT0) !== 0) delay = minNonZero(delay, r[R.RADV]! * 4)
    delay = minNonZero(delay, r[R.ITR]!)
    if (delay < MIT_MIN_DELAY) delay = MIT_MIN_DELAY
    s.mitTimerOn = true
    armTimer(s, TIMER_MIT, s.now + delay * MIT_UNIT_NS)
    s.mitIde = 0
  }
  s.mitIrqLevel = pending !== 0
  setIntx(s, s.mitIrqLevel)
}

export const setIcs = (s: E1000State, val: number): void => setInterruptCause(s, (val | s.regs[R.ICR]!) >>> 0)

// ---- link (e1000x_update_regs_on_*)

export const linkDownRegs = (s: E1000State): void => {
  s.regs[R.STATUS] = (s.regs[R.STATUS]! & ~R.STATUS_LU) >>> 0
  s.phy[PHY_STATUS] = s.phy[PHY_STATUS]! & ~(MII_SR_LINK | MII_SR_AN_COMPLETE)
  s.phy[PHY_LP_ABILITY] = s.phy[PHY_LP_ABILITY]! & ~MII_LPAR_ACK
}

export const linkUpRegs = (s: E1000State): void => {
  s.regs[R.STATUS] = (s.regs[R.STATUS]! | R.STATUS_LU) >>> 0
  s.phy[PHY_STATUS] = s.phy[PHY_STATUS]! | MII_SR_LINK
}

export const haveAutoneg = (s: E1000State): boolean => (s.phy[PHY_CTRL]! & MII_CR_AUTONEG_EN) !== 0

const AUTONEG_MS = 500
const FLUSH_MS = 1000
export const armFlushTimer = (s: E1000State): void => armMsTimer(s, TIMER_FLUSH, FLUSH_MS)

/** e1000x_restart_autoneg: link down (no LSC here), completion in 500 ms. */
export const restartAutoneg = (s: E1000State): void => {
  linkDownRegs(s)
  s.phy[PHY_STATUS] = s.phy[PHY_STATUS]! & ~MII_SR_AN_COMPLETE
  armMsTimer(s, TIMER_AUTONEG, AUTONEG_MS)
}

// ---- reset

/** e1000_reset: timers cancelled, MAC/PHY registers and TX state to their initial values. */
export const resetDevice = (s: E1000State): void => {
  cancelTimer(s, TIMER_AUTONEG)
  cancelTimer(s, TIMER_MIT)
  cancelTimer(s, TIMER_FLUSH)
  s.mitTimerOn = false
  s.mitIrqLevel = false
  s.mitIde = 0
  resetPhy(s.phy)
  const r = s.regs
  r.fill(0)
  r[R.PBA] = 0x00100030
  r[R.LEDCTL] = 0x602
  r[R.CTRL] = R.CTRL_SWDPIN2 | R.CTRL_SWDPIN0 | R.CTRL_SPD_1000 | R.CTRL_SLU
  r[R.STATUS] = R.STATUS_RESET
  r[R.MANC] = 0x00222300
  s.rxbufMinShift = 1
  const tx = s.tx
  tx.buf.fill(0)
  tx.header.fill(0)
  tx.vlanHeader.fill(0)
  tx.size = 0
  tx.vlanNeeded = false
  tx.sumNeeded = 0
  tx.cptse = false
  tx.props = zeroProps()
  tx.tsoProps = zeroProps()
  tx.tsoFrames = 0
  tx.busy = false
  if (s.linkDown) linkDownRegs(s)
  const m = s.mac
  r[R.RA] = (m[0]! | (m[1]! << 8) | (m[2]! << 16) | (m[3]! << 24)) >>> 0
  r[R.RA + 1] = (m[4]! | (m[5]! << 8) | R.RAH_AV) >>> 0
  r[R.VET] = 0x8100
}

/** Machine/PCI reset: the device reset, then the PCI core clears COMMAND/BARs and drops INTx. */
export const resetAll = (s: E1000State): void => {
  resetDevice(s)
  resetPciConfig(s.pci)
  setIntx(s, false)
}
