/**
 * Receive, as QEMU 7.2's e1000_can_receive / e1000_receive_iov / receive_filter do it: frames
 * padded to 60 bytes, oversize check (ROC), VLAN filter (VFTA), unicast/multicast promiscuous,
 * broadcast, exact RA[0..15], MTA hash; VLAN strip with CTRL.VME; one descriptor per buffer;
 * FCS counted in lengths but never written; guest csum/errors/status bits kept; DD written in a
 * second 1-byte write; overrun (RNBC, MPC, RXO) when buffers run out; RXT0 and RXDMT0.
 * It never computes a receive checksum (QEMU sets IXSM, "ignore checksum", on every EOP).
 *
 * Contract: receive is an `RxFrame` (types.ts) that suspends on each descriptor read and
 * returns, in the draft's `ret`, what e1000_receive_iov returns. It writes only to the draft;
 * the host's frame is never written (the VLAN strip makes a copy); DmaWrite data is a view of
 * that frame or a fresh array.
 */
import { absurd } from "../../effects/absurd.ts"
import { busMaster, dmaWrite, getAddr64, readNow } from "./dma.ts"
import { DONE, type Outcome, WAIT } from "./outcome.ts"
import { hg, hotSlot, hs, type RegView, rg, rs } from "./regfile.ts"
import * as R from "./regs.ts"
import { type Draft, setIcs, TIMER_FLUSH, timerPending } from "./state.ts"
import { growPair, incSizeStat, incStat } from "./stats.ts"
import type { E1000Effect, Mutable, RxFrame } from "./types.ts"

// hot registers read and written directly (regfile.ts `hotSlot`)
const S_CTRL = hotSlot(R.CTRL)
const S_RCTL = hotSlot(R.RCTL)
const S_RDBAH = hotSlot(R.RDBAH)
const S_RDBAL = hotSlot(R.RDBAL)
const S_RDH = hotSlot(R.RDH)
const S_RDLEN = hotSlot(R.RDLEN)
const S_RDT = hotSlot(R.RDT)
const S_STATUS = hotSlot(R.STATUS)
const S_VET = hotSlot(R.VET)

const MIN_FRAME = 60
const MAX_VLAN_FRAME = 1522
const MAX_LPE_FRAME = 16384
const PRC_REGS: ReadonlyArray<number> = [R.PRC64, R.PRC127, R.PRC255, R.PRC511, R.PRC1023, R.PRC1522]
const MTA_SHIFT: ReadonlyArray<number> = [4, 3, 2, 0]

/** e1000x_rxbufsize: RCTL.BSIZE/BSEX to bytes (BSEX with size 00 is 2048, as in QEMU). */
export const rxBufSize = (rctl: number): number => {
  switch (rctl & (R.RCTL_BSEX | (3 << 16))) {
    case R.RCTL_BSEX | (1 << 16):
      return 16384
    case R.RCTL_BSEX | (2 << 16):
      return 8192
    case R.RCTL_BSEX | (3 << 16):
      return 4096
    case 1 << 16:
      return 1024
    case 2 << 16:
      return 512
    case 3 << 16:
      return 256
    default:
      return 2048
  }
}

/** e1000_has_rxbufs, with C's int/unsigned arithmetic for bogus RDH/RDT/RDLEN values. */
export const hasRxBufs = (d: Draft, total: number): boolean => {
  const rdh = hg(d, S_RDH)
  const rdt = hg(d, S_RDT)
  if (total <= d.dev.rxbufSize) return rdh !== rdt
  let bufs: number
  if (rdh < rdt) bufs = (rdt - rdh) | 0
  else if (rdh > rdt) bufs = (Math.floor(hg(d, S_RDLEN) / 16) + rdt - rdh) | 0
  else return false
  return total <= Math.imul(bufs, d.dev.rxbufSize) >>> 0
}

/** e1000_can_receive: link up, receiver on, bus master, a free descriptor, no flush pending. */
export const canReceive = (d: Draft): boolean =>
  (hg(d, S_STATUS) & R.STATUS_LU) !== 0 &&
  (hg(d, S_RCTL) & R.RCTL_EN) !== 0 &&
  busMaster(d) &&
  hasRxBufs(d, 1) &&
  !timerPending(d, TIMER_FLUSH)

const isVlan = (d: RegView, b: Uint8Array): boolean => ((b[12]! << 8) | b[13]!) === (hg(d, S_VET) & 0xffff)

/** receive_filter (7.2: counts MPRC/BPRC itself). */
const receiveFilter = (d: Draft, b: Uint8Array): boolean => {
  const rctl = hg(d, S_RCTL)
  if (isVlan(d, b) && (rctl & R.RCTL_VFE) !== 0) {
    const vid = (b[14]! << 8) | b[15]!
    if ((rg(d, R.VFTA + ((vid >>> 5) & 0x7f)) & (1 << (vid & 0x1f))) === 0) return false
  }
  const isBcast = (b[0]! & b[1]! & b[2]! & b[3]! & b[4]! & b[5]!) === 0xff
  const isMcast = (b[0]! & 1) !== 0
  if (!isBcast && !isMcast && (rctl & R.RCTL_UPE) !== 0) return true
  if (isMcast && (rctl & R.RCTL_MPE) !== 0) {
    incStat(d, R.MPRC)
    return true
  }
  if (isBcast && (rctl & R.RCTL_BAM) !== 0) {
    incStat(d, R.BPRC)
    return true
  }
  const lo = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0
  const hi = b[4]! | (b[5]! << 8)
  for (let i = 0; i < 16; i++) {
    const rah = rg(d, R.RA + 2 * i + 1)
    if ((rah & R.RAH_AV) === 0) continue
    if (rg(d, R.RA + 2 * i) === lo && (rah & 0xffff) === hi) return true
  }
  const f = ((((b[5]! << 8) | b[4]!) >>> MTA_SHIFT[(rctl >>> R.RCTL_MO_SHIFT) & 3]!) & 0xfff) >>> 0
  if ((rg(d, R.MTA + (f >>> 5)) & (1 << (f & 0x1f))) !== 0) {
    incStat(d, R.MPRC)
    return true
  }
  return false
}

const isOversized = (d: Draft, size: number): boolean => {
  const rctl = hg(d, S_RCTL)
  if ((size > MAX_LPE_FRAME || (size > MAX_VLAN_FRAME && (rctl & R.RCTL_LPE) === 0)) && (rctl & R.RCTL_SBP) === 0) {
    incStat(d, R.ROC)
    return true
  }
  return false
}

const overrun = (d: Draft): void => {
  incStat(d, R.RNBC)
  incStat(d, R.MPC)
  setIcs(d, R.ICR_RXO)
}

/** A one-byte array holding `v`: the device's shared one for the low values (never written). */
const statusByte = (d: Draft, v: number): Uint8Array => {
  const shared = d.dev.rxStatusBytes[v]
  if (shared !== undefined) return shared
  const st = new Uint8Array(1)
  st[0] = v
  return st
}

const descBase = (d: RegView): number => hg(d, S_RDBAH) * 0x100000000 + ((hg(d, S_RDBAL) & ~0xf) >>> 0)

/**
 * A call of e1000_receive_iov for `frame` (run by the caller pushing it and returning CALL);
 * `answer`: answer RxAccepted true when done (the caller was qemu_net_queue_send).
 */
export const rxFrame = (frame: Uint8Array, answer = false): Mutable<RxFrame> => ({
  k: "Rx",
  stage: "start",
  answer,
  data: frame,
  size: 0,
  total: 0,
  descOffset: 0,
  rdhStart: 0,
  vlanSpecial: 0,
  vlanStatus: 0,
  bufSize: 0,
  base: 0,
})

/**
 * e1000_receive_iov. Returns (in `d.ret`) -1 (dropped: receiver off, or overrun), 0 (not
 * taken: the RCTL flush timer is pending, QEMU keeps it queued) or the size (consumed,
 * including filtered out).
 */
export const stepRx = (d: Draft, f: Mutable<RxFrame>, input: Uint8Array | undefined): Outcome => {
  for (;;) {
    switch (f.stage) {
      case "start": {
        if ((hg(d, S_STATUS) & R.STATUS_LU) === 0 || (hg(d, S_RCTL) & R.RCTL_EN) === 0) return ret(d, f, -1)
        if (timerPending(d, TIMER_FLUSH)) return ret(d, f, 0)
        let data = f.data
        if (data.length < MIN_FRAME) {
          data = new Uint8Array(MIN_FRAME)
          data.set(f.data)
        }
        let size = data.length
        if (isOversized(d, size)) return ret(d, f, size)
        if (!receiveFilter(d, data)) return ret(d, f, size)
        if ((hg(d, S_CTRL) & R.CTRL_VME) !== 0 && isVlan(d, data)) {
          // strip the tag: the MAC addresses move up over it (a copy: the host's frame is not ours)
          f.vlanSpecial = (data[14]! << 8) | data[15]!
          const stripped = new Uint8Array(size - 4)
          stripped.set(data.subarray(0, 12))
          stripped.set(data.subarray(16), 12)
          data = stripped
          f.vlanStatus = R.RXD_VP
          size -= 4
        }
        f.data = data
        f.size = size
        f.rdhStart = hg(d, S_RDH)
        f.total = size + ((hg(d, S_RCTL) & R.RCTL_SECRC) !== 0 ? 0 : 4)
        if (!hasRxBufs(d, f.total)) {
          overrun(d)
          return ret(d, f, -1)
        }
        f.bufSize = d.dev.rxbufSize
        f.stage = "next"
        continue
      }
      case "next": {
        f.base = descBase(d) + 16 * hg(d, S_RDH)
        const raw = readNow(d, f.base, 16)
        f.stage = "desc"
        if (raw === undefined) return WAIT
        input = raw
        continue
      }
      case "desc": {
        const base = f.base
        const size = f.size
        const total = f.total
        const descSize = Math.min(total - f.descOffset, f.bufSize)
        // our own copy: it is modified and handed out. `new` + `set` (a 16-byte array on V8's
        // heap): `slice` of the host's view cost twice as much. Missing bytes of a short
        // answer stay zero (as dma.ts fitRead pads).
        const desc = new Uint8Array(16)
        const raw = input!
        if (raw.length === 16) desc.set(raw)
        else for (let j = 0; j < Math.min(raw.length, 16); j++) desc[j] = raw[j]!
        desc[14] = f.vlanSpecial & 0xff
        desc[15] = f.vlanSpecial >>> 8
        let status = desc[12]! & ~R.RXD_DD
        const ba = getAddr64(desc, 0)
        if (ba !== 0) {
          if (f.descOffset < size) {
            const copy = Math.min(size - f.descOffset, f.bufSize)
            const whole = f.descOffset === 0 && copy === f.data.length
            dmaWrite(d, ba, whole ? f.data : f.data.subarray(f.descOffset, f.descOffset + copy))
          }
          f.descOffset += descSize
          desc[8] = descSize & 0xff
          desc[9] = (descSize >>> 8) & 0xff
          if (f.descOffset >= total) status |= R.RXD_EOP | R.RXD_IXSM
          else status &= ~R.RXD_EOP
        }
        // (a descriptor with a null buffer address is consumed without data, as the datasheet says)
        desc[12] = status
        dmaWrite(d, base, desc)
        dmaWrite(d, base + 12, statusByte(d, status | f.vlanStatus | R.RXD_DD))
        let rdh = (hg(d, S_RDH) + 1) >>> 0
        if (rdh * 16 >= hg(d, S_RDLEN)) rdh = 0
        hs(d, S_RDH, rdh)
        if (rdh === f.rdhStart || f.rdhStart >= hg(d, S_RDLEN) / 16) {
          overrun(d)
          return ret(d, f, -1)
        }
        if (f.descOffset < total) {
          f.stage = "next"
          continue
        }
        // e1000x_update_rx_total_stats (7.2.x stable: GPRC and GORC counted on their own)
        incSizeStat(d, PRC_REGS, total)
        incStat(d, R.TPR)
        incStat(d, R.GPRC)
        growPair(d, R.TORL, size + 4)
        growPair(d, R.GORCL, size + 4)
        let cause = R.ICR_RXT0
        let rdt = hg(d, S_RDT)
        const rdhNow = hg(d, S_RDH)
        if (rdt < rdhNow) rdt += Math.floor(hg(d, S_RDLEN) / 16)
        if (((rdt - rdhNow) >>> 0) * 16 <= hg(d, S_RDLEN) >>> d.dev.rxbufMinShift) cause |= R.ICR_RXDMT0
        setIcs(d, cause)
        return ret(d, f, size)
      }
      default:
        return absurd(f.stage)
    }
  }
}

/**
 * The RxAccepted answers, one object each: effects are immutable data, and a receive is a
 * call of its own, so an allocation saved here is one per frame.
 */
export const ACCEPTED: E1000Effect = Object.freeze({ _tag: "RxAccepted", accepted: true })
export const REFUSED: E1000Effect = Object.freeze({ _tag: "RxAccepted", accepted: false })

const ret = (d: Draft, f: RxFrame, value: number): Outcome => {
  d.ret = value
  if (f.answer) d.out.push(ACCEPTED)
  return DONE
}

/**
 * PHY loopback (qemu_receive_packet): delivered only if the device can receive right now.
 * Returns true if it pushed the receive (the caller returns CALL), false if there is none.
 */
export const pushLoopback = (d: Draft, frame: Uint8Array): boolean => {
  if (!canReceive(d)) return false
  d.stack.push(rxFrame(frame))
  return true
}
