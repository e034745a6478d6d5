/**
 * The stack's TCP layer against an independent, simple guest TCP (go-back-N, no SACK, with and
 * without window scaling and timestamps) under seeded loss, duplication and reordering.
 *
 * Purity: every event of every run goes through the referential-transparency harness
 * (test/support/referential.ts: state deep-frozen, reduced twice, results deeply compared,
 * state bytes fingerprinted and re-verified at the end of the run).
 */
import { describe, expect, it } from "vitest"
import { concat } from "./sim.ts"
import { runReferenceSim, type RefParams } from "./reference-sim.ts"

const check = (p: RefParams): void => {
  const r = runReferenceSim(p)
  const detail = `seed ${p.seed} mtu ${p.mtu} ws ${p.wscale} ts ${p.timestamps}: ${r.logs.slice(-3).join(" | ")}`
  expect(r.finished, `unfinished at ${r.virtualMs} ms: ${detail}`).toBe(true)
  expect(r.peer.reset, detail).toBe(false)
  expect(r.hostResets, detail).toBe(0)
  expect(Buffer.compare(concat(r.hostReceived), r.peer.o.source), detail).toBe(0)
  expect(Buffer.compare(concat(r.peer.received), r.hostSource), detail).toBe(0)
  expect(r.peakRecv, detail).toBeLessThanOrEqual(p.bufferBytes)
  expect(r.peakSendBuf, detail).toBeLessThanOrEqual(p.bufferBytes + 64 * 1024)
}

const params = (seed: number): RefParams => ({
  seed,
  mtu: [1500, 576, 9000][seed % 3]!,
  downBytes: 600_000 + seed * 101,
  upBytes: 500_000 + seed * 37,
  loss: [0, 0.01, 0.05][seed % 3]!,
  duplicate: 0.02,
  jitterMs: [0, 0.3][seed % 2]!,
  wscale: seed % 4 === 0 ? undefined : seed % 4,
  timestamps: seed % 5 !== 0,
  peerWindow: seed % 4 === 0 ? 65535 : 200_000,
  bufferBytes: [256 * 1024, 40_000][seed % 2]!,
})

describe("TCP simulation: stack against an independent reference guest", () => {
  describe("50 seeds: options on and off, loss, duplication, reordering", () => {
    for (let seed = 1; seed <= 50; seed++) {
      const p = params(seed)
      it(`seed ${seed}: MTU ${p.mtu}, loss ${p.loss}, wscale ${p.wscale ?? "off"}, timestamps ${p.timestamps ? "on" : "off"}`, () => check(p))
    }
  })
})
