/**
 * setup.ts: the machine every trace starts from, the same for QEMU and the model.
 *
 * Contract: `PRELUDE` is run on both sides before a trace's own steps (its results are not
 * compared): BAR0 at `BAR0`, BAR1 (the I/O stub) at `BAR1_IO`, and COMMAND = IO | MEM | MASTER.
 * Trace offsets are relative to BAR0. Guest memory addresses in traces must lie in
 * [GUEST_RAM_START, GUEST_RAM_END): real RAM on QEMU's side (below it sit the BIOS/VGA holes).
 */
import type { Step } from "./trace.ts"

export const MAC = "52:54:00:12:34:56"
export const MAC_BYTES = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])

/** PCI slot of the e1000 on bus 0 under QEMU (slot 3: INTA routes to PIIX3 PIRQC). */
export const SLOT = 3
export const BAR0 = 0xfeb80000
export const BAR1_IO = 0xc000
export const PCI_COMMAND_IO_MEM_MASTER = 0x0007

export const GUEST_RAM_MIB = 128
export const GUEST_RAM_START = 0x100000
export const GUEST_RAM_END = GUEST_RAM_MIB * 1024 * 1024

export const PRELUDE: ReadonlyArray<Step> = [
  { op: "cfg.write", line: 0, size: 4, offset: 0x10, value: BAR0 },
  { op: "cfg.write", line: 0, size: 4, offset: 0x14, value: BAR1_IO },
  { op: "cfg.write", line: 0, size: 2, offset: 0x04, value: PCI_COMMAND_IO_MEM_MASTER },
]
