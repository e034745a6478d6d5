/**
 * `attachE1000`: an Intel 82540EM (e1000) for a JavaScript emulator, wired to a tslirp stack.
 *
 * The emulator routes its accesses to BAR0 (MMIO, 128 KiB), BAR1 (I/O, 64 bytes) and the PCI
 * configuration space to the returned object, lends it guest memory for DMA, and gets the INTx
 * level through `onIrq`. The card's transmitted frames go to the `link` (a stack in this process
 * or a `-netdev stream` socket); frames from the link go into the card's receive ring.
 *
 * Contract, and the choices made (each as QEMU 7.2 does it with a `-netdev user` backend):
 * - Receive back-pressure: when the card cannot take a frame (ring full, RX disabled, the 1 s
 *   RCTL flush window), that frame and every later one are held in a FIFO, as QEMU's net
 *   queue and the backend's socket buffer hold them, and offered again in order when the card
 *   signals a flush (RDT advanced, link up, flush timer): nothing is lost while the driver is
 *   slow. (The model delivers the refused frame itself at the flush point, as QEMU does, and
 *   answers its re-offer as already consumed; see RxAccepted/RxFlush in the model's api.ts.)
 *   The FIFO is bounded (`rxQueueLimit` frames, default 1024, and 4 MiB); beyond it new frames
 *   are dropped with one debug log per burst, as a full socket buffer would, and counted in
 *   `rxDropped`. Frames from the link are copied once on arrival.
 * - Re-entrancy: frames the link delivers while the card is inside an access (the in-process
 *   stack answers an ARP request during the TDT write that sent it) are queued and delivered
 *   when the outermost adapter call returns, as QEMU's net queue defers delivery while a
 *   packet is being delivered. Callbacks (`onIrq`) run synchronously inside the access that
 *   caused them; they may call back into the adapter.
 * - Time: without `nowNs`, the host's monotonic clock (`performance.now()`, which every
 *   JavaScript runtime has) is used and the model's deadlines (interrupt mitigation,
 *   autonegotiation, RX flush) are armed with `setTimeout`. With `nowNs` (the emulator's
 *   virtual clock), no host timer is used: the emulator calls `advanceTo(ns)` when its clock
 *   passes `nextDeadlineNs()`. Nothing here imports Node: it runs in a browser as well.
 * - The I/O BAR is QEMU 7.2's stub (IOADDR/IODATA not implemented): reads 0, writes ignored.
 * - A link that goes away on its own (the stream peer hung up) takes the card's link down.
 * - Host clock mode keeps one timer armed while the card has a deadline: call `close()`.
 * - Hostile guest input (odd offsets, garbage descriptors) never throws (the model's contract).
 */
import { createSyncE1000, type GuestMemory, type SyncE1000 } from "../../device/e1000/api.ts"
import { parseMac } from "../../protocol/wire/mac.ts"
import { silentLogger } from "../host/logger.ts"
import type { Logger } from "../host/ports.ts"
import { type FrameLink, type FrameStack, stackLink } from "./frame-link.ts"

export type { GuestMemory } from "../../device/e1000/api.ts"

/** QEMU's default MAC for the first NIC. */
export const DEFAULT_MAC = "52:54:00:12:34:56"
export const DEFAULT_RX_QUEUE_LIMIT = 1024
/** A byte bound on the held frames too, whatever their count (jumbo frames from a big MTU). */
export const RX_QUEUE_LIMIT_BYTES = 4 * 1024 * 1024

export interface AttachE1000Options {
  /** "52:54:00:12:34:56" or 6 bytes (default: QEMU's 52:54:00:12:34:56). */
  readonly mac?: string | Uint8Array
  /** Guest physical memory for descriptor and buffer DMA. */
  readonly memory: GuestMemory
  /** INTx (INTA#) level, called only on change. */
  onIrq(level: boolean): void
  /**
   * Where frames go: a stack in this process (`new NodeStack()` or an `EmbeddedStack`, closed
   * with the card; or `stackLink(stack, false)` to keep it), `await connectStreamLink({ path })`
   * on Node, or any `FrameLink`.
   */
  readonly link: FrameLink | FrameStack
  /** The emulator's clock in ns; when given, the emulator drives timers with `advanceTo`. */
  readonly nowNs?: () => number
  /** Frames held for the receive ring before new ones are dropped (default 1024). */
  readonly rxQueueLimit?: number
  /** PCI expansion ROM BAR present (QEMU's default efi-e1000.rom): default true. */
  readonly romBar?: boolean
  readonly logger?: Logger
}

export interface AttachedE1000 {
  /** BAR0 access; `offset` is relative to the BAR base. */
  mmioRead(offset: number, size: 1 | 2 | 4): number
  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): void
  /** BAR1 access (QEMU 7.2's stub: reads 0, writes ignored). */
  ioRead(offset: number, size: 1 | 2 | 4): number
  ioWrite(offset: number, size: 1 | 2 | 4, value: number): void
  /** PCI configuration space (256 bytes). */
  configRead(offset: number, size: 1 | 2 | 4): number
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void
  /** The cable: down drops frames both ways and raises LSC, as QMP `set_link` does. */
  setLink(up: boolean): void
  /** Machine/PCI reset of the function (QEMU's e1000_reset; CTRL.RST is a no-op in QEMU). */
  reset(): void
  /** Fires the card's timers due at `nowNs` (emulator clock mode; harmless otherwise). */
  advanceTo(nowNs: number): void
  /** The earliest timer deadline in ns, if any. */
  nextDeadlineNs(): number | undefined
  readonly irq: boolean
  /** Frames waiting for the receive ring, and frames dropped because that queue was full. */
  readonly rxQueued: number
  readonly rxDropped: number
  /** Detach from the link (closing it) and stop the timers; the card stays usable, unwired. */
  close(): void
}

const toMac = (mac: string | Uint8Array | undefined): Uint8Array => {
  if (mac instanceof Uint8Array) {
    if (mac.length !== 6) throw new Error(`e1000 MAC must be 6 bytes, got ${mac.length}`)
    return mac
  }
  const parsed = parseMac(mac ?? DEFAULT_MAC)
  if (parsed === undefined) throw new Error(`e1000 MAC "${mac}" is not like 52:54:00:12:34:56`)
  return parsed
}

/** ns since the adapter started, from the host's monotonic clock (a web-platform global). */
const hostClock = (): (() => number) => {
  const start = performance.now()
  return () => Math.round((performance.now() - start) * 1e6)
}

const isFrameStack = (l: FrameLink | FrameStack): l is FrameStack => typeof (l as Partial<FrameStack>).fromGuest === "function"

export const attachE1000 = (opts: AttachE1000Options): AttachedE1000 => {
  const logger = opts.logger ?? silentLogger
  const link = isFrameStack(opts.link) ? stackLink(opts.link) : opts.link
  const limit = opts.rxQueueLimit ?? DEFAULT_RX_QUEUE_LIMIT
  const hostTimers = opts.nowNs === undefined
  const now = opts.nowNs ?? hostClock()

  let closed = false
  /** Nesting of adapter calls; deferred work runs when it returns to 0. */
  let depth = 0
  /** Frames for the receive ring, in order; `head` is the next to offer. */
  let queue: Array<Uint8Array | undefined> = []
  let head = 0
  /** The head frame was refused; wait for the card's RxFlush before offering again. */
  let blocked = false
  /** Counts RxFlush signals, so a flush during a refused offer is not lost. */
  let readyEpoch = 0
  let queuedBytes = 0
  let dropped = 0
  let droppedInBurst = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let timerAt: number | undefined

  const card: SyncE1000 = createSyncE1000({
    mac: toMac(opts.mac),
    ...(opts.romBar === undefined ? {} : { romBar: opts.romBar }),
    memory: opts.memory,
    nowNs: now,
    onTransmit: (frame) => {
      if (!closed) link.send(frame)
    },
    onIrq: (level) => opts.onIrq(level),
    onRxReady: () => {
      readyEpoch++
      blocked = false
    },
  })

  /** Offers queued frames in order until the card refuses one. */
  const pump = (): void => {
    while (head < queue.length && !blocked) {
      const frame = queue[head]!
      const epoch = readyEpoch
      depth++
      let accepted: boolean
      try {
        accepted = card.receive(frame)
      } finally {
        depth--
      }
      if (accepted) {
        queuedBytes -= frame.length
        queue[head++] = undefined
      } else if (epoch === readyEpoch) {
        blocked = true
      }
    }
    if (head === queue.length) {
      queue = []
      head = 0
    } else if (head > 64 && head * 2 > queue.length) {
      queue = queue.slice(head)
      head = 0
    }
  }

  const fire = (): void => {
    timer = undefined
    timerAt = undefined
    depth++
    try {
      card.advanceTo(now())
    } finally {
      leave()
    }
  }

  /** Host clock mode: one real timer at the card's earliest deadline. */
  const rearm = (): void => {
    if (!hostTimers || closed) return
    const at = card.nextDeadlineNs()
    if (at === timerAt) return
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    timerAt = at
    if (at === undefined) return
    // setTimeout has ms resolution: round up, and fire() re-arms if it ran a little early.
    timer = setTimeout(fire, Math.max(0, Math.ceil((at - now()) / 1e6)))
  }

  /**
   * The end of every adapter call (each entry does `depth++` and ends in `leave()`; written
   * out rather than wrapped in a closure because MMIO is the emulator's hot path). At the
   * outermost level: offer held frames (`pump` stops at a refusal and resumes after the next
   * RxFlush), then re-arm the host timer.
   */
  const leave = (): void => {
    depth--
    if (depth !== 0) return
    if (!blocked && head < queue.length) pump()
    rearm()
  }

  /** Holds `frame` (already the adapter's own copy) at the tail, within the bounds. */
  const enqueue = (frame: Uint8Array): void => {
    if (queue.length - head >= limit || queuedBytes + frame.length > RX_QUEUE_LIMIT_BYTES) {
      dropped++
      if (droppedInBurst++ === 0) logger.log("debug", `e1000: receive queue full (${queue.length - head} frames, ${queuedBytes} bytes), dropping frames for the guest`)
      return
    }
    droppedInBurst = 0
    queuedBytes += frame.length
    queue.push(frame)
  }

  const fromLink = (linkFrame: Uint8Array): void => {
    if (closed) return
    // A copy of our own: the link's frame is only valid during this callback, and the card keeps
    // a frame it refuses (QEMU's one-frame net queue) to deliver it itself at the flush point.
    const frame = linkFrame.slice()
    if (depth > 0 || blocked || head < queue.length) {
      enqueue(frame)
      return
    }
    // Nothing waiting and not inside an access: offer it now.
    const epoch = readyEpoch
    depth++
    try {
      if (!card.receive(frame)) {
        // Held; if the card signalled readiness during the refusal, leave() re-offers it now.
        if (epoch === readyEpoch) blocked = true
        enqueue(frame)
      }
    } finally {
      leave()
    }
  }

  const unsubscribe = link.onFrame(fromLink)
  link.onClose?.(() => {
    if (closed) return
    logger.log("info", "e1000: the link went away; link down")
    depth++
    try {
      card.setLink(false)
    } finally {
      leave()
    }
  })

  return {
    mmioRead(offset, size) {
      depth++
      try {
        return card.mmioRead(offset, size)
      } finally {
        leave()
      }
    },
    mmioWrite(offset, size, value) {
      depth++
      try {
        card.mmioWrite(offset, size, value)
      } finally {
        leave()
      }
    },
    ioRead: () => 0,
    ioWrite: () => undefined,
    configRead(offset, size) {
      depth++
      try {
        return card.configRead(offset, size)
      } finally {
        leave()
      }
    },
    configWrite(offset, size, value) {
      depth++
      try {
        card.configWrite(offset, size, value)
      } finally {
        leave()
      }
    },
    setLink(up) {
      depth++
      try {
        card.setLink(up)
      } finally {
        leave()
      }
    },
    reset() {
      depth++
      try {
        card.reset()
      } finally {
        leave()
      }
    },
    advanceTo(nowNs) {
      depth++
      try {
        card.advanceTo(nowNs)
      } finally {
        leave()
      }
    },
    nextDeadlineNs: () => card.nextDeadlineNs(),
    get irq() {
      return card.irq
    },
    get rxQueued() {
      return queue.length - head
    },
    get rxDropped() {
      return dropped
    },
    close() {
      if (closed) return
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      timerAt = undefined
      queue = []
      head = 0
      queuedBytes = 0
      unsubscribe()
      link.close()
    },
  }
}
