/**
 * Hostile input through the whole stack: random and mutated frames never throw, and memory
 * stays bounded (reassembly and ARP queues).
 */
import { describe, expect, it } from "vitest"
import { REASS_MAX_BYTES } from "../../../src/protocol/ipv4/reassembly.ts"
import { StackDriver } from "./driver.ts"
import { GUEST, HOST, DNS, bytes, pingFrame, udpFrame } from "./frames.ts"

/** xorshift32: a seeded PRNG so a failure can be replayed from its seed. */
const prng = (seed: number) => {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 0x100000000
  }
}

describe("stack: hostile frames", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: 3000 random and mutated frames never throw, memory stays bounded`, () => {
      const rnd = prng(seed)
      const d = new StackDriver()
      const seeds = [
        udpFrame(GUEST, HOST, 1000, 7, bytes("hello")),
        udpFrame(GUEST, DNS, 1000, 53, new Uint8Array(40)),
        pingFrame(HOST, 1, 1, bytes("x")),
        pingFrame(0xc0000201, 1, 1, bytes("x")),
      ]
      for (let i = 0; i < 3000; i++) {
        let f: Uint8Array
        if (rnd() < 0.3) {
          f = new Uint8Array(Math.floor(rnd() * 200)).map(() => Math.floor(rnd() * 256))
        } else {
          f = seeds[Math.floor(rnd() * seeds.length)]!.slice()
          const flips = 1 + Math.floor(rnd() * 4)
          for (let k = 0; k < flips; k++) f[Math.floor(rnd() * f.length)] = Math.floor(rnd() * 256)
          if (rnd() < 0.2) f = f.subarray(0, Math.floor(rnd() * f.length))
        }
        expect(() => d.frame(f)).not.toThrow()
        if (i % 500 === 0) d.advance(10_000)
      }
      d.take()
      expect(d.state.reassembly.bytes).toBeLessThanOrEqual(REASS_MAX_BYTES)
      expect(d.state.napt.flows.udpCount).toBeLessThanOrEqual(1024)
      expect(d.state.ipv4.neighbors.pendingBytes).toBeLessThanOrEqual(256 * 1024)
    })
  }
})
