/**
 * run-qemu.ts: runs a trace against QEMU 7.2's e1000 through qtest (the oracle side).
 *
 * Contract: one fresh QEMU per call (closed before returning). Before the trace, the harness
 * routes the card's INTA (slot 3 -> PIRQC) to ISA IRQ 11 in the PIIX3 (no BIOS runs under
 * qtest), intercepts the IOAPIC inputs, and runs the PRELUDE. After every step it lets QEMU's
 * main loop settle (see `settle`), then attributes the IRQ 11 changes and transmitted frames
 * seen since the previous step to this step.
 */
import { setImmediate as nextMacrotask } from "node:timers/promises"
import { toHex } from "../../src/protocol/wire/bytes.ts"
import { absurd } from "../../src/effects/absurd.ts"
import { Qtest } from "./qtest.ts"
import { formatValue, type RunResult, type StepResult } from "./observation.ts"
import { BAR0, GUEST_RAM_MIB, MAC, PRELUDE, SLOT } from "./setup.ts"
import type { Step } from "./trace.ts"

const PIIX3_SLOT = 1
const PIIX3_PIRQ_ROUTE = 0x60 // PIRQA..D route registers 0x60..0x63
const E1000_ISA_IRQ = 11

/**
 * Frames sent to QEMU are read by its main loop, not by the qtest command that follows, and
 * QEMU stops reading its socket while the card cannot receive. Settling: read how many bytes
 * wait in QEMU's socket, then do a no-op qtest round trip; when nothing was waiting before the
 * round trip, everything QEMU read has been fully processed (read and receive run in one main
 * loop callback). When bytes wait and two round trips make no progress, QEMU is not reading
 * (frames held back, exactly like the model's refused frames).
 */
const settle = async (q: Qtest): Promise<void> => {
  let previous = -1
  let stalled = 0
  for (let i = 0; i < 1000; i++) {
    const waiting = q.pendingInQemuSocket()
    await q.sync()
    if (waiting === 0) break
    if (waiting === previous) {
      if (++stalled >= 2) break
    } else {
      stalled = 0
    }
    previous = waiting
  }
  // Frames QEMU sent before its last OK are in our socket; let node deliver them.
  await nextMacrotask()
}

/** No BIOS runs under qtest: route the card's INTA to E1000_ISA_IRQ in the PIIX3 ourselves. */
const routeInterrupt = async (q: Qtest): Promise<void> => {
  const pirq = (SLOT - 1) & 3
  await q.cfgWrite(PIIX3_SLOT, 0, PIIX3_PIRQ_ROUTE + pirq, 1, E1000_ISA_IRQ)
}

const execute = async (q: Qtest, step: Step): Promise<string | undefined> => {
  switch (step.op) {
    case "write": {
      const a = BAR0 + step.offset
      if (step.size === 4) await q.writel(a, step.value)
      else if (step.size === 2) await q.writew(a, step.value)
      else await q.writeb(a, step.value)
      return undefined
    }
    case "read": {
      const a = BAR0 + step.offset
      const v = step.size === 4 ? await q.readl(a) : step.size === 2 ? await q.readw(a) : await q.readb(a)
      return formatValue(v)
    }
    case "cfg.write":
      await q.cfgWrite(SLOT, 0, step.offset, step.size, step.value)
      return undefined
    case "cfg.read":
      return formatValue(await q.cfgRead(SLOT, 0, step.offset, step.size))
    case "mem.write":
      await q.memWrite(step.addr, step.data)
      return undefined
    case "mem.read":
      return toHex(await q.memRead(step.addr, step.length))
    case "net.in":
      await q.sendFrame(step.frame)
      return undefined
    case "clock.step":
      await q.clockStep(step.ns)
      return undefined
    case "link":
      await q.setLink(step.up)
      return undefined
    case "reset":
      await q.systemReset()
      await routeInterrupt(q)
      for (const s of PRELUDE) await execute(q, s)
      return undefined
    default:
      return absurd(step)
  }
}

export const runOnQemu = async (steps: ReadonlyArray<Step>): Promise<RunResult> => {
  const q = await Qtest.start({ mac: MAC, slot: SLOT, guestMemoryMiB: GUEST_RAM_MIB })
  const results: Array<StepResult> = []
  let irqSeen = 0
  let txSeen = 0
  try {
    await routeInterrupt(q)
    await q.command("irq_intercept_in ioapic")
    for (const step of PRELUDE) await execute(q, step)
    await settle(q)
    irqSeen = q.irqEvents.length
    txSeen = q.transmitted.length
    for (const step of steps) {
      let value: string | undefined
      try {
        value = await execute(q, step)
        await settle(q)
      } catch (e) {
        return { results, failure: { line: step.line, message: (e as Error).message } }
      }
      const irq = q.irqEvents.slice(irqSeen).filter((e) => e.line === E1000_ISA_IRQ).map((e) => e.level)
      const tx = q.transmitted.slice(txSeen).map(toHex)
      irqSeen = q.irqEvents.length
      txSeen = q.transmitted.length
      results.push(value === undefined ? { step, irq, tx } : { step, value, irq, tx })
    }
    return { results }
  } finally {
    await q.close()
  }
}
