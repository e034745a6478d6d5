/**
 * The e1000 model's vocabulary: events, effects, options, the host interfaces and the state.
 * Types only; imports nothing from the model (api.ts re-exports the public ones).
 *
 * Contract: an `E1000State` is plain, immutable data. No closures, no class instances, no
 * host objects: `structuredClone(s)` gives a state that behaves identically. Large buffers are
 * persistent tables (see cow.ts) whose unchanged pieces successive states share; nothing
 * reachable from a state is ever written after the call that created it returned.
 */

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

// ---- the synchronous wrapper (sync.ts), for emulators whose guest memory is at hand

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

/** The reducer's signature (the sync wrapper can be handed a checked or instrumented one). */
export type E1000Step = (s: E1000State, nowNs: number, ev: E1000Event) => readonly [E1000State, ReadonlyArray<E1000Effect>]

// ---- state

/** The writable view of a record, for the draft a call builds (state.ts). */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * A persistent table of leaves: root -> mids -> leaves of a fixed size. A call
 * that writes copies the root, the mid and the leaf on the way (cow.ts); the rest is shared
 * with the state it came from. Leaves may be shared between slots (a fresh table shares one
 * zero leaf), which is safe because no leaf reachable from a state is ever written.
 */
export type Table = ReadonlyArray<Mid>
export type Mid = ReadonlyArray<Leaf>
/** Register words: plain arrays of numbers (the TX buffer has its own leaves, tx-buffer.ts). */
export type Leaf = ReadonlyArray<number>

/** The data QEMU keeps per transmit context (e1000x_txd_props). */
export interface TxProps {
  readonly ipcss: number
  readonly ipcso: number
  readonly ipcse: number
  readonly tucss: number
  readonly tucso: number
  readonly tucse: number
  readonly paylen: number
  readonly hdrLen: number
  readonly mss: number
  readonly ip: boolean
  readonly tcp: boolean
  readonly tse: boolean
}

/** QEMU's e1000_tx, except its 64 KiB data buffer (E1000State.txBuf). */
export interface TxState {
  readonly header: Uint8Array // 256, replaced (never written) when it changes
  readonly vlanHeader: Uint8Array // 4, replaced when it changes
  readonly size: number // uint16
  readonly vlanNeeded: boolean
  readonly sumNeeded: number // uint8 POPTS
  readonly cptse: boolean
  readonly props: TxProps
  readonly tsoProps: TxProps
  readonly tsoFrames: number // uint16
  readonly busy: boolean
}

/** The EECD Microwire shifter. Survives device reset, as in QEMU. */
export interface EecdState {
  readonly valIn: number // uint32
  readonly bitnumIn: number // uint16
  readonly bitnumOut: number // uint16
  readonly reading: boolean
  readonly oldEecd: number
}

/**
 * An operation suspended on a DMA read is a stack of frames, innermost last; each frame names
 * the QEMU function it stands for and the stage it stopped at, with the locals it needs. The
 * innermost frame is the one waiting for the read's bytes.
 */
export type Frame = TimersFrame | XmitFrame | RxFrame | FlushFrame | AutonegFrame | LinkFrame

/** Due timers fired one by one (clock_step), then the event that found them due. */
export interface TimersFrame {
  readonly k: "Timers"
  readonly stage: "next" | "handle" | "done"
  readonly nowNs: number
  readonly ev: E1000Event
}
/**
 * start_xmit: the ring from TDH to TDT, and process_tx_desc for the descriptor at hand (its
 * stage `dstage` and locals; one frame for both saves a frame per transmitted packet).
 */
export interface XmitFrame {
  readonly k: "Xmit"
  readonly stage: "start" | "next" | "desc" | "txdesc" | "written"
  readonly tdhStart: number
  readonly cause: number
  /** guest address of the current descriptor, its dwords 2 and 3 */
  readonly base: number
  readonly lower: number
  readonly upper: number
  /** descriptors read ahead (a copy): ring indices [aheadFrom, aheadFrom + aheadCount) */
  readonly ahead: Uint8Array | undefined
  readonly aheadFrom: number
  readonly aheadCount: number
  /** process_tx_desc of a data descriptor: its buffer is read (in MSS pieces under TSO) */
  readonly dstage: "tso" | "tsoChunk" | "tsoSent" | "tsoTail" | "plain" | "plainChunk" | "eop" | "done"
  readonly split: number
  readonly addr: number
  readonly bytes: number
}
/**
 * e1000_receive_iov: one descriptor read per receive buffer. Returns -1, 0 or the size; with
 * `answer` (a frame from the backend, qemu_net_queue_send) it also answers RxAccepted true
 * when done.
 */
export interface RxFrame {
  readonly k: "Rx"
  readonly stage: "start" | "next" | "desc"
  readonly answer: boolean
  readonly data: Uint8Array
  readonly size: number
  readonly total: number
  readonly descOffset: number
  readonly rdhStart: number
  readonly vlanSpecial: number
  readonly vlanStatus: number
  readonly bufSize: number
  readonly base: number
}
/** qemu_flush_queued_packets for the card's one-frame queue. */
export interface FlushFrame {
  readonly k: "Flush"
  readonly stage: "start" | "received"
}
/** e1000_autoneg_timer */
export interface AutonegFrame {
  readonly k: "Autoneg"
  readonly stage: "start" | "flushed"
}
/** e1000_set_link_status */
export interface LinkFrame {
  readonly k: "Link"
  readonly stage: "start" | "flushed"
  readonly up: boolean
  readonly oldStatus: number
}

/** An event that arrived while an operation waited for its DMA read, with its own time. */
export interface Backlogged {
  readonly now: number
  readonly ev: E1000Event
}

/**
 * What changes at interrupt edges and when timers are armed or fire (QEMU's mitigation fields,
 * the INTx level and pin, the three timers): a record of its own, so a frame that raises no
 * new edge and arms no timer shares it with the state it came from.
 */
export interface IrqState {
  readonly mitTimerOn: boolean
  readonly mitIrqLevel: boolean
  readonly mitIde: number
  /** Device INTx level (pci_irq_state) and the pin as the interrupt controller sees it. */
  readonly intxLevel: boolean
  readonly pin: boolean
  /** Deadlines in ns (-1: not armed) and arm order (equal deadlines fire first-armed first). */
  readonly timerAt: ReadonlyArray<number> // 3
  readonly timerSeq: ReadonlyArray<number> // 3
  readonly timerCounter: number
}

/**
 * What changes rarely (configuration and PHY writes, the EEPROM shifter, the link, reset):
 * a record of its own, shared by successive states until one of these changes.
 */
export interface DevState {
  readonly mac: Uint8Array
  readonly phy: Uint16Array // 32, replaced when written
  readonly eeprom: Uint16Array // 64, never written
  /**
   * One-byte arrays holding 0..15, never written: the data of the DmaWrite that sets a receive
   * descriptor's status (DD and the low status bits; guest-set high bits get a fresh array).
   * Shared by every state of the device, so a received frame allocates one typed array fewer.
   */
  readonly rxStatusBytes: ReadonlyArray<Uint8Array>
  readonly eecd: EecdState
  readonly pci: Uint8Array // the 256-byte config space, replaced when written
  readonly pciMask: Uint8Array // its write mask, never written
  readonly rxbufSize: number
  readonly rxbufMinShift: number
  /** The backend link (QEMU's nc->link_down), distinct from STATUS.LU. */
  readonly linkDown: boolean
}

/**
 * The device state, split by how often its parts change: the fields here change on every
 * frame (or every transmitted frame), `irq` at interrupt edges and timer changes, `dev`
 * rarely. A received frame builds this small record and one hot leaf; the rest is shared.
 */
export interface E1000State {
  /**
   * The BAR0 register file: 32768 words (incl. packet buffer memory). The words the frame
   * paths touch are in five 16-word hot leaves, the rest in a persistent table (regfile.ts).
   */
  readonly hot: ReadonlyArray<ReadonlyArray<number>>
  readonly regs: Table
  readonly tx: TxState
  /**
   * [vlan area (4)][data (64 KiB)]: persistent like QEMU's, stale bytes included (tx-buffer.ts):
   * four 64-byte head leaves and 32 tail leaves of 2 KiB (views of per-call chunks, arena.ts).
   */
  readonly txHead: ReadonlyArray<Uint8Array>
  readonly txBuf: ReadonlyArray<Uint8Array>
  readonly now: number
  /**
   * QEMU's net queue for this card: at most one frame (its backend stops reading while one
   * waits). `queued` awaits delivery at the next flush point; `echo` was delivered from the
   * queue and the host, which also held it, will offer it once more: that offer is a no-op.
   */
  readonly queued: Uint8Array | undefined
  readonly echo: Uint8Array | undefined
  /** The operation suspended on a DMA read (undefined: none), and what it waits for. */
  readonly op: ReadonlyArray<Frame> | undefined
  readonly reqId: number
  readonly reqAddress: number
  readonly reqLength: number
  /** Events that arrived while `op` waited, oldest first. */
  readonly backlog: ReadonlyArray<Backlogged>
  readonly irq: IrqState
  readonly dev: DevState
}
