/**
 * run-model.ts: runs a trace against the pure e1000 model (src/device/e1000) through its
 * synchronous wrapper, with a sparse guest memory, mirroring what run-qemu.ts does to QEMU.
 *
 * Contract: the model's virtual clock starts at 0 ns like QEMU's under qtest; `clock.step`
 * advances it and fires due timers. Frames the model refuses (`receive` returns false) are held
 * in order, as QEMU's net queue and its socket hold them, and re-offered after the model asks
 * for a flush (onRxReady), until one is refused again. A frame arriving while others are held
 * joins the back of the queue (QEMU does not read its socket then).
 */
import { toHex } from "../../src/protocol/wire/bytes.ts"
import { absurd } from "../../src/effects/absurd.ts"
import type { SyncE1000, SyncE1000Options } from "../../src/device/e1000/api.ts"
import { formatValue, type RunResult, type StepResult } from "./observation.ts"
import { BAR0, MAC_BYTES, PRELUDE } from "./setup.ts"
import { SparseMemory } from "./sparse-memory.ts"
import type { Step } from "./trace.ts"

const PCI_COMMAND_MEMORY = 0x2

export type CreateSyncE1000 = (opts: SyncE1000Options) => SyncE1000

export const runOnModel = (createSyncE1000: CreateSyncE1000, steps: ReadonlyArray<Step>): RunResult => {
  const memory = new SparseMemory()
  let now = 0
  let irq: Array<boolean> = []
  let tx: Array<string> = []
  const held: Array<Uint8Array> = []
  let flushRequested = false
  const card = createSyncE1000({
    mac: MAC_BYTES,
    romBar: false,
    memory,
    nowNs: () => now,
    onTransmit: (frame) => tx.push(toHex(frame)),
    onIrq: (level) => irq.push(level),
    onRxReady: () => {
      flushRequested = true
    },
  })

  // Re-offers held frames outside the model's own call stack (the callback only sets a flag).
  const flush = (): void => {
    while (flushRequested) {
      flushRequested = false
      while (held.length > 0) {
        if (!card.receive(held[0]!)) break
        held.shift()
      }
    }
  }

  // The harness plays the PCI bus: an access at BAR0 + offset reaches the card only while
  // COMMAND.MEM is set and BAR0 holds that address, as in QEMU; otherwise it hits unassigned
  // memory (reads 0, writes vanish). Config reads have no side effects.
  const decoded = (): boolean =>
    (card.configRead(0x04, 2) & PCI_COMMAND_MEMORY) !== 0 && (card.configRead(0x10, 4) & ~0xf) >>> 0 === BAR0

  const execute = (step: Step): string | undefined => {
    switch (step.op) {
      case "write":
        if (decoded()) card.mmioWrite(step.offset, step.size, step.value)
        return undefined
      case "read":
        return formatValue(decoded() ? card.mmioRead(step.offset, step.size) : 0)
      case "cfg.write":
        card.configWrite(step.offset, step.size, step.value)
        return undefined
      case "cfg.read":
        return formatValue(card.configRead(step.offset, step.size))
      case "mem.write":
        memory.write(step.addr, step.data)
        return undefined
      case "mem.read":
        return toHex(memory.read(step.addr, step.length))
      case "net.in":
        if (held.length > 0 || !card.receive(step.frame)) held.push(step.frame)
        return undefined
      case "clock.step":
        now += step.ns
        card.advanceTo(now)
        return undefined
      case "link":
        card.setLink(step.up)
        return undefined
      default:
        return absurd(step)
    }
  }

  const results: Array<StepResult> = []
  try {
    for (const step of PRELUDE) execute(step)
    flush()
  } catch (e) {
    return { results, failure: { line: 0, message: `prelude: ${(e as Error).message}` } }
  }
  irq = []
  tx = []
  for (const step of steps) {
    let value: string | undefined
    try {
      value = execute(step)
      flush()
    } catch (e) {
      return { results, failure: { line: step.line, message: (e as Error).stack ?? String(e) } }
    }
    results.push(value === undefined ? { step, irq, tx } : { step, value, irq, tx })
    irq = []
    tx = []
  }
  return { results }
}
