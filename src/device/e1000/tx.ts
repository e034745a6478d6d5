/**
 * Transmit, as QEMU 7.2's start_xmit / process_tx_desc / xmit_seg do it, quirks included:
 * TXQE on every enabled start, TXDW only for RS/RPS descriptors, 16-bit buffer lengths, legacy
 * checksum fields ignored, no padding of short frames, TSO segments cut at hdr_len + mss with a
 * header-only tail segment when the payload is a multiple of MSS, checksums that store 0 as
 * 0xFFFF, VLAN tag from the EOP (or TSO) descriptor. The 64 KiB assembly buffer persists between
 * packets like QEMU's (stale bytes can show through in malformed cases, as they do there).
 *
 * Contract: transmit is one `XmitFrame` (types.ts: the ring walk and the descriptor at hand)
 * that suspends on its DMA reads and writes only to the draft (the TX
 * buffer through its copy-on-write writer, tx-buffer.ts). Descriptors are read up to 32 at a
 * time (see `aheadCount` for why that gives QEMU's bytes). `Transmit` frames are fresh copies (arena.ts).
 */
import { absurd } from "../../effects/absurd.ts"
import { finish, sum16 } from "../../protocol/wire/checksum.ts"
import { copyOf } from "./arena.ts"
import { dmaWrite, fitRead, getAddr64, getLe16, getLe32, readNow } from "./dma.ts"
import { CALL, DONE, type Outcome, WAIT } from "./outcome.ts"
import { MII_CR_LOOPBACK, PHY_CTRL } from "./phy.ts"
import { hg, hotSlot, hs, type RegView } from "./regfile.ts"
import * as R from "./regs.ts"
import { pushLoopback } from "./rx.ts"
import { type Draft, irqW, setIcs, txW } from "./state.ts"
import { growPair, incSizeStat, incStat } from "./stats.ts"
import { bufGet, bufRead, bufSet, bufWrite, TX_DATA, TX_DATA_SIZE } from "./tx-buffer.ts"
import type { Mutable, TxProps, XmitFrame } from "./types.ts"

// hot registers read and written directly (regfile.ts `hotSlot`)
const S_CTRL = hotSlot(R.CTRL)
const S_TCTL = hotSlot(R.TCTL)
const S_TDBAH = hotSlot(R.TDBAH)
const S_TDBAL = hotSlot(R.TDBAL)
const S_TDH = hotSlot(R.TDH)
const S_TDLEN = hotSlot(R.TDLEN)
const S_TDT = hotSlot(R.TDT)
const S_VET = hotSlot(R.VET)

const PTC_REGS: ReadonlyArray<number> = [R.PTC64, R.PTC127, R.PTC255, R.PTC511, R.PTC1023, R.PTC1522]

const descBase = (d: RegView): number => hg(d, S_TDBAH) * 0x100000000 + ((hg(d, S_TDBAL) & ~0xf) >>> 0)

/** A call of start_xmit (TCTL/TDT writes): runs the ring from TDH to TDT inside the write. */
export const xmitFrame = (): Mutable<XmitFrame> => ({
  k: "Xmit",
  stage: "start",
  tdhStart: 0,
  cause: 0,
  base: 0,
  lower: 0,
  upper: 0,
  ahead: undefined,
  aheadFrom: 0,
  aheadCount: 0,
  dstage: "done",
  split: 0,
  addr: 0,
  bytes: 0,
})

/** At most this many descriptors are read in one DMA read (512 bytes kept in the frame). */
const AHEAD_MAX = 32

/**
 * How many descriptors to read at once from ring index `tdh`: up to TDT or the ring's end.
 * QEMU reads each descriptor just before processing it; reading ahead gives the same bytes
 * because nothing else writes guest memory while the operation runs (QEMU runs it inside
 * the access, our host backlogs events) and the operation's own writes go to descriptors
 * already processed (write-back of dword 3, one lap at most), except with PHY loopback, whose
 * receive may write anywhere: then one at a time. Fewer reads is fewer calls of the reducer.
 */
const aheadCount = (d: Draft, tdh: number): number => {
  if ((d.dev.phy[PHY_CTRL]! & MII_CR_LOOPBACK) !== 0) return 1
  const tdt = hg(d, S_TDT)
  const ringEnd = Math.floor(hg(d, S_TDLEN) / 16)
  const end = tdt > tdh ? Math.min(tdt, ringEnd) : ringEnd
  return tdh < end ? Math.min(end - tdh, AHEAD_MAX) : 1
}

export const stepXmit = (d: Draft, f: Mutable<XmitFrame>, input: Uint8Array | undefined): Outcome => {
  for (;;) {
    switch (f.stage) {
      case "start":
        if ((hg(d, S_TCTL) & R.TCTL_EN) === 0) return DONE
        if (d.tx.busy) return DONE
        txW(d).busy = true
        f.cause = R.ICR_TXQE
        f.tdhStart = hg(d, S_TDH)
        f.stage = "next"
        continue
      case "next": {
        const tdh = hg(d, S_TDH)
        if (tdh === hg(d, S_TDT)) return endXmit(d, f)
        f.base = descBase(d) + 16 * tdh
        if (f.ahead !== undefined && tdh >= f.aheadFrom && tdh < f.aheadFrom + f.aheadCount) {
          takeDescriptor(d, f, f.ahead, 16 * (tdh - f.aheadFrom))
          continue
        }
        const n = aheadCount(d, tdh)
        const descs = readNow(d, f.base, 16 * n)
        f.aheadFrom = tdh
        f.aheadCount = n
        f.stage = "desc"
        if (descs === undefined) return WAIT
        input = descs
        continue
      }
      case "desc": {
        const n = f.aheadCount
        const descs = fitRead(input!, 16 * n)
        // a copy of the host's bytes (they may be a view of guest memory), kept for later
        f.ahead = n > 1 ? copyOf(d, descs, 0, 16 * n) : undefined
        takeDescriptor(d, f, descs, 0)
        input = undefined
        continue
      }
      case "txdesc": {
        const r = stepTxDesc(d, f, input)
        if (r !== DONE) return r
        input = undefined
        f.stage = "written"
        continue
      }
      case "written": {
        if ((f.lower & (R.TXD_RS | R.TXD_RPS)) !== 0) {
          // txdesc_writeback: only dword 3 goes back, DD set and EC/LC/TU cleared
          const up = ((f.upper | R.TXD_STAT_DD) & ~(R.TXD_STAT_EC | R.TXD_STAT_LC | R.TXD_STAT_TU)) >>> 0
          const wb = new Uint8Array(4)
          wb[0] = up & 0xff
          wb[1] = (up >>> 8) & 0xff
          wb[2] = (up >>> 16) & 0xff
          wb[3] = up >>> 24
          dmaWrite(d, f.base + 12, wb)
          f.cause |= R.ICR_TXDW
        }
        let tdh = (hg(d, S_TDH) + 1) >>> 0
        if (tdh * 16 >= hg(d, S_TDLEN)) tdh = 0
        hs(d, S_TDH, tdh)
        // A bogus TDT/TDLEN would loop forever: QEMU stops after one lap.
        if (tdh === f.tdhStart || f.tdhStart >= hg(d, S_TDLEN) / 16) return endXmit(d, f)
        f.stage = "next"
        continue
      }
      default:
        return absurd(f.stage)
    }
  }
}

/** process_tx_desc for the descriptor at `desc[o..o+16)`: sets the stage that follows. */
const takeDescriptor = (d: Draft, f: Mutable<XmitFrame>, desc: Uint8Array, o: number): void => {
  f.lower = getLe32(desc, o + 8)
  f.upper = getLe32(desc, o + 12)
  f.stage = beginTxDesc(d, f, desc, o) ? "txdesc" : "written"
}

const endXmit = (d: Draft, f: XmitFrame): Outcome => {
  txW(d).busy = false
  setIcs(d, f.cause)
  return DONE
}

const readContext = (d: Uint8Array, o: number, lower: number): TxProps => ({
  ipcss: d[o]!,
  ipcso: d[o + 1]!,
  ipcse: getLe16(d, o + 2),
  tucss: d[o + 4]!,
  tucso: d[o + 5]!,
  tucse: getLe16(d, o + 6),
  paylen: lower & 0xfffff,
  hdrLen: d[o + 13]!,
  mss: getLe16(d, o + 14),
  ip: (lower & R.TXD_IP) !== 0,
  tcp: (lower & R.TXD_TCP) !== 0,
  tse: (lower & R.TXD_TSE) !== 0,
})

/**
 * process_tx_desc up to its first DMA read: a context descriptor is taken at once (false:
 * nothing more to do); for a data descriptor it sets `f`'s process_tx_desc locals (true).
 */
const beginTxDesc = (d: Draft, f: Mutable<XmitFrame>, desc: Uint8Array, o: number): boolean => {
  const tx = txW(d)
  const lower = f.lower
  const upper = f.upper
  const dtype = lower & (R.TXD_DEXT | R.TXD_DTYP_D)
  const ide = (d.irq.mitIde | (lower & R.TXD_IDE)) >>> 0
  if (ide !== d.irq.mitIde) irqW(d).mitIde = ide
  if (dtype === R.TXD_DEXT) {
    // context descriptor: remembered for the packets that follow, nothing sent
    if ((lower & R.TXD_TSE) !== 0) {
      tx.tsoProps = readContext(desc, o, lower)
      tx.tsoFrames = 0
    } else {
      tx.props = readContext(desc, o, lower)
    }
    return false
  }
  if (dtype === (R.TXD_DEXT | R.TXD_DTYP_D)) {
    if (tx.size === 0) tx.sumNeeded = (upper >>> 8) & 0xff
    tx.cptse = (lower & R.TXD_TSE) !== 0
  } else {
    tx.cptse = false // legacy: CSO/CSS/IC are ignored by QEMU
  }
  if ((hg(d, S_CTRL) & R.CTRL_VME) !== 0 && (lower & R.TXD_VLE) !== 0 && (tx.cptse || (lower & R.TXD_EOP) !== 0)) {
    tx.vlanNeeded = true
    const vet = hg(d, S_VET)
    const vh = new Uint8Array(4)
    vh[0] = (vet >>> 8) & 0xff
    vh[1] = vet & 0xff
    vh[2] = upper >>> 24
    vh[3] = (upper >>> 16) & 0xff
    tx.vlanHeader = vh
  }
  f.dstage = tx.cptse ? "tso" : "plain"
  f.split = lower & 0xffff
  f.addr = getAddr64(desc, o)
  f.bytes = 0
  return true
}

/**
 * process_tx_desc from its first buffer read on (TSO: one read per piece up to hdr_len + MSS).
 * DONE when the descriptor is done (the ring walk goes on); CALL for a PHY loopback receive.
 */
const stepTxDesc = (d: Draft, f: Mutable<XmitFrame>, input: Uint8Array | undefined): Outcome => {
  const tx = txW(d) // (xmitSeg below relies on this copy)
  for (;;) {
    switch (f.dstage) {
      case "tso": {
        const msh = tx.tsoProps.hdrLen + tx.tsoProps.mss
        let bytes = f.split
        if (tx.size >= msh) {
          f.dstage = "eop"
          continue
        }
        if (tx.size + bytes > msh) bytes = msh - tx.size
        bytes = Math.min(TX_DATA_SIZE - tx.size, bytes)
        f.bytes = bytes
        const chunk = readNow(d, f.addr, bytes)
        f.dstage = "tsoChunk"
        if (chunk === undefined) return WAIT
        input = chunk
        continue
      }
      case "tsoChunk": {
        const hdrLen = tx.tsoProps.hdrLen
        const bytes = f.bytes
        const chunk = fitRead(input!, bytes)
        bufWrite(d, TX_DATA + tx.size, chunk.length === bytes ? chunk : chunk.subarray(0, bytes))
        const sz = tx.size + bytes
        if (sz >= hdrLen && tx.size < hdrLen) {
          const header = tx.header.slice()
          header.set(bufRead(d, TX_DATA, hdrLen))
          tx.header = header
        }
        tx.size = sz & 0xffff
        f.addr += bytes
        if (sz === hdrLen + tx.tsoProps.mss) {
          f.dstage = "tsoSent"
          const looped = xmitSeg(d)
          if (looped !== undefined && pushLoopback(d, looped)) return CALL
          continue
        }
        f.dstage = "tsoTail"
        continue
      }
      case "tsoSent": {
        const hdrLen = tx.tsoProps.hdrLen
        bufWrite(d, TX_DATA, tx.header.subarray(0, hdrLen))
        tx.size = hdrLen
        f.dstage = "tsoTail"
        continue
      }
      case "tsoTail":
        f.split -= f.bytes
        f.dstage = f.bytes !== 0 && f.split !== 0 ? "tso" : "eop"
        continue
      case "plain": {
        f.split = Math.min(TX_DATA_SIZE - tx.size, f.split)
        const chunk = readNow(d, f.addr, f.split)
        f.dstage = "plainChunk"
        if (chunk === undefined) return WAIT
        input = chunk
        continue
      }
      case "plainChunk": {
        const split = f.split
        const chunk = fitRead(input!, split)
        bufWrite(d, TX_DATA + tx.size, chunk.length === split ? chunk : chunk.subarray(0, split))
        tx.size = (tx.size + split) & 0xffff
        f.dstage = "eop"
        continue
      }
      case "eop":
        if ((f.lower & R.TXD_EOP) === 0) return DONE
        f.dstage = "done"
        if (!(tx.cptse && tx.size < tx.tsoProps.hdrLen)) {
          const looped = xmitSeg(d)
          if (looped !== undefined && pushLoopback(d, looped)) return CALL
        }
        continue
      case "done":
        tx.tsoFrames = 0
        tx.sumNeeded = 0
        tx.vlanNeeded = false
        tx.size = 0
        tx.cptse = false
        return DONE
      default:
        return absurd(f.dstage)
    }
  }
}

const get16be = (d: Draft, o: number): number => (bufGet(d, o) << 8) | bufGet(d, o + 1)
const put16be = (d: Draft, o: number, v: number): void => {
  bufSet(d, o, (v >>> 8) & 0xff)
  bufSet(d, o + 1, v & 0xff)
}

/** putsum: the checksum of data[css, n) (n cut at cse+1) stored at sloc, 0 stored as 0xFFFF. */
const putsum = (d: Draft, n: number, sloc: number, css: number, cse: number): void => {
  if (cse !== 0 && cse < n) n = cse + 1
  if (sloc < ((n - 1) >>> 0)) {
    const len = (n - css) | 0 // QEMU passes an int: a negative length sums nothing
    const sum = len > 0 ? finish(sum16(bufRead(d, TX_DATA + css, len), 0, len)) : 0xffff
    put16be(d, TX_DATA + sloc, sum === 0 ? 0xffff : sum)
  }
}

/**
 * xmit_seg. Returns the frame when PHY loopback is on: the caller delivers it to our own receive
 * path (which may need DMA reads); QEMU does that inside e1000_send_packet, and nothing the
 * receive path touches depends on the counters updated after it here.
 */
const xmitSeg = (d: Draft): Uint8Array | undefined => {
  const tx = txW(d)
  const D = TX_DATA
  const frames = tx.tsoFrames
  const props = tx.cptse ? tx.tsoProps : tx.props
  if (tx.cptse) {
    let css = props.ipcss
    if (props.ip) {
      put16be(d, D + css + 2, tx.size - css)
      put16be(d, D + css + 4, get16be(d, D + css + 4) + frames)
    } else {
      put16be(d, D + css + 4, tx.size - css) // IPv6 payload length
    }
    css = props.tucss
    const len = (tx.size - css) & 0xffff
    if (props.tcp) {
      const sofar = (frames * props.mss) >>> 0
      const o = D + css + 4
      const seq = (((bufGet(d, o) << 24) | (bufGet(d, o + 1) << 16) | (bufGet(d, o + 2) << 8) | bufGet(d, o + 3)) + sofar) >>> 0
      bufSet(d, o, seq >>> 24)
      bufSet(d, o + 1, (seq >>> 16) & 0xff)
      bufSet(d, o + 2, (seq >>> 8) & 0xff)
      bufSet(d, o + 3, seq & 0xff)
      if ((props.paylen - sofar) >>> 0 > props.mss) bufSet(d, D + css + 13, bufGet(d, D + css + 13) & ~9) // PSH, FIN
      else if (frames !== 0) incStat(d, R.TSCTC)
    } else {
      put16be(d, D + css + 4, len) // UDP length
    }
    if ((tx.sumNeeded & R.POPTS_TXSM) !== 0) {
      // the guest seeds the pseudo-header sum without the length; add this segment's length
      let ph = get16be(d, D + props.tucso) + len
      ph = (ph >>> 16) + (ph & 0xffff)
      put16be(d, D + props.tucso, ph)
    }
    tx.tsoFrames = (tx.tsoFrames + 1) & 0xffff
  }
  if ((tx.sumNeeded & R.POPTS_TXSM) !== 0) putsum(d, tx.size, props.tucso, props.tucss, props.tucse)
  if ((tx.sumNeeded & R.POPTS_IXSM) !== 0) putsum(d, tx.size, props.ipcso, props.ipcss, props.ipcse)
  let start = D
  let length = tx.size
  if (tx.vlanNeeded) {
    // QEMU shifts the MAC addresses 4 bytes left into its vlan area and writes the tag after them
    // (two copyWithin calls there; the second one's source is untouched by the first)
    const head = bufRead(d, D, 12)
    const shifted = new Uint8Array(16)
    shifted.set(head.subarray(0, 4), 0)
    shifted.set(head.subarray(4, 12), D)
    shifted.set(tx.vlanHeader, D + 8)
    bufWrite(d, 0, shifted)
    start = 0
    length = tx.size + 4
  }
  const looped = sendPacket(d, start, length)
  incStat(d, R.TPT)
  growPair(d, R.TOTL, tx.size + 4)
  incStat(d, R.GPTC)
  growPair(d, R.GOTCL, tx.size + 4)
  return looped
}

const sendPacket = (d: Draft, start: number, length: number): Uint8Array | undefined => {
  const frame = bufRead(d, start, length)
  let looped: Uint8Array | undefined
  if ((d.dev.phy[PHY_CTRL]! & MII_CR_LOOPBACK) !== 0) looped = frame
  else if (!d.dev.linkDown) d.out.push({ _tag: "Transmit", frame })
  // (with the backend link down QEMU's net layer drops the frame; counters still move)
  // the destination address (read from the buffer: a frame may be shorter than 6 bytes)
  const b = length >= 6 ? frame : bufRead(d, start, 6)
  if ((b[0]! & b[1]! & b[2]! & b[3]! & b[4]! & b[5]!) === 0xff) incStat(d, R.BPTC)
  else if ((b[0]! & 1) !== 0) incStat(d, R.MPTC)
  incSizeStat(d, PTC_REGS, length + 4)
  return looped
}
