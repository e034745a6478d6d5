/**
 * run-model.ts: runs a trace against the pure e1000 model (src/device/e1000) through its
 * synchronous wrapper, with a sparse guest memory, mirroring what run-qemu.ts does to QEMU.
 *
 * Contract: the model's virtual clock starts at 0 ns like QEMU's under qtest; `clock.step`
 * advances it and fires due timers. Frames the model refuses (`receive` returns false) are held
 * in order, as QEMU's net queue and its socket hold them, and re-offered after the model asks
 * for a flush (onRxReady), until one is refused again. A frame arriving while others are held
 * joins the back of the queue (QEMU does not read its socket then).
 * The wire is QEMU's `-netdev dgram` backend, quirks included: sending a zero-length frame
 * returns 0 from sendto, which QEMU's net layer takes for "busy": it queues that frame and every
 * later one behind it and never retries (net_dgram only retries after EAGAIN). So the empty frame
 * reaches the wire and nothing after it does; the harness drops the model's frames the same way.
 */
import { toHex } from "../../src/protocol/wire/bytes.ts"
import { absurd } from "../../src/effects/absurd.ts"
import type { SyncE1000, SyncE1000Options } from "../../src/device/e1000/api.ts"
import { formatValue, type RunResult, type StepResult } from "./observation.ts"
import { BAR0, GUEST_RAM_END, MAC_BYTES, PRELUDE } from "./setup.ts"
import { SparseMemory } from "./sparse-memory.ts"
import type { Step, Width } from "./trace.ts"

const PCI_COMMAND_MEMORY = 0x2

/**
 * qtest's readw/writel/inw/... go through address_space_read/write, which split an access the
 * address is not aligned for into aligned pieces, lowest address first (memory_access_size in
 * QEMU 7.2's softmmu/physmem.c: at most 4 bytes, at most the address's alignment, a power of
 * two). A `write16 0xc5 V` therefore reaches the card as two byte writes. A CPU's unaligned
 * access would arrive whole; traces that care use aligned offsets. Returns [offset, size, shift].
 */
export const splitAccess = (offset: number, size: Width): ReadonlyArray<readonly [number, Width, number]> => {
  const out: Array<readonly [number, Width, number]> = []
  for (let done = 0; done < size; ) {
    const at = offset + done
    let l = size - done
    const align = at & -at
    if (align !== 0 && align < l) l = align
    const piece: Width = l >= 4 ? 4 : l >= 2 ? 2 : 1
    out.push([at, piece, done * 8])
    done += piece
  }
  return out
}

const readSplit = (read: (offset: number, size: Width) => number, offset: number, size: Width): number => {
  let value = 0
  for (const [at, l, shift] of splitAccess(offset, size)) {
    const mask = l === 4 ? 0xffffffff : l === 2 ? 0xffff : 0xff
    value = (value + (read(at, l) & mask) * 2 ** shift) >>> 0
  }
  return value
}

const writeSplit = (write: (offset: number, size: Width, value: number) => void, offset: number, size: Width, value: number): void => {
  for (const [at, l, shift] of splitAccess(offset, size)) {
    const mask = l === 4 ? 0xffffffff : l === 2 ? 0xffff : 0xff
    write(at, l, (Math.floor(value / 2 ** shift) & mask) >>> 0)
  }
}

export type CreateSyncE1000 = (opts: SyncE1000Options) => SyncE1000

export const runOnModel = (createSyncE1000: CreateSyncE1000, steps: ReadonlyArray<Step>): RunResult => {
  const memory = new SparseMemory(GUEST_RAM_END)
  let now = 0
  let irq: Array<boolean> = []
  let tx: Array<string> = []
  const held: Array<Uint8Array> = []
  let flushRequested = false
  let wireStalled = false
  const card = createSyncE1000({
    mac: MAC_BYTES,
    romBar: false,
    memory,
    nowNs: () => now,
    onTransmit: (frame) => {
      if (wireStalled) return
      if (frame.length === 0) wireStalled = true
      tx.push(toHex(frame))
    },
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
        writeSplit((o, l, v) => decoded() && card.mmioWrite(o, l, v), step.offset, step.size, step.value)
        return undefined
      case "read":
        return formatValue(readSplit((o, l) => (decoded() ? card.mmioRead(o, l) : 0), step.offset, step.size))
      case "cfg.write":
        writeSplit((o, l, v) => card.configWrite(o, l, v), step.offset, step.size, step.value)
        return undefined
      case "cfg.read":
        return formatValue(readSplit((o, l) => card.configRead(o, l), step.offset, step.size))
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
      case "reset":
        card.reset()
        for (const s of PRELUDE) execute(s)
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
