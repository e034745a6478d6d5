/**
 * The stack's TCP layer against a guest TCP peer over a lossy, duplicating, reordering wire,
 * in virtual time, over many seeds: every byte arrives in order on both ends, both sides close
 * cleanly, no reset, and memory stays within the configured bound.
 *
 * Purity: every event of both sides of every run goes through the referential-transparency
 * harness (test/support/referential.ts: state deep-frozen, reduced twice, results deeply
 * compared, state bytes fingerprinted and re-verified at the end of the run).
 */
import { describe, expect, it } from "vitest"
import { defaultTcpConfig } from "../../../src/protocol/tcp/config.ts"
import { concat, mixedSweepParams, runSim, type SimParams } from "./sim.ts"

const BOUND = defaultTcpConfig.bufferBytes
const MB = 1024 * 1024

const check = (p: SimParams): void => {
  const r = runSim(p)
  const bound = p.config?.bufferBytes ?? BOUND
  const detail = `seed ${p.seed} mtu ${p.mtu} loss ${p.loss}: ${r.logs.slice(-5).join(" | ")}`
  expect(r.finished, `did not finish by ${r.virtualMs} ms; ${detail}`).toBe(true)
  expect(r.a.resets + r.b.resets, detail).toBe(0)
  expect(r.a.receivedBytes, detail).toBe(r.b.source.length)
  expect(r.b.receivedBytes, detail).toBe(r.a.source.length)
  expect(Buffer.compare(concat(r.a.received), r.b.source), detail).toBe(0)
  expect(Buffer.compare(concat(r.b.received), r.a.source), detail).toBe(0)
  expect(r.a.peerEof && r.b.peerEof).toBe(true)
  // Bounded memory: the send buffer stops growing one host read (<= 64 KiB) past the bound;
  // received data held (queued to the host + out of order) stays within the advertised window.
  for (const s of [r.a, r.b]) {
    expect(s.peakSendBuf, detail).toBeLessThanOrEqual(bound + 64 * 1024)
    expect(s.peakRecv, detail).toBeLessThanOrEqual(bound)
  }
  expect(r.logs.filter((l) => l.includes("reset")), detail).toEqual([])
}

describe("TCP simulation: guest peer <-> stack <-> fake host", () => {
  it("a small guest RX ring (64 frames) overflows and every byte still arrives", () => {
    for (const mtu of [1500, 9000]) {
      const r = runSim({
        seed: 1,
        mtu,
        downBytes: MB,
        upBytes: 64 * 1024,
        loss: 0,
        duplicate: 0,
        delayMs: 0.05,
        jitterMs: 0.01,
        drainMs: 0.05,
        stallProbability: 0,
        ringFrames: 64,
        ringDrainPerMs: mtu === 1500 ? 200 : 40,
      })
      expect(r.finished).toBe(true)
      expect(Buffer.compare(concat(r.b.received), r.a.source)).toBe(0)
      expect(r.ringDrops, `mtu ${mtu}`).toBeGreaterThan(0)
    }
  }, 120_000) // ~25 s alone; the harness is ~40x the work and the machine is shared

  it("clean wire, MTU 1500: 4 MiB each way", () => {
    check({ seed: 1, mtu: 1500, downBytes: 4 * MB, upBytes: 4 * MB, loss: 0, duplicate: 0, delayMs: 0.05, jitterMs: 0, drainMs: 0.05, stallProbability: 0 })
  })

  describe("50 seeds with loss, duplication, reordering and host stalls, mixed MTUs", () => {
    for (let seed = 1; seed <= 50; seed++) {
      const p = mixedSweepParams(seed)
      it(`seed ${seed}: MTU ${p.mtu}, loss ${p.loss}`, () => check(p))
    }
  })

  describe("heavy loss (20%): 20 seeds, with FIN_WAIT_2 and TIME_WAIT longer than the backed-off RTO", () => {
    for (let seed = 200; seed < 220; seed++) {
      const mtu = [576, 1500, 32000, 65000][seed % 4]!
      it(`seed ${seed}: MTU ${mtu}`, () => {
        check({
          seed,
          mtu,
          downBytes: 300_000 + seed * 1000,
          upBytes: 200_000 + seed * 3000,
          loss: 0.2,
          duplicate: 0.05,
          delayMs: 0.05,
          jitterMs: [0, 1, 5][seed % 3]!,
          drainMs: 1,
          stallProbability: 0.01,
          config: { bufferBytes: [256 * 1024, 20_000, 70_000][seed % 3]!, finWait2TimeoutMs: 600_000, timeWaitMs: 300_000 },
        })
      })
    }
  })

  it("a guest RX ring that tail-drops bursts (256 frames): SACK, tail loss probes and recovery, next to no timeouts", () => {
    let drops = 0
    let timeouts = 0
    for (let seed = 1; seed <= 10; seed++) {
      for (const mtu of [1500, 9000]) {
        const p: SimParams = {
          seed,
          mtu,
          downBytes: 8 * MB,
          upBytes: MB,
          loss: 0,
          duplicate: 0,
          delayMs: 0.05,
          jitterMs: 0.01,
          drainMs: 0.05,
          stallProbability: 0,
          ringFrames: 256,
          ringDrainPerMs: mtu === 1500 ? 200 : 40,
        }
        const r = runSim(p)
        expect(r.finished).toBe(true)
        expect(Buffer.compare(concat(r.b.received), r.a.source)).toBe(0)
        drops += r.ringDrops
        timeouts += r.logs.filter((l) => l.includes("stack debug") && l.includes("retransmission timeout")).length
      }
    }
    expect(drops).toBeGreaterThan(100) // the scenario does overflow the ring
    expect(timeouts).toBeLessThanOrEqual(2)
  }, 600_000) // 20 runs whose totals are asserted together: one test, a longer time limit

  it("over IPv6 (the same layer, 16-byte addresses, MSS = MTU - 60): seeds 1-4 at MTU 1280/1500/9000/65000, and 1 MiB each way", () => {
    const mtus = [1280, 1500, 9000, 65000]
    for (let seed = 1; seed <= 4; seed++) {
      // the mixed sweep's wire for the seed, at ~128 KiB each way
      check({ ...mixedSweepParams(seed), family: 6, mtu: mtus[seed - 1]!, downBytes: 128 * 1024 + seed * 997, upBytes: 128 * 1024 - seed * 1009 })
    }
    check({ seed: 77, family: 6, mtu: 1500, downBytes: MB, upBytes: MB, loss: 0.02, duplicate: 0.01, delayMs: 0.1, jitterMs: 0.2, drainMs: 0.2, stallProbability: 0.002 })
  })

  it("a small bound (16 KiB) with a slow host still moves 1 MiB each way", () => {
    const p: SimParams = {
      seed: 99,
      mtu: 1500,
      downBytes: MB,
      upBytes: MB,
      loss: 0.02,
      duplicate: 0.01,
      delayMs: 0.1,
      jitterMs: 0.2,
      drainMs: 2,
      stallProbability: 0.01,
      config: { bufferBytes: 16 * 1024 },
    }
    const r = runSim(p)
    expect(r.finished).toBe(true)
    expect(Buffer.compare(concat(r.a.received), r.b.source)).toBe(0)
    expect(Buffer.compare(concat(r.b.received), r.a.source)).toBe(0)
    for (const s of [r.a, r.b]) {
      expect(s.peakSendBuf).toBeLessThanOrEqual(16 * 1024 + 64 * 1024)
      expect(s.peakRecv).toBeLessThanOrEqual(16 * 1024)
    }
  })
})
