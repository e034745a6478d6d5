/**
 * In-memory guest links for tests: `open` accepts any spec and records the accept callback;
 * `connect` then plays a guest on it, with frames delivered synchronously both ways.
 */
import type { AcceptGuest, GuestHandlers, GuestListener } from "../link/guest-link.ts"
import type { GuestLinksShape } from "../link/guest-link.ts"

export interface MemoryGuest {
  send(frame: Uint8Array): void
  /** Frames the stack sent to this guest (copies). */
  readonly frames: Array<Uint8Array>
  disconnect(): void
  readonly closed: boolean
}

export interface MemoryGuestLinks extends GuestLinksShape {
  /** Connect a guest to the `index`-th opened link (default the first). */
  connect(index?: number): MemoryGuest
}

export const memoryGuestLinks = (): MemoryGuestLinks => {
  const links: Array<{ accept: AcceptGuest; guests: Set<() => void> }> = []
  let next = 0
  return {
    open(spec, accept) {
      const link = { accept, guests: new Set<() => void>() }
      links.push(link)
      const listener: GuestListener = {
        address: `memory:${spec._tag}#${links.length}`,
        close: async () => {
          for (const drop of [...link.guests]) drop()
        },
      }
      return Promise.resolve(listener)
    },
    connect(index = 0) {
      const link = links[index]
      if (link === undefined) throw new Error(`no memory link #${index}`)
      const frames: Array<Uint8Array> = []
      let closed = false
      let handlers: GuestHandlers | undefined
      const drop = (): void => {
        if (closed) return
        closed = true
        link.guests.delete(drop)
        handlers?.onClose()
      }
      link.guests.add(drop)
      handlers = link.accept({
        peer: `memory:${++next}`,
        send: (frame) => {
          if (!closed) frames.push(frame.slice())
        },
        flush: () => undefined,
        close: drop,
      })
      return {
        send(frame) {
          // The stack owns what it is given (FrameFromGuest): a test may reuse its buffer.
          if (!closed) handlers!.onFrame(frame.slice())
        },
        frames,
        disconnect: drop,
        get closed() {
          return closed
        },
      }
    },
  }
}
