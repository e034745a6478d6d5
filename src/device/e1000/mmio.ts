/**
 * BAR0 register access with QEMU 7.2's semantics: index = (offset & 0x1ffff) >> 2 (sub-dword
 * accesses hit the whole register: reads return its low bytes, writes store the zero-extended
 * value), per-register read and write behaviour from QEMU's macreg_readops/macreg_writeops
 * tables (all compat flags on: mitigation and extra MAC registers accessible). Registers
 * without a handler read 0 and ignore writes; read-only registers ignore writes.
 *
 * Contract: accesses write only to the draft; a write that starts an operation (transmit,
 * queue flush) returns its frame for the reducer to run.
 */
import { eecdRead, eecdWrite, eerdRead } from "./eeprom.ts"
import {
  MDIC_DATA_MASK,
  MDIC_ERROR,
  MDIC_INT_EN,
  MDIC_OP_READ,
  MDIC_OP_WRITE,
  MDIC_PHY_SHIFT,
  MDIC_READY,
  MDIC_REG_SHIFT,
  MII_CR_RESET,
  MII_CR_RESTART_AN,
  PHY_CAPS,
  PHY_CTRL,
  PHY_READABLE,
  PHY_WRITABLE,
} from "./phy.ts"
import { flushFrame, hasQueued } from "./queue.ts"
import { rg, rs } from "./regfile.ts"
import * as R from "./regs.ts"
import { hasRxBufs, rxBufSize } from "./rx.ts"
import { armFlushTimer, type Draft, devW, haveAutoneg, phyW, restartAutoneg, setIcs, setInterruptCause } from "./state.ts"
import { xmitFrame } from "./tx.ts"
import type { Frame, Mutable } from "./types.ts"

// Read kinds
const RD_NONE = 0
const RD_PLAIN = 1
const RD_CLR4 = 2 // read then clear
const RD_CLR8 = 3 // high half of a 64-bit pair: read, clear both halves
const RD_ICR = 4
const RD_EECD = 5
const RD_EERD = 6
const RD_MASK_7FF = 7
const RD_MASK_1FFF = 8
const RD_MASK_F = 9
const RD_MASK_FFFF = 10

// Write kinds
const WR_NONE = 0
const WR_PLAIN = 1
const WR_DLEN = 2
const WR_TCTL = 3 // TCTL and TDT: store, TDT &= 0xffff, start_xmit
const WR_MDIC = 4
const WR_ICS = 5
const WR_16BIT = 6
const WR_RDT = 7
const WR_IMC = 8
const WR_IMS = 9
const WR_ICR = 10
const WR_EECD = 11
const WR_RCTL = 12
const WR_CTRL = 13

const range = (start: number, n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => start + i)

const READ_KIND: Uint8Array = (() => {
  const k = new Uint8Array(R.REG_WORDS)
  const plain = [
    R.PBA, R.RCTL, R.TDH, R.TXDCTL, R.WUFC, R.TDT, R.CTRL, R.LEDCTL, R.MANC, R.MDIC, R.SWSM, R.STATUS,
    R.TORL, R.TOTL, R.IMS, R.TCTL, R.RDH, R.RDT, R.VET, R.ICS, R.TDBAL, R.TDBAH, R.RDBAH, R.RDBAL,
    R.TDLEN, R.RDLEN, R.RDTR, R.RADV, R.TADV, R.ITR, R.FCRUC, R.IPAV, R.WUC, R.WUS, R.SCC, R.ECOL,
    R.MCC, R.LATECOL, R.COLC, R.DC, R.TNCRS, R.SEQEC, R.CEXTERR, R.RLEC, R.XONRXC, R.XONTXC,
    R.XOFFRXC, R.XOFFTXC, R.RFC, R.RJC, R.RNBC, R.TSCTFC, R.MGTPRC, R.MGTPDC, R.MGTPTC, R.GORCL, R.GOTCL,
    ...range(R.CRCERRS, R.MPC - R.CRCERRS + 1),
    ...range(R.IP6AT, 4), ...range(R.IP4AT, 7), ...range(R.RA, 32), ...range(R.WUPM, 32),
    ...range(R.MTA, 128), ...range(R.VFTA, 128), ...range(R.FFVT, 255), ...range(R.PBM, 16384),
  ]
  for (const i of plain) k[i] = RD_PLAIN
  for (const i of [R.TOTH, R.TORH, R.GOTCH, R.GORCH]) k[i] = RD_CLR8
  const clr4 = [
    R.PRC64, R.PRC127, R.PRC255, R.PRC511, R.PRC1023, R.PRC1522, R.PTC64, R.PTC127, R.PTC255, R.PTC511,
    R.PTC1023, R.PTC1522, R.GPRC, R.GPTC, R.TPT, R.TPR, R.RUC, R.ROC, R.BPRC, R.MPRC, R.TSCTC, R.BPTC, R.MPTC,
  ]
  for (const i of clr4) k[i] = RD_CLR4
  k[R.ICR] = RD_ICR
  k[R.EECD] = RD_EECD
  k[R.EERD] = RD_EERD
  // 7.2 stores these unmasked and masks on read (upstream later moved the mask to the write)
  for (const i of [R.TDFH, R.TDFT, ...range(R.FFLT, 7)]) k[i] = RD_MASK_7FF
  for (const i of [R.RDFH, R.RDFT, R.RDFHS, R.RDFTS, R.RDFPC, R.TDFHS, R.TDFTS, R.TDFPC]) k[i] = RD_MASK_1FFF
  for (const i of range(R.FFMT, 255)) k[i] = RD_MASK_F
  k[R.AIT] = RD_MASK_FFFF
  return k
})()

const WRITE_KIND: Uint8Array = (() => {
  const k = new Uint8Array(R.REG_WORDS)
  const plain = [
    R.PBA, R.EERD, R.SWSM, R.WUFC, R.TDBAL, R.TDBAH, R.TXDCTL, R.RDBAH, R.RDBAL, R.LEDCTL, R.VET, R.FCRUC,
    R.IPAV, R.WUC, R.WUS, R.AIT, R.TDFH, R.TDFT, R.TDFHS, R.TDFTS, R.TDFPC, R.RDFH, R.RDFT, R.RDFHS, R.RDFTS,
    R.RDFPC, ...range(R.IP6AT, 4), ...range(R.IP4AT, 7), ...range(R.FFLT, 7), ...range(R.RA, 32),
    ...range(R.WUPM, 32), ...range(R.MTA, 128), ...range(R.VFTA, 128), ...range(R.FFMT, 255),
    ...range(R.FFVT, 255), ...range(R.PBM, 16384),
  ]
  for (const i of plain) k[i] = WR_PLAIN
  k[R.TDLEN] = WR_DLEN
  k[R.RDLEN] = WR_DLEN
  k[R.TCTL] = WR_TCTL
  k[R.TDT] = WR_TCTL
  k[R.MDIC] = WR_MDIC
  k[R.ICS] = WR_ICS
  for (const i of [R.TDH, R.RDH, R.RDTR, R.RADV, R.TADV, R.ITR]) k[i] = WR_16BIT
  k[R.RDT] = WR_RDT
  k[R.IMC] = WR_IMC
  k[R.IMS] = WR_IMS
  k[R.ICR] = WR_ICR
  k[R.EECD] = WR_EECD
  k[R.RCTL] = WR_RCTL
  k[R.CTRL] = WR_CTRL
  return k
})()

/** The register's full 32-bit read value, with its side effects (clear-on-read, ICR). */
const readReg = (d: Draft, i: number): number => {
  switch (READ_KIND[i]) {
    case RD_PLAIN:
      return rg(d, i)
    case RD_CLR4: {
      const v = rg(d, i)
      if (v !== 0) rs(d, i, 0)
      return v
    }
    case RD_CLR8: {
      const v = rg(d, i)
      if (v !== 0) rs(d, i, 0)
      if (rg(d, i - 1) !== 0) rs(d, i - 1, 0)
      return v
    }
    case RD_ICR: {
      const v = rg(d, R.ICR)
      setInterruptCause(d, 0)
      return v
    }
    case RD_EECD:
      return eecdRead(d.dev.eeprom, d.dev.eecd)
    case RD_EERD:
      return eerdRead(d.dev.eeprom, rg(d, R.EERD))
    case RD_MASK_7FF:
      return rg(d, i) & 0x7ff
    case RD_MASK_1FFF:
      return rg(d, i) & 0x1fff
    case RD_MASK_F:
      return rg(d, i) & 0xf
    case RD_MASK_FFFF:
      return rg(d, i) & 0xffff
    default:
      return 0
  }
}

const SIZE_MASK = [0, 0xff, 0xffff, 0, 0xffffffff]

export const mmioRead = (d: Draft, offset: number, size: 1 | 2 | 4): number => {
  const v = readReg(d, (offset & 0x1ffff) >>> 2)
  return size === 4 ? v >>> 0 : v & SIZE_MASK[size]!
}

/** set_phy_ctrl: reserved and self-clearing bits dropped; RESTART_AN restarts autoneg. */
const setPhyCtrl = (d: Draft, val: number): void => {
  phyW(d)[PHY_CTRL] = val & ~(0x3f | MII_CR_RESET | MII_CR_RESTART_AN)
  if (haveAutoneg(d) && (val & MII_CR_RESTART_AN) !== 0) restartAutoneg(d)
}

/** set_mdic */
const setMdic = (d: Draft, value: number): void => {
  let val = value >>> 0
  const data = val & MDIC_DATA_MASK
  const reg = (val >>> MDIC_REG_SHIFT) & 0x1f
  if (((val >>> MDIC_PHY_SHIFT) & 0x1f) !== 1) {
    val = (rg(d, R.MDIC) | MDIC_ERROR) >>> 0 // wrong PHY address: the old value, flagged
  } else if ((val & MDIC_OP_READ) !== 0) {
    if ((PHY_CAPS[reg]! & PHY_READABLE) === 0) val = (val | MDIC_ERROR) >>> 0
    else val = ((val ^ data) | d.dev.phy[reg]!) >>> 0
  } else if ((val & MDIC_OP_WRITE) !== 0) {
    if ((PHY_CAPS[reg]! & PHY_WRITABLE) === 0) val = (val | MDIC_ERROR) >>> 0
    else if (reg === PHY_CTRL) setPhyCtrl(d, data)
    else phyW(d)[reg] = data
  }
  rs(d, R.MDIC, (val | MDIC_READY) >>> 0)
  if ((val & MDIC_INT_EN) !== 0) setIcs(d, R.ICR_MDAC)
}

/** A register write. Returns the operation it starts, if any (TCTL/TDT: transmit; RDT: flush). */
export const mmioWrite = (d: Draft, offset: number, size: 1 | 2 | 4, value: number): Mutable<Frame> | undefined => {
  const i = (offset & 0x1ffff) >>> 2
  const val = (size === 4 ? value : value & SIZE_MASK[size]!) >>> 0
  switch (WRITE_KIND[i]) {
    case WR_NONE:
      return undefined
    case WR_PLAIN:
      rs(d, i, val)
      return undefined
    case WR_DLEN:
      rs(d, i, val & 0xfff80)
      return undefined
    case WR_TCTL:
      rs(d, i, val)
      rs(d, R.TDT, rg(d, R.TDT) & 0xffff)
      return xmitFrame()
    case WR_MDIC:
      setMdic(d, val)
      return undefined
    case WR_ICS:
      setIcs(d, val)
      return undefined
    case WR_16BIT:
      rs(d, i, val & 0xffff)
      return undefined
    case WR_RDT:
      rs(d, i, val & 0xffff)
      return hasQueued(d) && hasRxBufs(d, 1) ? flushFrame() : undefined
    case WR_IMC:
      rs(d, R.IMS, (rg(d, R.IMS) & ~val) >>> 0)
      setIcs(d, 0)
      return undefined
    case WR_IMS:
      rs(d, R.IMS, (rg(d, R.IMS) | val) >>> 0)
      setIcs(d, 0)
      return undefined
    case WR_ICR:
      setInterruptCause(d, (rg(d, R.ICR) & ~val) >>> 0)
      return undefined
    case WR_EECD:
      devW(d).eecd = eecdWrite(d.dev.eecd, val)
      return undefined
    case WR_RCTL: {
      rs(d, i, val)
      const dev = devW(d)
      dev.rxbufSize = rxBufSize(val)
      dev.rxbufMinShift = ((val >>> 8) & 3) + 1
      armFlushTimer(d) // receive is held off for 1000 ms of virtual time
      return undefined
    }
    case WR_CTRL:
      rs(d, i, (val & ~R.CTRL_RST) >>> 0) // RST "self-clears" and resets nothing in QEMU
      return undefined
    default:
      return undefined
  }
}
