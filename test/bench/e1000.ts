/**
 * Model-only e1000 benchmark: frames per second through transmit and receive with synchronous
 * guest memory, batches of 256 descriptors (one TDT / RDT write per batch), 64- and 1514-byte
 * frames. Run: node test/bench/e1000.ts  (or npm run bench:e1000)
 */
import { createSyncE1000 } from "../../src/device/e1000/api.ts"

const MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
const RING = 512
const BATCH = 256
const TX_RING = 0x10000
const RX_RING = 0x20000
const BUFS = 0x100000
const BUF_STRIDE = 0x800

const setup = () => {
  const mem = new Uint8Array(BUFS + RING * BUF_STRIDE)
  const dv = new DataView(mem.buffer)
  let sent = 0
  let now = 0
  const nic = createSyncE1000({
    mac: MAC,
    memory: { read: (a, n) => mem.subarray(a, a + n), write: (a, d) => mem.set(d, a) },
    onTransmit: () => {
      sent++
    },
    onIrq: () => {},
    nowNs: () => now,
  })
  nic.configWrite(4, 2, 6)
  nic.mmioWrite(0xd0, 4, 0x9f) // IMS
  return {
    nic,
    mem,
    dv,
    sent: () => sent,
    setNow: (t: number) => {
      now = t
    },
  }
}

/**
 * Frames per second of CPU time (user + system of this process, which is single-threaded), so
 * the figure means "on one core" even when other work shares the machine; wall-clock rate too.
 */
const measure = (label: string, frames: () => number, seconds = 1.5): void => {
  const warmEnd = performance.now() + 300
  while (performance.now() < warmEnd) frames()
  let n = 0
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  const end = start + seconds * 1000
  while (performance.now() < end) n += frames()
  const wall = (performance.now() - start) / 1000
  const c = process.cpuUsage(cpu0)
  const cpu = (c.user + c.system) / 1e6
  const fmt = (x: number): string => Math.round(x).toLocaleString("en-US").padStart(12)
  console.log(`${label.padEnd(16)} ${fmt(n / cpu)} frames/s per CPU-second  (${fmt(n / wall).trim()} frames/s wall)`)
}

const benchTx = (size: number): void => {
  const { nic, mem, dv, sent } = setup()
  for (let i = 0; i < RING; i++) {
    const buf = BUFS + i * BUF_STRIDE
    mem.fill(0xff, buf, buf + 6)
    mem.set(MAC, buf + 6)
    mem[buf + 12] = 0x08
    const d = TX_RING + 16 * i
    dv.setUint32(d, buf, true)
    dv.setUint32(d + 8, size | (1 << 24) | (1 << 25) | (1 << 27), true) // EOP IFCS RS
  }
  nic.mmioWrite(0x3800, 4, TX_RING)
  nic.mmioWrite(0x3808, 4, RING * 16)
  nic.mmioWrite(0x0400, 4, 2) // TCTL.EN
  let tdt = 0
  // sanity: one batch sends BATCH frames
  tdt = BATCH
  nic.mmioWrite(0x3818, 4, tdt)
  if (sent() !== BATCH || nic.mmioRead(0x40d4, 4) !== BATCH) throw new Error("TX sanity check failed")
  measure(`TX ${size}-byte`, () => {
    tdt = (tdt + BATCH) % RING
    nic.mmioWrite(0x3818, 4, tdt)
    nic.mmioRead(0xc0, 4)
    return BATCH
  })
}

const benchRx = (size: number): void => {
  const { nic, dv, setNow } = setup()
  for (let i = 0; i < RING; i++) dv.setUint32(RX_RING + 16 * i, BUFS + i * BUF_STRIDE, true)
  nic.mmioWrite(0x2800, 4, RX_RING)
  nic.mmioWrite(0x2808, 4, RING * 16)
  nic.mmioWrite(0x2818, 4, RING - 1)
  nic.mmioWrite(0x0100, 4, 0x8002 | (1 << 26)) // EN, BAM, SECRC
  setNow(2_000_000_000)
  nic.advanceTo(2_000_000_000)
  const frame = new Uint8Array(size)
  frame.fill(0xff, 0, 6)
  frame.set(MAC, 6)
  frame[12] = 0x08
  let rdh = 0
  const batch = (): number => {
    // hand back a batch of descriptors, then fill them
    nic.mmioWrite(0x2818, 4, (rdh + BATCH) % RING)
    let n = 0
    for (let i = 0; i < BATCH; i++) if (nic.receive(frame)) n++
    rdh = (rdh + BATCH) % RING
    nic.mmioRead(0xc0, 4)
    return n
  }
  batch()
  if (nic.mmioRead(0x40d0, 4) !== BATCH || nic.mmioRead(0x2810, 4) !== rdh) throw new Error("RX sanity check failed")
  measure(`RX ${size}-byte`, batch)
}

benchTx(64)
benchTx(1514)
benchRx(64)
benchRx(1514)
