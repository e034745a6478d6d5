/**
 * Receive, as QEMU 7.2's e1000_can_receive / e1000_receive_iov / receive_filter do it: frames
 * padded to 60 bytes, oversize check (ROC), VLAN filter (VFTA), unicast/multicast promiscuous,
 * broadcast, exact RA[0..15], MTA hash; VLAN strip with CTRL.VME; one descriptor per buffer;
 * FCS counted in lengths but never written; guest csum/errors/status bits kept; DD written in a
 * second 1-byte write; overrun (RNBC, MPC, RXO) when buffers run out; RXT0 and RXDMT0.
 * It never computes a receive checksum (QEMU sets IXSM, "ignore checksum", on every EOP).
 */
import { busMaster, dmaWrite, fitRead, getAddr64, readNow } from "./dma.ts"
import * as R from "./regs.ts"
import { type E1000State, setIcs, TIMER_FLUSH, timerPending } from "./state.ts"
import { growPair, incSizeStat, incStat } from "./stats.ts"

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
export const hasRxBufs = (s: E1000State, total: number): boolean => {
  const r = s.regs
  const rdh = r[R.RDH]!
  const rdt = r[R.RDT]!
  if (total <= s.rxbufSize) return rdh !== rdt
  let bufs: number
  if (rdh < rdt) bufs = (rdt - rdh) | 0
  else if (rdh > rdt) bufs = (Math.floor(r[R.RDLEN]! / 16) + rdt - rdh) | 0
  else return false
  return total <= Math.imul(bufs, s.rxbufSize) >>> 0
}

/** e1000_can_receive: link up, receiver on, bus master, a free descriptor, no flush pending. */
export const canReceive = (s: E1000State): boolean =>
  (s.regs[R.STATUS]! & R.STATUS_LU) !== 0 &&
  (s.regs[R.RCTL]! & R.RCTL_EN) !== 0 &&
  busMaster(s) &&
  hasRxBufs(s, 1) &&
  !timerPending(s, TIMER_FLUSH)

const isVlan = (s: E1000State, b: Uint8Array): boolean => ((b[12]! << 8) | b[13]!) === (s.regs[R.VET]! & 0xffff)

/** receive_filter (7.2: counts MPRC/BPRC itself). */
const receiveFilter = (s: E1000State, b: Uint8Array): boolean => {
  const r = s.regs
  const rctl = r[R.RCTL]!
  if (isVlan(s, b) && (rctl & R.RCTL_VFE) !== 0) {
    const vid = (b[14]! << 8) | b[15]!
    if ((r[R.VFTA + ((vid >>> 5) & 0x7f)]! & (1 << (vid & 0x1f))) === 0) return false
  }
  const isBcast = (b[0]! & b[1]! & b[2]! & b[3]! & b[4]! & b[5]!) === 0xff
  const isMcast = (b[0]! & 1) !== 0
  if (!isBcast && !isMcast && (rctl & R.RCTL_UPE) !== 0) return true
  if (isMcast && (rctl & R.RCTL_MPE) !== 0) {
    incStat(r, R.MPRC)
    return true
  }
  if (isBcast && (rctl & R.RCTL_BAM) !== 0) {
    incStat(r, R.BPRC)
    return true
  }
  const lo = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0
  const hi = b[4]! | (b[5]! << 8)
  for (let i = 0; i < 16; i++) {
    const rah = r[R.RA + 2 * i + 1]!
    if ((rah & R.RAH_AV) === 0) continue
    if (r[R.RA + 2 * i] === lo && (rah & 0xffff) === hi) return true
  }
  const f = ((((b[5]! << 8) | b[4]!) >>> MTA_SHIFT[(rctl >>> R.RCTL_MO_SHIFT) & 3]!) & 0xfff) >>> 0
  if ((r[R.MTA + (f >>> 5)]! & (1 << (f & 0x1f))) !== 0) {
    incStat(r, R.MPRC)
    return true
  }
  return false
}

const isOversized = (s: E1000State, size: number): boolean => {
  const rctl = s.regs[R.RCTL]!
  if ((size > MAX_LPE_FRAME || (size > MAX_VLAN_FRAME && (rctl & R.RCTL_LPE) === 0)) && (rctl & R.RCTL_SBP) === 0) {
    incStat(s.regs, R.ROC)
    return true
  }
  return false
}

const overrun = (s: E1000State): void => {
  incStat(s.regs, R.RNBC)
  incStat(s.regs, R.MPC)
  setIcs(s, R.ICR_RXO)
}

const descBase = (s: E1000State): number => s.regs[R.RDBAH]! * 0x100000000 + ((s.regs[R.RDBAL]! & ~0xf) >>> 0)

/**
 * e1000_receive_iov. Returns -1 (dropped: receiver off, or overrun), 0 (not taken: the RCTL flush
 * timer is pending, QEMU keeps it queued) or the size (consumed, including filtered out).
 */
export function* receiveIov(s: E1000State, frame: Uint8Array): Generator<void, number, Uint8Array> {
  const r = s.regs
  if ((r[R.STATUS]! & R.STATUS_LU) === 0 || (r[R.RCTL]! & R.RCTL_EN) === 0) return -1
  if (timerPending(s, TIMER_FLUSH)) return 0
  let data = frame
  if (data.length < MIN_FRAME) {
    data = new Uint8Array(MIN_FRAME)
    data.set(frame)
  }
  let size = data.length
  if (isOversized(s, size)) return size
  if (!receiveFilter(s, data)) return size
  let vlanSpecial = 0
  let vlanStatus = 0
  if ((r[R.CTRL]! & R.CTRL_VME) !== 0 && isVlan(s, data)) {
    // strip the tag: the MAC addresses move up over it (a copy: the host's frame is not ours)
    vlanSpecial = (data[14]! << 8) | data[15]!
    const stripped = new Uint8Array(size - 4)
    stripped.set(data.subarray(0, 12))
    stripped.set(data.subarray(16), 12)
    data = stripped
    vlanStatus = R.RXD_VP
    size -= 4
  }
  const rdhStart = r[R.RDH]!
  let descOffset = 0
  const total = size + ((r[R.RCTL]! & R.RCTL_SECRC) !== 0 ? 0 : 4)
  if (!hasRxBufs(s, total)) {
    overrun(s)
    return -1
  }
  const bufSize = s.rxbufSize
  do {
    const descSize = Math.min(total - descOffset, bufSize)
    const base = descBase(s) + 16 * r[R.RDH]!
    const raw = readNow(s, base, 16) ?? fitRead(yield, 16)
    // our own copy: it is modified and handed out (sync writes copy at once: scratch is enough)
    const d = s.memory !== undefined ? s.scratch16 : new Uint8Array(16)
    d.set(raw.subarray(0, 16))
    d[14] = vlanSpecial & 0xff
    d[15] = vlanSpecial >>> 8
    let status = d[12]! & ~R.RXD_DD
    const ba = getAddr64(d, 0)
    if (ba !== 0) {
      if (descOffset < size) {
        const copy = Math.min(size - descOffset, bufSize)
        dmaWrite(s, ba, data.subarray(descOffset, descOffset + copy))
      }
      descOffset += descSize
      d[8] = descSize & 0xff
      d[9] = (descSize >>> 8) & 0xff
      if (descOffset >= total) status |= R.RXD_EOP | R.RXD_IXSM
      else status &= ~R.RXD_EOP
    }
    // (a descriptor with a null buffer address is consumed without data, as the datasheet says)
    d[12] = status
    dmaWrite(s, base, d)
    const st = s.memory !== undefined ? s.scratch1 : new Uint8Array(1)
    st[0] = status | vlanStatus | R.RXD_DD
    dmaWrite(s, base + 12, st)
    let rdh = (r[R.RDH]! + 1) >>> 0
    if (rdh * 16 >= r[R.RDLEN]!) rdh = 0
    r[R.RDH] = rdh
    if (rdh === rdhStart || rdhStart >= r[R.RDLEN]! / 16) {
      overrun(s)
      return -1
    }
  } while (descOffset < total)
  // e1000x_update_rx_total_stats (7.2.x stable: GPRC and GORC counted on their own)
  incSizeStat(r, PRC_REGS, total)
  incStat(r, R.TPR)
  incStat(r, R.GPRC)
  growPair(r, R.TORL, size + 4)
  growPair(r, R.GORCL, size + 4)
  let cause = R.ICR_RXT0
  let rdt = r[R.RDT]!
  if (rdt < r[R.RDH]!) rdt += Math.floor(r[R.RDLEN]! / 16)
  if (((rdt - r[R.RDH]!) >>> 0) * 16 <= r[R.RDLEN]! >>> s.rxbufMinShift) cause |= R.ICR_RXDMT0
  setIcs(s, cause)
  return size
}

/** PHY loopback (qemu_receive_packet): delivered only if the device can receive right now. */
export function* receiveLoopback(s: E1000State, frame: Uint8Array): Generator<void, void, Uint8Array> {
  if (canReceive(s)) yield* receiveIov(s, frame)
}
