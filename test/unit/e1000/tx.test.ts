import { describe, expect, it } from "vitest"
import { finish, sum16 } from "../../../src/protocol/wire/checksum.ts"
import { Bench, bytes, ether, ICR_BITS, REG } from "./harness.ts"

const EOP = 1 << 24
const IFCS = 1 << 25
const RS = 1 << 27
const DEXT = 1 << 29
const DTYP_D = 1 << 20
const TSE = 1 << 26
const VLE = 1 << 30
const IDE = 0x80000000
const CTX_TCP = 1 << 24
const CTX_IP = 1 << 25
const IXSM = 1 << 8 // POPTS in "upper"
const TXSM = 2 << 8

const DST = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]
const SRC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]

const setup = (): Bench => {
  const b = new Bench()
  b.enablePci()
  b.txRing(16)
  b.write(REG.TCTL, 0x2)
  b.read(REG.ICR)
  return b
}

/** Puts `frame` at `addr` and queues one legacy descriptor for it. */
const legacy = (b: Bench, i: number, addr: number, frame: Uint8Array, cmd = EOP | IFCS | RS): void => {
  b.mem.set(frame, addr)
  b.txDesc(i, addr, frame.length | cmd, 0)
}

const ipv4Tcp = (payload: Uint8Array, flags = 0x18): Uint8Array => {
  const ip = new Uint8Array(20 + 20 + payload.length)
  ip[0] = 0x45
  ip[4] = 0x12
  ip[5] = 0x34 // id
  ip[8] = 64
  ip[9] = 6
  ip.set([10, 0, 2, 15], 12)
  ip.set([93, 184, 216, 34], 16)
  const t = 20
  ip[t] = 0x9c
  ip[t + 1] = 0x40
  ip[t + 2] = 0x00
  ip[t + 3] = 0x50
  ip.set([0x11, 0x22, 0x33, 0x44], t + 4) // seq
  ip[t + 12] = 0x50
  ip[t + 13] = flags
  ip[t + 14] = 0xff
  ip[t + 15] = 0xff
  ip.set(payload, 40)
  return ip
}

const ipValid = (f: Uint8Array): boolean => finish(sum16(f, 14, 34)) === 0
const tcpValid = (f: Uint8Array): boolean => {
  const ipEnd = 14 + ((f[16]! << 8) | f[17]!)
  const tcpLen = ipEnd - 34
  let acc = sum16(f, 26, 34) + 6 + tcpLen
  acc = sum16(f, 34, ipEnd, acc)
  return finish(acc) === 0
}

describe("e1000 transmit: legacy descriptors", () => {
  it("enabling TX with an empty ring raises TXQE only", () => {
    const b = new Bench()
    b.enablePci()
    b.txRing(8)
    b.write(REG.TCTL, 0x2)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.TXQE)
  })

  it("a short frame goes out unpadded; RS writes DD back; ICR = TXDW|TXQE; stats move", () => {
    const b = setup()
    const f = ether(DST, SRC, 0x0800, bytes(28)) // 42 bytes
    legacy(b, 0, 0x20000, f)
    b.put32(Bench.TX_RING + 12, 0x0000000e) // status EC|LC|TU set by the guest: cleared
    b.write(REG.TDT, 1)
    expect(b.tx).toEqual([f])
    expect(b.get32(Bench.TX_RING + 12)).toBe(0x01)
    expect(b.read(REG.TDH)).toBe(1)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.TXDW | ICR_BITS.TXQE)
    expect(b.read(REG.TPT)).toBe(1)
    expect(b.read(REG.GPTC)).toBe(1)
    expect(b.read(REG.TOTL)).toBe(46)
    expect(b.read(REG.GOTCL)).toBe(46)
    expect(b.read(REG.PTC64)).toBe(0) // 42 + 4 < 64: no bucket
  })

  it("without RS nothing is written back and TXDW is not raised", () => {
    const b = setup()
    const f = ether(DST, SRC, 0x0800, bytes(100))
    legacy(b, 0, 0x20000, f, EOP)
    b.write(REG.TDT, 1)
    expect(b.tx.length).toBe(1)
    expect(b.get32(Bench.TX_RING + 12)).toBe(0)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.TXQE)
  })

  it("a packet spread over three descriptors is sent once, at EOP", () => {
    const b = setup()
    const f = ether(DST, SRC, 0x0800, bytes(1500))
    b.mem.set(f.subarray(0, 100), 0x20000)
    b.mem.set(f.subarray(100, 1000), 0x21000)
    b.mem.set(f.subarray(1000), 0x22000)
    b.txDesc(0, 0x20000, 100, 0)
    b.txDesc(1, 0x21000, 900, 0)
    b.txDesc(2, 0x22000, (f.length - 1000) | EOP | RS, 0)
    b.write(REG.TDT, 3)
    expect(b.tx).toEqual([f])
    expect(b.read(REG.PTC1522)).toBe(1)
  })

  it("legacy CSO/CSS are ignored (no checksum inserted)", () => {
    const b = setup()
    const f = ether(DST, SRC, 0x0800, bytes(60))
    b.mem.set(f, 0x20000)
    b.txDesc(0, 0x20000, f.length | EOP | RS | (1 << 26) /* IC */ | (20 << 16) /* CSO */, 14 << 16 /* CSS */)
    b.write(REG.TDT, 1)
    expect(b.tx).toEqual([f])
  })

  it("broadcast and multicast destinations count BPTC / MPTC", () => {
    const b = setup()
    legacy(b, 0, 0x20000, ether([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], SRC, 0x0806, bytes(46)))
    legacy(b, 1, 0x21000, ether([0x01, 0x00, 0x5e, 0, 0, 1], SRC, 0x0800, bytes(46)))
    b.write(REG.TDT, 2)
    expect(b.read(REG.BPTC)).toBe(1)
    expect(b.read(REG.MPTC)).toBe(1)
    expect(b.read(REG.PTC64)).toBe(2)
  })

  it("without bus mastering descriptors read as zeros: TDH advances, nothing sent, TXQE only", () => {
    const b = setup()
    legacy(b, 0, 0x20000, ether(DST, SRC, 0x0800, bytes(50)))
    b.cfgWrite(0x04, 0x0002, 2)
    b.write(REG.TDT, 1)
    expect(b.tx.length).toBe(0) // an all-zero descriptor: legacy, length 0, no EOP
    expect(b.read(REG.TDH)).toBe(1)
    expect(b.get32(Bench.TX_RING + 12)).toBe(0) // RS was in memory but never seen
    expect(b.read(REG.ICR)).toBe(ICR_BITS.TXQE)
  })

  it("VLAN insertion with CTRL.VME and VLE on the EOP descriptor", () => {
    const b = setup()
    b.write(REG.CTRL, b.read(REG.CTRL) | (1 << 30))
    const f = ether(DST, SRC, 0x0800, bytes(60))
    b.mem.set(f, 0x20000)
    b.txDesc(0, 0x20000, f.length | EOP | RS | VLE, 0x0123 << 16)
    b.write(REG.TDT, 1)
    const want = new Uint8Array(f.length + 4)
    want.set(f.subarray(0, 12))
    want.set([0x81, 0x00, 0x01, 0x23], 12)
    want.set(f.subarray(12), 16)
    expect(b.tx).toEqual([want])
    expect(b.read(REG.TOTL)).toBe(f.length + 4) // the tag is not counted
  })

  it("PHY loopback sends the frame to our own receive ring", () => {
    const b = setup()
    b.rxRing(8)
    b.write(REG.MDIC, (1 << 26) | (1 << 21) | 0x4140) // PHY_CTRL.LOOPBACK (no autoneg restart)
    const f = ether([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], SRC, 0x0800, bytes(100))
    legacy(b, 0, 0x20000, f)
    b.write(REG.TDT, 1)
    expect(b.tx.length).toBe(0)
    expect(b.rxDesc(0).status).toBe(0x07)
    expect(b.mem.slice(0x40000, 0x40000 + f.length)).toEqual(f)
  })
})

describe("e1000 transmit: checksum offload and TSO", () => {
  it("context + data descriptor: IPv4 header and TCP checksums inserted", () => {
    const b = setup()
    const pkt = ipv4Tcp(bytes(200))
    const f = ether(DST, SRC, 0x0800, pkt)
    f[16] = (pkt.length >> 8) & 0xff
    f[17] = pkt.length & 0xff
    // the guest seeds the TCP checksum with the pseudo-header sum (addresses, protocol, length)
    const seed = (sum16(f, 26, 34) + 6 + (pkt.length - 20)) % 0xffff
    f[50] = seed >> 8
    f[51] = seed & 0xff
    b.mem.set(f, 0x20000)
    b.txContext(0, { ipcss: 14, ipcso: 24, ipcse: 33, tucss: 34, tucso: 50, tucse: 0, paylen: 0, cmd: CTX_IP | CTX_TCP, hdrLen: 0, mss: 0 })
    b.txDesc(1, 0x20000, f.length | EOP | RS | DEXT | DTYP_D, IXSM | TXSM)
    b.write(REG.TDT, 2)
    expect(b.tx.length).toBe(1)
    const out = b.tx[0]!
    expect(ipValid(out)).toBe(true)
    expect(tcpValid(out)).toBe(true)
    expect(out.subarray(52)).toEqual(f.subarray(52))
  })

  it("a checksum that folds to 0 is stored as 0xFFFF", () => {
    const b = setup()
    const f = new Uint8Array(20)
    // bytes 2..3 are the checksum slot; choose data so the sum is 0xFFFF -> ~ = 0
    f[0] = 0xff
    f[1] = 0xff
    b.mem.set(f, 0x20000)
    b.txContext(0, { ipcss: 0, ipcso: 2, ipcse: 3, tucss: 0, tucso: 0, tucse: 0, paylen: 0, cmd: 0, hdrLen: 0, mss: 0 })
    b.txDesc(1, 0x20000, f.length | EOP | DEXT | DTYP_D, IXSM)
    b.write(REG.TDT, 2)
    expect(b.tx[0]![2]).toBe(0xff)
    expect(b.tx[0]![3]).toBe(0xff)
  })

  const tso = (payloadLen: number, mss: number): { b: Bench; payload: Uint8Array } => {
    const b = setup()
    const payload = bytes(payloadLen, 3)
    const pkt = ipv4Tcp(payload, 0x19) // PSH|ACK|FIN
    const f = ether(DST, SRC, 0x0800, pkt)
    // Linux: IP total length 0, IP checksum 0, TCP checksum = pseudo-header sum without length
    const seed = (sum16(f, 26, 34) + 6) % 0xffff
    f[50] = seed >> 8
    f[51] = seed & 0xff
    b.mem.set(f.subarray(0, 54), 0x20000)
    b.mem.set(f.subarray(54), 0x30000)
    b.txContext(0, { ipcss: 14, ipcso: 24, ipcse: 33, tucss: 34, tucso: 50, tucse: 0, paylen: payloadLen, cmd: TSE | CTX_IP | CTX_TCP, hdrLen: 54, mss })
    b.txDesc(1, 0x20000, 54 | DEXT | DTYP_D | TSE, IXSM | TXSM)
    b.txDesc(2, 0x30000, payloadLen | EOP | RS | DEXT | DTYP_D | TSE, IXSM | TXSM)
    b.write(REG.TDT, 3)
    return { b, payload }
  }

  it("TSO: segments of MSS with per-segment IP length/id, sequence numbers and valid checksums", () => {
    const { b, payload } = tso(2500, 1000)
    expect(b.tx.map((f) => f.length)).toEqual([1054, 1054, 554])
    b.tx.forEach((f, n) => {
      expect(ipValid(f)).toBe(true)
      expect(tcpValid(f)).toBe(true)
      expect((f[16]! << 8) | f[17]!).toBe(f.length - 14)
      expect((f[18]! << 8) | f[19]!).toBe(0x1234 + n)
      const seq = ((f[38]! << 24) | (f[39]! << 16) | (f[40]! << 8) | f[41]!) >>> 0
      expect(seq).toBe(0x11223344 + 1000 * n)
      expect(f.subarray(54)).toEqual(payload.subarray(1000 * n, 1000 * n + f.length - 54))
      expect(f[47]! & 9).toBe(n === 2 ? 9 : 0) // PSH|FIN only on the last
    })
    expect(b.read(REG.TSCTC)).toBe(1)
    expect(b.read(REG.TPT)).toBe(3)
    expect(b.read(REG.ICR)).toBe(ICR_BITS.TXDW | ICR_BITS.TXQE)
  })

  it("TSO quirk: a payload that is a multiple of MSS ends with a header-only segment", () => {
    const { b } = tso(3000, 1000)
    expect(b.tx.map((f) => f.length)).toEqual([1054, 1054, 1054, 54])
    const last = b.tx[3]!
    expect((last[16]! << 8) | last[17]!).toBe(40)
    expect(ipValid(last)).toBe(true)
    expect(tcpValid(last)).toBe(true)
    expect(b.read(REG.TSCTC)).toBe(2)
  })
})
