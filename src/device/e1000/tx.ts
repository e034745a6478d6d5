/**
 * Transmit, as QEMU 7.2's start_xmit / process_tx_desc / xmit_seg do it, quirks included:
 * TXQE on every enabled start, TXDW only for RS/RPS descriptors, 16-bit buffer lengths, legacy
 * checksum fields ignored, no padding of short frames, TSO segments cut at hdr_len + mss with a
 * header-only tail segment when the payload is a multiple of MSS, checksums that store 0 as
 * 0xFFFF, VLAN tag from the EOP (or TSO) descriptor. The 64 KiB assembly buffer persists between
 * packets like QEMU's (stale bytes can show through in malformed cases, as they do there).
 */
import { finish, sum16 } from "../../protocol/wire/checksum.ts"
import { dmaWrite, fitRead, getAddr64, getLe16, getLe32, readNow } from "./dma.ts"
import { MII_CR_LOOPBACK, PHY_CTRL } from "./phy.ts"
import * as R from "./regs.ts"
import { receiveLoopback } from "./rx.ts"
import { type E1000State, setIcs, TX_DATA, TX_DATA_SIZE, type TxProps } from "./state.ts"
import { growPair, incSizeStat, incStat } from "./stats.ts"

const PTC_REGS: ReadonlyArray<number> = [R.PTC64, R.PTC127, R.PTC255, R.PTC511, R.PTC1023, R.PTC1522]

const descBase = (s: E1000State): number => s.regs[R.TDBAH]! * 0x100000000 + ((s.regs[R.TDBAL]! & ~0xf) >>> 0)

/** start_xmit: runs the ring from TDH to TDT inside the TCTL/TDT write. */
export function* startXmit(s: E1000State): Generator<void, void, Uint8Array> {
  const r = s.regs
  if ((r[R.TCTL]! & R.TCTL_EN) === 0) return
  if (s.tx.busy) return
  s.tx.busy = true
  let cause = R.ICR_TXQE
  const tdhStart = r[R.TDH]!
  while (r[R.TDH] !== r[R.TDT]) {
    const base = descBase(s) + 16 * r[R.TDH]!
    const d = readNow(s, base, 16) ?? fitRead(yield, 16)
    const lower = getLe32(d, 8)
    const upper = getLe32(d, 12)
    yield* processTxDesc(s, d, lower, upper)
    if ((lower & (R.TXD_RS | R.TXD_RPS)) !== 0) {
      // txdesc_writeback: only dword 3 goes back, DD set and EC/LC/TU cleared
      const up = ((upper | R.TXD_STAT_DD) & ~(R.TXD_STAT_EC | R.TXD_STAT_LC | R.TXD_STAT_TU)) >>> 0
      const wb = s.memory !== undefined ? s.scratch4 : new Uint8Array(4) // sync writes copy at once
      wb[0] = up & 0xff
      wb[1] = (up >>> 8) & 0xff
      wb[2] = (up >>> 16) & 0xff
      wb[3] = up >>> 24
      dmaWrite(s, base + 12, wb)
      cause |= R.ICR_TXDW
    }
    let tdh = (r[R.TDH]! + 1) >>> 0
    if (tdh * 16 >= r[R.TDLEN]!) tdh = 0
    r[R.TDH] = tdh
    // A bogus TDT/TDLEN would loop forever: QEMU stops after one lap.
    if (tdh === tdhStart || tdhStart >= r[R.TDLEN]! / 16) break
  }
  s.tx.busy = false
  setIcs(s, cause)
}

const readContext = (d: Uint8Array, lower: number): TxProps => ({
  ipcss: d[0]!,
  ipcso: d[1]!,
  ipcse: getLe16(d, 2),
  tucss: d[4]!,
  tucso: d[5]!,
  tucse: getLe16(d, 6),
  paylen: lower & 0xfffff,
  hdrLen: d[13]!,
  mss: getLe16(d, 14),
  ip: (lower & R.TXD_IP) !== 0,
  tcp: (lower & R.TXD_TCP) !== 0,
  tse: (lower & R.TXD_TSE) !== 0,
})

function* processTxDesc(s: E1000State, d: Uint8Array, lower: number, upper: number): Generator<void, void, Uint8Array> {
  const tx = s.tx
  const dtype = lower & (R.TXD_DEXT | R.TXD_DTYP_D)
  let split = lower & 0xffff
  s.mitIde = (s.mitIde | (lower & R.TXD_IDE)) >>> 0
  if (dtype === R.TXD_DEXT) {
    // context descriptor: remembered for the packets that follow, nothing sent
    if ((lower & R.TXD_TSE) !== 0) {
      tx.tsoProps = readContext(d, lower)
      tx.tsoFrames = 0
    } else {
      tx.props = readContext(d, lower)
    }
    return
  }
  if (dtype === (R.TXD_DEXT | R.TXD_DTYP_D)) {
    if (tx.size === 0) tx.sumNeeded = (upper >>> 8) & 0xff
    tx.cptse = (lower & R.TXD_TSE) !== 0
  } else {
    tx.cptse = false // legacy: CSO/CSS/IC are ignored by QEMU
  }
  if ((s.regs[R.CTRL]! & R.CTRL_VME) !== 0 && (lower & R.TXD_VLE) !== 0 && (tx.cptse || (lower & R.TXD_EOP) !== 0)) {
    tx.vlanNeeded = true
    const vet = s.regs[R.VET]!
    tx.vlanHeader[0] = (vet >>> 8) & 0xff
    tx.vlanHeader[1] = vet & 0xff
    tx.vlanHeader[2] = upper >>> 24
    tx.vlanHeader[3] = (upper >>> 16) & 0xff
  }
  let addr = getAddr64(d, 0)
  const buf = tx.buf
  if (tx.cptse) {
    const hdrLen = tx.tsoProps.hdrLen
    const msh = hdrLen + tx.tsoProps.mss
    let bytes: number
    do {
      bytes = split
      if (tx.size >= msh) break
      if (tx.size + bytes > msh) bytes = msh - tx.size
      bytes = Math.min(TX_DATA_SIZE - tx.size, bytes)
      const chunk = readNow(s, addr, bytes) ?? fitRead(yield, bytes)
      buf.set(chunk.subarray(0, bytes), TX_DATA + tx.size)
      const sz = tx.size + bytes
      if (sz >= hdrLen && tx.size < hdrLen) tx.header.set(buf.subarray(TX_DATA, TX_DATA + hdrLen))
      tx.size = sz & 0xffff
      addr += bytes
      if (sz === msh) {
        const looped = xmitSeg(s)
        if (looped !== undefined) yield* receiveLoopback(s, looped)
        buf.set(tx.header.subarray(0, hdrLen), TX_DATA)
        tx.size = hdrLen
      }
      split -= bytes
    } while (bytes !== 0 && split !== 0)
  } else {
    split = Math.min(TX_DATA_SIZE - tx.size, split)
    const chunk = readNow(s, addr, split) ?? fitRead(yield, split)
    buf.set(chunk.subarray(0, split), TX_DATA + tx.size)
    tx.size = (tx.size + split) & 0xffff
  }
  if ((lower & R.TXD_EOP) === 0) return
  if (!(tx.cptse && tx.size < tx.tsoProps.hdrLen)) {
    const looped = xmitSeg(s)
    if (looped !== undefined) yield* receiveLoopback(s, looped)
  }
  tx.tsoFrames = 0
  tx.sumNeeded = 0
  tx.vlanNeeded = false
  tx.size = 0
  tx.cptse = false
}

const get16be = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!
const put16be = (b: Uint8Array, o: number, v: number): void => {
  b[o] = (v >>> 8) & 0xff
  b[o + 1] = v & 0xff
}

/** putsum: the checksum of data[css, n) (n cut at cse+1) stored at sloc, 0 stored as 0xFFFF. */
const putsum = (buf: Uint8Array, n: number, sloc: number, css: number, cse: number): void => {
  if (cse !== 0 && cse < n) n = cse + 1
  if (sloc < ((n - 1) >>> 0)) {
    const len = (n - css) | 0 // QEMU passes an int: a negative length sums nothing
    const sum = len > 0 ? finish(sum16(buf, TX_DATA + css, TX_DATA + css + len)) : 0xffff
    put16be(buf, TX_DATA + sloc, sum === 0 ? 0xffff : sum)
  }
}

/**
 * xmit_seg. Returns the frame when PHY loopback is on: the caller delivers it to our own receive
 * path (which may need DMA reads); QEMU does that inside e1000_send_packet, and nothing the
 * receive path touches depends on the counters updated after it here.
 */
const xmitSeg = (s: E1000State): Uint8Array | undefined => {
  const tx = s.tx
  const buf = tx.buf
  const D = TX_DATA
  const frames = tx.tsoFrames
  const props = tx.cptse ? tx.tsoProps : tx.props
  if (tx.cptse) {
    let css = props.ipcss
    if (props.ip) {
      put16be(buf, D + css + 2, tx.size - css)
      put16be(buf, D + css + 4, get16be(buf, D + css + 4) + frames)
    } else {
      put16be(buf, D + css + 4, tx.size - css) // IPv6 payload length
    }
    css = props.tucss
    const len = (tx.size - css) & 0xffff
    if (props.tcp) {
      const sofar = (frames * props.mss) >>> 0
      const o = D + css + 4
      const seq = (((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) + sofar) >>> 0
      buf[o] = seq >>> 24
      buf[o + 1] = (seq >>> 16) & 0xff
      buf[o + 2] = (seq >>> 8) & 0xff
      buf[o + 3] = seq & 0xff
      if ((props.paylen - sofar) >>> 0 > props.mss) buf[D + css + 13] = buf[D + css + 13]! & ~9 // PSH, FIN
      else if (frames !== 0) incStat(s.regs, R.TSCTC)
    } else {
      put16be(buf, D + css + 4, len) // UDP length
    }
    if ((tx.sumNeeded & R.POPTS_TXSM) !== 0) {
      // the guest seeds the pseudo-header sum without the length; add this segment's length
      let ph = get16be(buf, D + props.tucso) + len
      ph = (ph >>> 16) + (ph & 0xffff)
      put16be(buf, D + props.tucso, ph)
    }
    tx.tsoFrames = (tx.tsoFrames + 1) & 0xffff
  }
  if ((tx.sumNeeded & R.POPTS_TXSM) !== 0) putsum(buf, tx.size, props.tucso, props.tucss, props.tucse)
  if ((tx.sumNeeded & R.POPTS_IXSM) !== 0) putsum(buf, tx.size, props.ipcso, props.ipcss, props.ipcse)
  let start = D
  let length = tx.size
  if (tx.vlanNeeded) {
    // QEMU shifts the MAC addresses 4 bytes left into its vlan area and writes the tag after them
    buf.copyWithin(0, D, D + 4)
    buf.copyWithin(D, D + 4, D + 12)
    buf.set(tx.vlanHeader, D + 8)
    start = 0
    length = tx.size + 4
  }
  const looped = sendPacket(s, start, length)
  const r = s.regs
  incStat(r, R.TPT)
  growPair(r, R.TOTL, tx.size + 4)
  incStat(r, R.GPTC)
  growPair(r, R.GOTCL, tx.size + 4)
  return looped
}

const sendPacket = (s: E1000State, start: number, length: number): Uint8Array | undefined => {
  const frame = s.tx.buf.slice(start, start + length)
  let looped: Uint8Array | undefined
  if ((s.phy[PHY_CTRL]! & MII_CR_LOOPBACK) !== 0) looped = frame
  else if (!s.linkDown) s.out.push({ _tag: "Transmit", frame })
  // (with the backend link down QEMU's net layer drops the frame; counters still move)
  const r = s.regs
  const b = s.tx.buf
  if ((b[start]! & b[start + 1]! & b[start + 2]! & b[start + 3]! & b[start + 4]! & b[start + 5]!) === 0xff) incStat(r, R.BPTC)
  else if ((b[start]! & 1) !== 0) incStat(r, R.MPTC)
  incSizeStat(r, PTC_REGS, length + 4)
  return looped
}
