/**
 * What the e1000 adapter's wire is: something that takes the card's transmitted Ethernet frames
 * and hands back frames for the card. Two are provided: a tslirp stack in the same process
 * (`stackLink`) and a `-netdev stream` style socket (`connectStreamLink`, stream-client.ts, on
 * Node). Anything else with these four methods works too (a WebSocket relay, a test double).
 *
 * Contract: `send` never throws and does not keep the frame past the call; `onFrame` callbacks
 * get frames that are only valid during the call (copy to keep); after `close` nothing more is
 * delivered. `onClose` (optional) reports a wire that went away on its own (peer closed).
 */

/** What `stackLink` needs of a stack: `EmbeddedStack`, `NodeStack`, or anything shaped so. */
export interface FrameStack {
  fromGuest(frame: Uint8Array): void
  onFrameToGuest(cb: (frame: Uint8Array) => void): () => void
  close(): void
}

export interface FrameLink {
  /** One Ethernet frame (no FCS) from the card. */
  send(frame: Uint8Array): void
  /** Frames for the card; returns a function that unsubscribes. */
  onFrame(cb: (frame: Uint8Array) => void): () => void
  /** Called once if the wire goes away without `close` (a socket peer hung up). */
  onClose?(cb: () => void): void
  close(): void
}

/**
 * A tslirp stack instance in this process (`NodeStack`, or an `EmbeddedStack` on ports of any
 * runtime). `close` closes the stack only when `ownsStack` (the default), so one stack can
 * outlive the card if the emulator wants.
 */
export const stackLink = (stack: FrameStack, ownsStack = true): FrameLink => {
  const subs: Array<() => void> = []
  return {
    send: (frame) => stack.fromGuest(frame),
    onFrame(cb) {
      const off = stack.onFrameToGuest(cb)
      subs.push(off)
      return off
    },
    close() {
      for (const off of subs.splice(0)) off()
      if (ownsStack) stack.close()
    },
  }
}
