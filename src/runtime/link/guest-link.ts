/**
 * What a guest link is, whatever carries it (unix/TCP stream, UDP datagrams, an embedder's own
 * transport): connections that deliver frames from a guest and accept frames for it.
 *
 * Contract: the link calls `accept` once per guest connection and then `onFrame` per frame and
 * `onClose` exactly once when the guest goes away, the link fails or the listener closes. A frame passed to
 * `onFrame` is handed over: the link never writes to its bytes again (a link that reuses a
 * read buffer passes copies). The frames of one read are passed inside one `batch` call, so
 * the session reduces them together and answers once. `send` may queue a frame (kept by
 * reference: the stack never writes to a frame it delivered) until `flush`, which the session
 * calls in the same turn once it has nothing more to reduce; neither throws, and `send` drops
 * frames when the guest is not reading (the stack's TCP recovers, as from any loss).
 *
 * `GuestLinks` is the Effect service that opens links: Node sockets (`nodeGuestLinksLayer`,
 * service.ts) or in-memory links (`memoryGuestLinks`, for tests and other runtimes). Nothing
 * here touches the world.
 */
import { Context } from "effect"
import type { Logger } from "../host/ports.ts"

export interface GuestConnection {
  /** For logs: `unix:/path#3`, `tcp:127.0.0.1:40000`, `udp:127.0.0.1:5555`. */
  readonly peer: string
  send(frame: Uint8Array): void
  /** Send what `send` queued (a link that sends at once does nothing here). */
  flush(): void
  close(): void
}

export interface GuestHandlers {
  onFrame(frame: Uint8Array): void
  /** Runs `fill` (which calls `onFrame` for each frame of one read), then reduces them all. */
  batch(fill: () => void): void
  /** The guest went away (no `reason`), or the link failed (`reason`, e.g. `ECONNRESET`). */
  onClose(reason?: string): void
}

export type AcceptGuest = (conn: GuestConnection) => GuestHandlers

export interface GuestListener {
  /** Where guests connect, e.g. `unix:/tmp/tslirp.sock`, `tcp:127.0.0.1:5555`. */
  readonly address: string
  /** Stop accepting, close every connection (each gets `onClose`), release the address. */
  close(): Promise<void>
}

export type LinkSpec =
  | { readonly _tag: "Unix"; readonly path: string }
  | { readonly _tag: "TcpListen"; readonly host: string; readonly port: number }
  | {
      readonly _tag: "Udp"
      readonly local: { readonly host: string; readonly port: number }
      readonly remote: { readonly host: string; readonly port: number }
    }

/** Frames for the guest queued in user space above this are dropped rather than buffered. */
export const GUEST_QUEUE_LIMIT_BYTES = 4 * 1024 * 1024

export interface GuestLinksShape {
  /** Start accepting guests on `spec`; rejects when the address cannot be had. */
  open(spec: LinkSpec, accept: AcceptGuest, logger: Logger): Promise<GuestListener>
}

export class GuestLinks extends Context.Service<GuestLinks, GuestLinksShape>()("tslirp/GuestLinks") {}
