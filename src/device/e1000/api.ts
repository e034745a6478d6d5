/**
 * The public API of the e1000 (Intel 82540EM) model, shaped after QEMU 7.2's hw/net/e1000.c.
 *
 * Contract:
 * - `e1000Step(s, nowNs, ev)` is a pure reducer: it never writes to `s` or to anything reachable
 *   from it, equal inputs give equal results, and every earlier state stays valid (keep it,
 *   reduce it again, branch from it). States are plain data: `structuredClone(s)` behaves
 *   identically. The register file (32768 words incl. packet buffer memory) and the 64 KiB TX
 *   buffer are persistent chunked tables (cow.ts and regfile.ts; tx-buffer.ts): a call copies
 *   only the pieces it writes.
 * - Time is QEMU's virtual clock in nanoseconds (a plain number). Before handling any event the
 *   model fires every one of its timers whose deadline is <= nowNs (QEMU runs due timers before the
 *   next access); `TimerFired` for a timer that is not due or no longer armed is a no-op.
 * - DMA reads (descriptor and TX buffer fetches, where QEMU calls pci_dma_read) are effects. The
 *   operation in progress is suspended until `DmaReadDone` with the same request id arrives; only
 *   one read is ever outstanding. Transmit reads up to 32 descriptors at once where QEMU reads
 *   one at a time: the bytes are the same (tx.ts `aheadCount` says why). The suspended operation is plain data in the state (a stack of
 *   frames: which QEMU function, which stage, its locals). Other events arriving meanwhile go to
 *   an immutable backlog in the state and are handled in order once the operation completes
 *   (QEMU performs the whole operation inside one MMIO access), so their effects (including
 *   `ReadValue`) appear in a later step's output.
 * - `ReadValue` is the last effect produced for the read that asked for it.
 * - `Interrupt` reports the INTx pin as the interrupt controller sees it (device level masked by
 *   PCI COMMAND.INTX_DISABLE), only when it changes.
 * - `RxAccepted` answers every `FrameFromNetwork`. `false` means QEMU's can_receive refused it
 *   (STATUS.LU clear, RCTL.EN clear, bus mastering off, ring full, RCTL flush timer pending): QEMU
 *   queued it and stopped reading its backend: the host keeps that frame and every later one,
 *   offering nothing until `RxFlush`. `true` means consumed (delivered, filtered out, or dropped
 *   as oversize/overrun/link down, exactly like QEMU).
 * - `RxFlush` says QEMU's queue has drained: at a flush point (RDT write, RCTL flush timer,
 *   autonegotiation done, link up, bus mastering on) the model delivered the refused frame
 *   itself, at that exact point, as qemu_flush_queued_packets does. The host then offers its held
 *   frames again from the first, in order, until one is refused; the first (the frame the model
 *   already delivered) is answered `true` without effect.
 * - Hostile input (odd offsets, garbage descriptors, short or stray DMA answers) never throws.
 *   Limits: guest addresses are JS numbers (exact below 2^53; TDBAH/RDBAH beyond that lose
 *   precision); events arriving while a DMA read is outstanding are queued without bound (each
 *   arrival copies the backlog), so a host must answer every DmaRead promptly. The I/O BAR
 *   (IOADDR/IODATA) is a stub in QEMU 7.2 (reads 0, writes ignored), so it has no events here:
 *   an emulator answers 0 itself.
 * - `Transmit` frames are fresh copies the receiver may keep (and write). Frames over 64 bytes
 *   are views cut from a per-call chunk (arena.ts) that other fresh arrays of the same call share
 *   (other frames, TX buffer leaves of the successor state): write inside the view, never around
 *   it through `.buffer`. `DmaWrite` data is never written by
 *   the model afterwards, and the host must not write it either: receive data may be a view of
 *   the host's own frame, and a receive descriptor's one-byte status write is an array the
 *   device's states share (types.ts `rxStatusBytes`). The model keeps a
 *   reference to a frame it refused (QEMU's queue) and to frames whose receive is suspended: the
 *   host must not change a frame after offering it.
 * - The sync wrapper (sync.ts) applies DmaWrites in order and answers each DmaRead from guest
 *   memory before the next: inside the same reducer call (model.ts callStart/callAnswer), or,
 *   given a step function, by calling it again with DmaReadDone. The model never reaches guest
 *   memory itself.
 */
import * as model from "./model.ts"
import * as sync from "./sync.ts"
import type { E1000Effect, E1000Event, E1000Options, E1000State, E1000Step, SyncE1000, SyncE1000Options } from "./types.ts"

export type {
  E1000Effect,
  E1000Event,
  E1000Options,
  E1000State,
  E1000Step,
  E1000Timer,
  GuestMemory,
  SyncE1000,
  SyncE1000Options,
} from "./types.ts"

export const createE1000: (opts: E1000Options) => E1000State = model.createE1000
export const e1000Step: (
  s: E1000State,
  nowNs: number,
  ev: E1000Event,
) => readonly [E1000State, ReadonlyArray<E1000Effect>] = model.e1000Step
/** The earliest armed timer deadline in ns, if any (what the SetTimer effects announced). */
export const nextDeadlineNs: (s: E1000State) => number | undefined = model.nextDeadlineNs
/** Whether an operation is waiting for a DmaReadDone. */
export const awaitingDma: (s: E1000State) => boolean = model.awaitingDma

/**
 * A synchronous wrapper for emulators with synchronous guest memory. `step` is for tests: with
 * it, each DMA read is answered by calling `step` again with DmaReadDone.
 */
export const createSyncE1000: (opts: SyncE1000Options, step?: E1000Step) => SyncE1000 = sync.createSyncE1000
