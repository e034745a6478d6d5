/**
 * Guest links as an Effect service, so a program that serves guests runs on real sockets
 * (`nodeGuestLinksLayer`) or on in-memory links (`memoryGuestLinks` in tests).
 */
import { Context, Layer } from "effect"
import type { Logger } from "../host/ports.ts"
import type { AcceptGuest, GuestListener, LinkSpec } from "./guest-link.ts"
import { listenTcp, listenUnix } from "./stream-link.ts"
import { openUdpLink } from "./udp-link.ts"

export interface GuestLinksShape {
  /** Start accepting guests on `spec`; rejects when the address cannot be had. */
  open(spec: LinkSpec, accept: AcceptGuest, logger: Logger): Promise<GuestListener>
}

export class GuestLinks extends Context.Service<GuestLinks, GuestLinksShape>()("tslirp/GuestLinks") {}

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
