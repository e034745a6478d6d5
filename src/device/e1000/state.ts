/**
 * The e1000 model's working copy for one call (the draft), and the small pieces every path
 * shares: timers (deadlines in state, announced by SetTimer/CancelTimer), the single interrupt
 * funnel with QEMU 7.2's mitigation window (set_interrupt_cause), the INTx pin, link register
 * updates and reset.
 *
 * Contract: `beginDraft(s)` makes a fresh mutable record of the state's per-frame fields
 * without copying anything else: the register file and the TX buffer are copied piece by
 * piece on their first write in the call (regfile.ts, tx-buffer.ts); the `irq` and `dev`
 * records (types.ts), the small arrays in them (PHY, PCI config, timers) and the TX record on
 * theirs (`irqW`, `devW`, `phyW`, `pciW`, `txW`; the *Owned marks are per call, never in a
 * state). Code below writes only to the draft and to what the draft owns; `finishDraft`
 * returns the successor state, which shares every record the call did not write. `s` and
 * everything reachable from it stay as they were. Effects of the call collect in the draft's
 * `out`.
 * Fresh arrays of more than 64 bytes come from the draft's per-call arena (arena.ts).
 * Nothing here reads a clock: `now` is set by the reducer from the event's time (or a timer's
 * deadline while that timer runs, as QEMU's virtual clock is when the timer callback runs).
 */
import type { Cow } from "./cow.ts"
import { eepromImage, initialEecd } from "./eeprom.ts"
import {
  COMMAND_INTX_DISABLE,
  command,
  createPciConfig,
  createPciMask,
  resetPciConfig,
  setInterruptStatus,
} from "./pci-config.ts"
import { MII_CR_AUTONEG_EN, MII_LPAR_ACK, MII_SR_AN_COMPLETE, MII_SR_LINK, PHY_CTRL, PHY_LP_ABILITY, PHY_STATUS, resetPhy } from "./phy.ts"
import { hg, hotSlot, hs, rg, rs, zeroHot, zeroRegFile } from "./regfile.ts"
import * as R from "./regs.ts"
import { zeroTxBuf, zeroTxHead } from "./tx-buffer.ts"
import type {
  Backlogged,
  DevState,
  E1000Effect,
  E1000State,
  E1000Timer,
  Frame,
  IrqState,
  Mutable,
  Table,
  TxProps,
  TxState,
} from "./types.ts"

// hot registers read and written directly (regfile.ts `hotSlot`)
const S_ICR = hotSlot(R.ICR)
const S_ICS = hotSlot(R.ICS)
const S_IMS = hotSlot(R.IMS)
const S_STATUS = hotSlot(R.STATUS)

export const zeroProps = (): TxProps => ({
  ipcss: 0, ipcso: 0, ipcse: 0, tucss: 0, tucso: 0, tucse: 0, paylen: 0, hdrLen: 0, mss: 0, ip: false, tcp: false, tse: false,
})

export const TIMER_MIT = 0
export const TIMER_AUTONEG = 1
export const TIMER_FLUSH = 2
export const TIMER_NAMES: ReadonlyArray<E1000Timer> = ["mit", "autoneg", "flush"]
const NS_PER_MS = 1_000_000

/**
 * The working copy one call builds: a fresh object, filled during the call and frozen into the
 * next state at its end. The per-frame fields mirror E1000State. `irq` and `dev` start as the
 * given state's records and are only read through; the call's first write to either makes a
 * fresh copy of its own (`irqW`, `devW`), as it does for the arrays inside them (`phyW`,
 * `pciW`, the timers). The given state is never written.
 */
export interface Draft {
  hot: ReadonlyArray<ReadonlyArray<number>>
  hotOwned: number
  regs: Table
  regsCow: Cow | undefined
  tx: Mutable<TxState>
  txOwned: boolean
  txHead: ReadonlyArray<Uint8Array>
  txHeadOwned: number
  txBuf: ReadonlyArray<Uint8Array>
  txTailOwned: number
  /** arena.ts: this call's chunk for fresh arrays */
  arena: Uint8Array | undefined
  arenaUsed: number
  now: number
  queued: Uint8Array | undefined
  echo: Uint8Array | undefined
  op: ReadonlyArray<Frame> | undefined
  reqId: number
  reqAddress: number
  reqLength: number
  backlog: ReadonlyArray<Backlogged>
  irq: IrqState
  /** bit 0: `irq` copied in this call; bit 1: its timer arrays */
  irqOwned: number
  dev: DevState
  /** bit 0: `dev` copied in this call; bit 1: its PHY array; bit 2: its PCI config */
  devOwned: number
  // ---- this call only
  /**
   * Whether a read the operation waits for goes out as a DmaRead effect (e1000Step), or only
   * sets `waiting` for a host that answers it inside the call (model.ts callStart).
   */
  readonly emitReads: boolean
  /** The operation is suspended on the read at reqAddress/reqLength, asked for in this call. */
  waiting: boolean
  readonly out: Array<E1000Effect>
  /** The running operation's frames, innermost last (model.ts drives them; this call's own array). */
  stack: Array<Mutable<Frame>>
  /** The value the frame that just finished returned to its caller. */
  ret: number
}

export const beginDraft = (s: E1000State, emitReads = true): Draft => ({
  hot: s.hot,
  hotOwned: 0,
  regs: s.regs,
  regsCow: undefined,
  tx: s.tx, // copied before the first write (txW)
  txOwned: false,
  txHead: s.txHead,
  txHeadOwned: 0,
  txBuf: s.txBuf,
  txTailOwned: 0,
  arena: undefined,
  arenaUsed: 0,
  now: s.now,
  queued: s.queued,
  echo: s.echo,
  op: s.op,
  reqId: s.reqId,
  reqAddress: s.reqAddress,
  reqLength: s.reqLength,
  backlog: s.backlog,
  irq: s.irq, // copied before the first write (irqW)
  irqOwned: 0,
  dev: s.dev, // copied before the first write (devW)
  devOwned: 0,
  emitReads,
  waiting: false,
  out: [],
  stack: [],
  ret: 0,
})

export const finishDraft = (d: Draft): E1000State => ({
  hot: d.hot,
  regs: d.regs,
  tx: d.tx,
  txHead: d.txHead,
  txBuf: d.txBuf,
  now: d.now,
  queued: d.queued,
  echo: d.echo,
  op: d.op,
  reqId: d.reqId,
  reqAddress: d.reqAddress,
  reqLength: d.reqLength,
  backlog: d.backlog,
  irq: d.irq,
  dev: d.dev,
})

const initialTx = (): TxState => ({
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
})

export const createState = (mac: Uint8Array, romBar: boolean): E1000State => {
  const d = beginDraft({
    hot: zeroHot(),
    regs: zeroRegFile(),
    tx: initialTx(),
    txHead: zeroTxHead(),
    txBuf: zeroTxBuf(),
    now: 0,
    queued: undefined,
    echo: undefined,
    op: undefined,
    reqId: 0,
    reqAddress: 0,
    reqLength: 0,
    backlog: [],
    irq: {
      mitTimerOn: false,
      mitIrqLevel: false,
      mitIde: 0,
      intxLevel: false,
      pin: false,
      timerAt: [-1, -1, -1],
      timerSeq: [0, 0, 0],
      timerCounter: 0,
    },
    dev: {
      mac: Uint8Array.from(mac.subarray(0, 6)),
      phy: new Uint16Array(32),
      eeprom: eepromImage(mac),
      rxStatusBytes: Array.from({ length: 16 }, (_, v) => Uint8Array.of(v)),
      eecd: initialEecd(),
      pci: createPciConfig(),
      pciMask: createPciMask(romBar),
      rxbufSize: 0, // QEMU: set by RCTL writes only, not by reset
      rxbufMinShift: 1,
      linkDown: false,
    },
  })
  resetDevice(d)
  return finishDraft(d)
}

// ---- records and small arrays: copied on their first write in a call

export const txW = (d: Draft): Mutable<TxState> => {
  if (!d.txOwned) {
    d.tx = { ...d.tx }
    d.txOwned = true
  }
  return d.tx
}

const IRQ_OWNED = 1
const TIMERS_OWNED = 2

export const irqW = (d: Draft): Mutable<IrqState> => {
  if ((d.irqOwned & IRQ_OWNED) === 0) {
    d.irq = { ...d.irq }
    d.irqOwned |= IRQ_OWNED
  }
  return d.irq as Mutable<IrqState>
}

const DEV_OWNED = 1
const PHY_OWNED = 2
const PCI_OWNED = 4

export const devW = (d: Draft): Mutable<DevState> => {
  if ((d.devOwned & DEV_OWNED) === 0) {
    d.dev = { ...d.dev }
    d.devOwned |= DEV_OWNED
  }
  return d.dev as Mutable<DevState>
}

export const phyW = (d: Draft): Uint16Array => {
  if ((d.devOwned & PHY_OWNED) === 0) {
    devW(d).phy = d.dev.phy.slice()
    d.devOwned |= PHY_OWNED
  }
  return d.dev.phy
}

export const pciW = (d: Draft): Uint8Array => {
  if ((d.devOwned & PCI_OWNED) === 0) {
    devW(d).pci = d.dev.pci.slice()
    d.devOwned |= PCI_OWNED
  }
  return d.dev.pci
}

/** Puts a PCI config space allocated in this call (so the call may write it). */
const putPci = (d: Draft, pci: Uint8Array): void => {
  devW(d).pci = pci
  d.devOwned |= PCI_OWNED
}

/** Puts a PHY register array allocated in this call. */
const putPhy = (d: Draft, phy: Uint16Array): void => {
  devW(d).phy = phy
  d.devOwned |= PHY_OWNED
}

const timersW = (d: Draft): Mutable<IrqState> & { timerAt: Array<number>; timerSeq: Array<number> } => {
  const irq = irqW(d)
  if ((d.irqOwned & TIMERS_OWNED) === 0) {
    irq.timerAt = irq.timerAt.slice()
    irq.timerSeq = irq.timerSeq.slice()
    d.irqOwned |= TIMERS_OWNED
  }
  return irq as Mutable<IrqState> & { timerAt: Array<number>; timerSeq: Array<number> }
}

// ---- timers

export const armTimer = (d: Draft, t: number, atNs: number): void => {
  const irq = timersW(d)
  irq.timerAt[t] = atNs
  irq.timerSeq[t] = ++irq.timerCounter
  d.out.push({ _tag: "SetTimer", timer: TIMER_NAMES[t]!, atNs })
}

/** QEMU's millisecond timers: deadline = (floor(now / 1 ms) + ms) ms. */
export const armMsTimer = (d: Draft, t: number, ms: number): void =>
  armTimer(d, t, (Math.floor(d.now / NS_PER_MS) + ms) * NS_PER_MS)

/** Disarms without announcing (the timer is running now). */
export const disarmTimer = (d: Draft, t: number): void => {
  timersW(d).timerAt[t] = -1
}

export const cancelTimer = (d: Draft, t: number): void => {
  if (d.irq.timerAt[t]! < 0) return
  disarmTimer(d, t)
  d.out.push({ _tag: "CancelTimer", timer: TIMER_NAMES[t]! })
}

export const timerPending = (d: Draft, t: number): boolean => d.irq.timerAt[t]! >= 0

/** The armed timer that fires first (-1 if none). */
export const nextTimer = (s: { readonly timerAt: ReadonlyArray<number>; readonly timerSeq: ReadonlyArray<number> }): number => {
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
export const setIntx = (d: Draft, level: boolean): void => {
  if (d.irq.intxLevel !== level) irqW(d).intxLevel = level
  const pci = setInterruptStatus(d.dev.pci, level)
  if (pci !== d.dev.pci) putPci(d, pci)
  updatePin(d)
}

export const updatePin = (d: Draft): void => {
  const pin = d.irq.intxLevel && (command(d.dev.pci) & COMMAND_INTX_DISABLE) === 0
  if (pin !== d.irq.pin) {
    irqW(d).pin = pin
    d.out.push({ _tag: "Interrupt", level: pin })
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
export const setInterruptCause = (d: Draft, val: number): void => {
  hs(d, S_ICR, val)
  hs(d, S_ICS, val)
  const pending = (hg(d, S_IMS) & hg(d, S_ICR)) >>> 0
  if (!d.irq.mitIrqLevel && pending !== 0) {
    if (d.irq.mitTimerOn) return
    let delay = 0
    if (d.irq.mitIde !== 0 && (pending & (R.ICR_TXQE | R.ICR_TXDW)) !== 0) delay = minNonZero(delay, rg(d, R.TADV) * 4)
    if (rg(d, R.RDTR) !== 0 && (pending & R.ICR_RXT0) !== 0) delay = minNonZero(delay, rg(d, R.RADV) * 4)
    delay = minNonZero(delay, rg(d, R.ITR))
    if (delay < MIT_MIN_DELAY) delay = MIT_MIN_DELAY
    irqW(d).mitTimerOn = true
    armTimer(d, TIMER_MIT, d.now + delay * MIT_UNIT_NS)
    irqW(d).mitIde = 0
  }
  const level = pending !== 0
  if (d.irq.mitIrqLevel !== level) irqW(d).mitIrqLevel = level
  setIntx(d, level)
}

export const setIcs = (d: Draft, val: number): void => setInterruptCause(d, (val | hg(d, S_ICR)) >>> 0)

// ---- link (e1000x_update_regs_on_*)

export const linkDownRegs = (d: Draft): void => {
  rs(d, R.STATUS, (hg(d, S_STATUS) & ~R.STATUS_LU) >>> 0)
  const phy = phyW(d)
  phy[PHY_STATUS] = phy[PHY_STATUS]! & ~(MII_SR_LINK | MII_SR_AN_COMPLETE)
  phy[PHY_LP_ABILITY] = phy[PHY_LP_ABILITY]! & ~MII_LPAR_ACK
}

export const linkUpRegs = (d: Draft): void => {
  rs(d, R.STATUS, (hg(d, S_STATUS) | R.STATUS_LU) >>> 0)
  const phy = phyW(d)
  phy[PHY_STATUS] = phy[PHY_STATUS]! | MII_SR_LINK
}

export const haveAutoneg = (d: Draft): boolean => (d.dev.phy[PHY_CTRL]! & MII_CR_AUTONEG_EN) !== 0

const AUTONEG_MS = 500
const FLUSH_MS = 1000
export const armFlushTimer = (d: Draft): void => armMsTimer(d, TIMER_FLUSH, FLUSH_MS)

/** e1000x_restart_autoneg: link down (no LSC here), completion in 500 ms. */
export const restartAutoneg = (d: Draft): void => {
  linkDownRegs(d)
  const phy = phyW(d)
  phy[PHY_STATUS] = phy[PHY_STATUS]! & ~MII_SR_AN_COMPLETE
  armMsTimer(d, TIMER_AUTONEG, AUTONEG_MS)
}

// ---- reset

/** e1000_reset: timers cancelled, MAC/PHY registers and TX state to their initial values. */
export const resetDevice = (d: Draft): void => {
  cancelTimer(d, TIMER_AUTONEG)
  cancelTimer(d, TIMER_MIT)
  cancelTimer(d, TIMER_FLUSH)
  const irq = irqW(d)
  irq.mitTimerOn = false
  irq.mitIrqLevel = false
  irq.mitIde = 0
  putPhy(d, resetPhy())
  // a fresh register file and TX buffer: every word and byte zero, nothing copied
  d.hot = zeroHot()
  d.hotOwned = 0
  d.regs = zeroRegFile()
  d.regsCow = undefined
  d.txHead = zeroTxHead()
  d.txHeadOwned = 0
  d.txBuf = zeroTxBuf()
  d.txTailOwned = 0
  rs(d, R.PBA, 0x00100030)
  rs(d, R.LEDCTL, 0x602)
  rs(d, R.CTRL, R.CTRL_SWDPIN2 | R.CTRL_SWDPIN0 | R.CTRL_SPD_1000 | R.CTRL_SLU)
  rs(d, R.STATUS, R.STATUS_RESET)
  rs(d, R.MANC, 0x00222300)
  devW(d).rxbufMinShift = 1
  d.tx = initialTx()
  d.txOwned = false
  if (d.dev.linkDown) linkDownRegs(d)
  const m = d.dev.mac
  rs(d, R.RA, (m[0]! | (m[1]! << 8) | (m[2]! << 16) | (m[3]! << 24)) >>> 0)
  rs(d, R.RA + 1, (m[4]! | (m[5]! << 8) | R.RAH_AV) >>> 0)
  rs(d, R.VET, 0x8100)
}

/** Machine/PCI reset: the device reset, then the PCI core clears COMMAND/BARs and drops INTx. */
export const resetAll = (d: Draft): void => {
  resetDevice(d)
  putPci(d, resetPciConfig(d.dev.pci))
  setIntx(d, false)
}
