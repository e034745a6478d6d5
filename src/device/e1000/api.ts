/**
 * The public API of the e1000 (Intel 82540EM) model, shaped after QEMU 7.2's hw/net/e1000.c.
 *
 * Contract:
 * - `e1000Step` is a reducer over an *owned* state: it CONSUMES the state it is given and returns
 *   the successor (today the same object, updated in place). Callers must not keep or reuse the
 *   state they passed in. This is the documented exception to "state is immutable" in DESIGN.md:
 *   a register file of 32768 words (128 KiB BAR incl. packet buffer memory) copied per event would
 *   cost far more than the million frames per second we need. Determinism is unaffected: the same
 *   state and event always give the same successor and effects.
 * - Time is QEMU's virtual clock in nanoseconds (a plain number). Before handling any event the
 *   model fires every one of its timers whose deadline is <= nowNs (QEMU runs due timers before the
 *   next access); `TimerFired` for a timer that is not due or no longer armed is a no-op.
 * - DMA reads (descriptor and TX buffer fetches, where QEMU calls pci_dma_read) are effects. The
 *   operation in progress is suspended until `DmaReadDone` with the same request id arrives; only
 *   one read is ever outstanding. Other events arriving meanwhile are queued inside the model and
 *   handled in order once the operation completes (QEMU performs the whole operation inside one
 *   MMIO access), so their effects (including `ReadValue`) appear in a later step's output.
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
 *   precision); events arriving while a DMA read is outstanding are queued without bound, so a
 *   host must answer every DmaRead. The I/O BAR (IOADDR/IODATA) is a stub in QEMU 7.2 (reads 0,
 *   writes ignored), so it has no events here: an emulator answers 0 itself.
 * - `Transmit` frames are fresh copies the receiver may keep. `DmaWrite` data is never mutated by
 *   the model afterwards (receive data may be a view of the host's own frame). The sync wrapper
 *   writes DMA data to guest memory at once and reuses its small buffers.
 */
import * as model from "./model.ts"
import * as sync from "./sync.ts"

// time is QEMU's virtual clock in nanoseconds (number)
export type E1000Event =
  | { readonly _tag: "MmioRead"; readonly offset: number; readonly size: 1 | 2 | 4 }
  | { readonly _tag: "MmioWrite"; readonly offset: number; readonly size: 1 | 2 | 4; readonly value: number }
  | { readonly _tag: "ConfigRead"; readonly offset: number; readonly size: 1 | 2 | 4 }
  | { readonly _tag: "ConfigWrite"; readonly offset: number; readonly size: 1 | 2 | 4; readonly value: number }
  | { readonly _tag: "DmaReadDone"; readonly request: number; readonly data: Uint8Array }
  | { readonly _tag: "FrameFromNetwork"; readonly frame: Uint8Array }
  | { readonly _tag: "TimerFired"; readonly timer: E1000Timer }
  | { readonly _tag: "Link"; readonly up: boolean }
  | { readonly _tag: "Reset" }

/** QEMU 7.2's three e1000 timers: mit_timer (ns), autoneg_timer (ms), flush_queue_timer (ms). */
export type E1000Timer = "mit" | "autoneg" | "flush"

export type E1000Effect =
  | { readonly _tag: "ReadValue"; readonly value: number }
  | { readonly _tag: "DmaRead"; readonly request: number; readonly address: number; readonly length: number }
  | { readonly _tag: "DmaWrite"; readonly address: number; readonly data: Uint8Array }
  | { readonly _tag: "Interrupt"; readonly level: boolean } // only on change
  | { readonly _tag: "Transmit"; readonly frame: Uint8Array }
  | { readonly _tag: "SetTimer"; readonly timer: E1000Timer; readonly atNs: number }
  | { readonly _tag: "CancelTimer"; readonly timer: E1000Timer }
  | { readonly _tag: "RxAccepted"; readonly accepted: boolean } // answer to FrameFromNetwork
  | { readonly _tag: "RxFlush" } // QEMU's qemu_flush_queued_packets: re-offer held frames

export interface E1000Options {
  /** 6 bytes */
  readonly mac: Uint8Array
  /**
   * Whether the PCI expansion ROM BAR (0x30) exists. QEMU's default `-device e1000` loads
   * efi-e1000.rom (a 256 KiB ROM BAR); with `romfile=` it reads 0. Default: true.
   */
  readonly romBar?: boolean
}

/** Opaque, owned, mutable-inside state. See the contract above. */
export type E1000State = model.E1000State

export const createE1000: (opts: E1000Options) => E1000State = model.createE1000
export const e1000Step: (
  s: E1000State,
  nowNs: number,
  ev: E1000Event,
) => readonly [E1000State, ReadonlyArray<E1000Effect>] = model.e1000Step

// A synchronous wrapper for emulators with synchronous guest memory (src/device/e1000/sync.ts):
export interface GuestMemory {
  read(address: number, length: number): Uint8Array
  write(address: number, data: Uint8Array): void
}
export interface SyncE1000 {
  mmioRead(offset: number, size: 1 | 2 | 4): number
  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): void
  configRead(offset: number, size: 1 | 2 | 4): number
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void
  /** false if refused (see RxAccepted): hold it and later frames, offer them again after onRxReady */
  receive(frame: Uint8Array): boolean
  setLink(up: boolean): void
  reset(): void
  /** fires due timers */
  advanceTo(nowNs: number): void
  nextDeadlineNs(): number | undefined
  readonly irq: boolean
}
export interface SyncE1000Options extends E1000Options {
  readonly memory: GuestMemory
  onTransmit(frame: Uint8Array): void
  onIrq(level: boolean): void
  nowNs(): number
  /** The RxFlush effect: offer held frames again (may be called during any other call). */
  onRxReady?(): void
}
export const createSyncE1000: (opts: SyncE1000Options) => SyncE1000 = sync.createSyncE1000
