/**
 * Joins v86's network card to a tslirp stack in the same process: the card's "net0-send" event
 * goes to `stack.fromGuest`, and every frame of `stack.onFrameToGuest` goes back on v86's bus as
 * "net0-receive", which the card (ne2k or virtio-net, whichever `net_device.type` chose)
 * listens to. No relay_url is given to v86, so no other network adapter is on that bus.
 *
 * Frame ownership, both ways without a copy, and why that is safe:
 * - To tslirp: `fromGuest` borrows the frame only for the call. v86 builds a fresh array for
 *   each frame it sends (virtio-net copies the guest's descriptor chain out of guest memory),
 *   and nothing here keeps it, so a later reuse by v86 could not matter anyway.
 * - To the guest: tslirp's frame is valid only during the callback. v86's bus calls its
 *   listeners synchronously, and the card copies the frame into guest memory (virtio-net: into
 *   the next receive buffer, behind its 12-byte header) before `send` returns. An emulator whose
 *   card queued the array for later would need `frame.slice()` here instead.
 * Re-entrancy: the stack may answer inside `fromGuest` (an ARP reply, a DHCP offer), so
 * "net0-receive" can run while v86 is still in its transmit handler. virtio-net keeps its
 * receive and transmit queues apart, so that is safe; it is also what happens when a real card
 * receives during a transmit.
 * Contract: returns a function that undoes the join (idempotent); never throws by itself.
 */

/** The part of tslirp's stack this needs (`NodeStack` has it). */
export interface FrameStack {
  fromGuest(frame: Uint8Array): void
  onFrameToGuest(cb: (frame: Uint8Array) => void): () => void
}

/** The part of v86 this needs: its event API, and its bus (untyped in v86.d.ts, present on V86). */
export interface V86Network {
  add_listener(event: "net0-send", listener: (frame: Uint8Array) => void): void
  remove_listener(event: "net0-send", listener: (frame: Uint8Array) => void): void
  readonly bus: { send(event: string, value: Uint8Array): void }
}

export interface V86LinkCounters {
  framesFromGuest: number
  bytesFromGuest: number
  framesToGuest: number
  bytesToGuest: number
}

export const joinV86Network = (emulator: V86Network, stack: FrameStack, counters?: V86LinkCounters): (() => void) => {
  let joined = true
  const fromGuest = (frame: Uint8Array): void => {
    if (counters !== undefined) {
      counters.framesFromGuest += 1
      counters.bytesFromGuest += frame.length
    }
    stack.fromGuest(frame)
  }
  emulator.add_listener("net0-send", fromGuest)
  const unsubscribe = stack.onFrameToGuest((frame) => {
    if (!joined) return
    if (counters !== undefined) {
      counters.framesToGuest += 1
      counters.bytesToGuest += frame.length
    }
    emulator.bus.send("net0-receive", frame)
  })
  return () => {
    if (!joined) return
    joined = false
    emulator.remove_listener("net0-send", fromGuest)
    unsubscribe()
  }
}
