/**
 * The `GuestLinks` service (guest-link.ts) on Node sockets: unix and TCP stream listeners and
 * UDP datagram links, so a program that serves guests runs on real sockets
 * (`nodeGuestLinksLayer`) or on in-memory links (`memoryGuestLinks` in tests).
 */
import { Layer } from "effect"
import type { Logger } from "../host/ports.ts"
import { type AcceptGuest, type GuestListener, GuestLinks, type LinkSpec } from "./guest-link.ts"
import { listenTcp, listenUnix } from "./stream-link.ts"
import { openUdpLink } from "./udp-link.ts"

export { GuestLinks, type GuestLinksShape } from "./guest-link.ts"

export const openNodeLink = (spec: LinkSpec, accept: AcceptGuest, logger: Logger): Promise<GuestListener> => {
  switch (spec._tag) {
    case "Unix":
      return listenUnix(spec.path, accept, logger)
    case "TcpListen":
      return listenTcp(spec.host, spec.port, accept, logger)
    case "Udp":
      return openUdpLink(spec.local, spec.remote, accept, logger)
  }
}

export const nodeGuestLinksLayer: Layer.Layer<GuestLinks> = Layer.succeed(GuestLinks, { open: openNodeLink })
