/**
 * The least a Node process on QEMU's stream link can do to answer a ping to the gateway: ARP for
 * 10.0.2.2 and ICMP echo to it, no stack. Reads and writes through Node's streams (`streams`)
 * or the addon's stream below them (`native`, link/native-stream.ts, as tslirp's link does).
 * Used by floor.ts, beside the C responder and tslirp.
 *
 * Usage: node test/bench/floor/responder.ts PATH streams|native
 */
import { createServer } from "node:net"
import { unlinkSync } from "node:fs"
import { openNativeStream } from "../../../src/runtime/link/native-stream.ts"
const path = process.argv[2]!
try { unlinkSync(path) } catch {}
const GW_MAC = [0x52, 0x55, 10, 0, 2, 2], GW_IP = [10, 0, 2, 2]
const csum = (p: Uint8Array, o: number, n: number) => { let s = 0; for (let i = 0; i + 1 < n; i += 2) s += (p[o + i]! << 8) | p[o + i + 1]!; if (n & 1) s += p[o + n - 1]! << 8; while (s >> 16) s = (s & 0xffff) + (s >>> 16); return ~s & 0xffff }
const answer = (f: Uint8Array): Uint8Array | undefined => {
  if (f.length >= 42 && f[12] === 8 && f[13] === 6 && f[21] === 1 && f[38] === 10 && f[41] === 2) {
    const o = new Uint8Array(46); const n = 42; o[3] = n
    o.set(f.subarray(6, 12), 4); o.set(GW_MAC, 10); o[16] = 8; o[17] = 6; o.set(f.subarray(14, 20), 18); o[25] = 2
    o.set(GW_MAC, 26); o.set(GW_IP, 32); o.set(f.subarray(22, 32), 36); return o
  }
  if (f.length >= 42 && f[12] === 8 && f[13] === 0 && f[23] === 1 && f[30] === 10 && f[33] === 2 && f[34] === 8) {
    const ihl = (f[14]! & 15) * 4, tot = (f[16]! << 8) | f[17]!, n = 14 + tot
    const o = new Uint8Array(4 + n); o[0] = n >>> 24; o[1] = (n >>> 16) & 255; o[2] = (n >>> 8) & 255; o[3] = n & 255
    const b = 4; o.set(f.subarray(0, n), b); o.set(f.subarray(6, 12), b); o.set(GW_MAC, b + 6)
    o.set(f.subarray(30, 34), b + 26); o.set(f.subarray(26, 30), b + 30); o[b + 22] = 64; o[b + 24] = 0; o[b + 25] = 0
    const ic = csum(o, b + 14, ihl); o[b + 24] = ic >> 8; o[b + 25] = ic & 255
    const i0 = b + 14 + ihl; o[i0] = 0; o[i0 + 2] = 0; o[i0 + 3] = 0; const k = csum(o, i0, tot - ihl); o[i0 + 2] = k >> 8; o[i0 + 3] = k & 255
    return o
  }
  return undefined
}
const native = process.argv[3] === "native"
const server = createServer({ pauseOnConnect: true }, (s) => {
  let pending = new Uint8Array(0)
  const onData = (d: Uint8Array, write: (b: Uint8Array) => void) => {
    const buf = pending.length ? Buffer.concat([pending, d]) : d
    let off = 0
    while (buf.length - off >= 4) {
      const n = ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0
      if (buf.length - off - 4 < n) break
      const a = answer(buf.subarray(off + 4, off + 4 + n)); if (a) write(a)
      off += 4 + n
    }
    pending = buf.slice(off)
  }
  if (native) {
    const ns = openNativeStream(s, (d) => onData(d, (b) => void ns!.writev([b])), () => s.destroy())
  } else {
    s.on("data", (d) => onData(d, (b) => void s.write(b))); s.resume()
  }
})
server.listen(path, () => console.log("ready"))
