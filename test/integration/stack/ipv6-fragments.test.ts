/**
 * IPv6 fragments through the whole stack (checked by the referential-transparency harness): a
 * 3000-byte echo to the gateway arrives in three fragments, is reassembled, answered, and the
 * answer leaves fragmented by us as its source.
 */
import { describe, expect, it } from "vitest"
import { sealIcmpv6 } from "../../../src/protocol/icmpv6/wire.ts"
import { get16, get32, put16, put32 } from "../../../src/protocol/wire/bytes.ts"
import { finish, sum16, sumIpv6Pseudo } from "../../../src/protocol/wire/checksum.ts"
import { StackDriver } from "./driver.ts"
import { GUEST6, HOST6, decode6, ipv6Frame } from "./frames6.ts"

const echoRequest = (n: number): Uint8Array => {
  const m = new Uint8Array(8 + n)
  m[0] = 128
  put16(m, 4, 0x77)
  put16(m, 6, 1)
  for (let i = 0; i < n; i++) m[8 + i] = i & 0xff
  return sealIcmpv6(m, GUEST6, HOST6)
}
const fragmentFrames = (msg: Uint8Array, id: number, step: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let off = 0; off < msg.length; off += step) {
    const part = msg.subarray(off, Math.min(msg.length, off + step))
    const fh = new Uint8Array(8 + part.length)
    fh[0] = 58
    put16(fh, 2, off | (off + part.length < msg.length ? 1 : 0))
    put32(fh, 4, id)
    fh.set(part, 8)
    out.push(ipv6Frame(GUEST6, HOST6, 44, fh))
  }
  return out
}

describe("stack: IPv6 fragments", () => {
  it("ping -s 3000 to fec0::2 in fragments (any order): reassembled, answered, the answer fragmented with a valid checksum", () => {
    const d = new StackDriver()
    const req = echoRequest(3000)
    const frames = fragmentFrames(req, 0x1f8f3d9b, 1448)
    d.frame(frames[2]!)
    d.frame(frames[0]!)
    expect(d.framesOut()).toEqual([])
    d.frame(frames[1]!)
    const out = d.framesOut()
    expect(out.length).toBe(3)
    const whole = new Uint8Array(3008)
    const ids = new Set<number>()
    for (const f of out) {
      expect(f[20]).toBe(44)
      ids.add(get32(f, 58))
      const len = get16(f, 18) - 8
      whole.set(f.subarray(62, 62 + len), get16(f, 56) & 0xfff8)
    }
    expect(ids.size).toBe(1)
    expect([whole[0], get16(whole, 4), get16(whole, 6)]).toEqual([129, 0x77, 1])
    expect(whole.subarray(8)).toEqual(req.subarray(8))
    const h = decode6(out[0]!)
    expect([h.src, h.dst]).toEqual(["fec0::2", "fec0::5054:ff:fe12:3456"])
    expect(finish(sum16(whole, 0, whole.length, sumIpv6Pseudo(0, HOST6, 0, GUEST6, 0, whole.length, 58)))).toBe(0)
    expect(d.state.reassembly6.datagrams.size).toBe(0)
  })

  it("a lone fragment is dropped after 60 s by its timer, with a debug line", () => {
    const d = new StackDriver()
    d.frame(fragmentFrames(echoRequest(3000), 5, 1448)[0]!)
    expect(d.state.reassembly6.datagrams.size).toBe(1)
    d.advance(60_000)
    expect(d.state.reassembly6.datagrams.size).toBe(0)
    expect(d.log.some((l) => l.includes("ipv6 reassembly: incomplete after 60 s"))).toBe(true)
  })
})
