/**
 * TEMPORARY placeholder for the TCP layer (src/protocol/tcp/layer.ts, issue 3), which is being
 * written: TCP segments from the guest are dropped with a debug log until it lands.
 */
import type { HostEndpoint } from "../../effects/address.ts"
import type { SocketId, TimerId } from "../../effects/ids.ts"
import type { HostSocketClosed, HostSocketError, HostTcpConnected, HostTcpData, HostTcpEof, HostTcpWritten } from "../../effects/event.ts"
import type { Instant } from "../../effects/instant.ts"
import type { Ipv4 } from "../wire/ipv4-address.ts"
import type { LayerOutput } from "./output.ts"
export interface TcpLayerState { readonly x: number }
export const createTcpLayer = (_seed: number): TcpLayerState => ({ x: 0 })
export interface TcpContext { readonly now: Instant; readonly mtu: number; readonly hostEndpointFor: (dst: Ipv4, port: number) => HostEndpoint | undefined }
export interface TcpSegmentIn { readonly src: Ipv4; readonly dst: Ipv4; readonly ttl: number; readonly ipHeader: Uint8Array; readonly segment: Uint8Array }
type R = readonly [TcpLayerState, ReadonlyArray<LayerOutput>]
export const tcpFromGuest = (s: TcpLayerState, _c: TcpContext, _g: TcpSegmentIn): R => [s, [{ _tag: "Log", level: "debug", message: "tcp: not implemented yet, segment dropped" }]]
export const tcpHostEvent = (s: TcpLayerState, _c: TcpContext, _g: HostTcpConnected | HostTcpData | HostTcpEof | HostTcpWritten | HostSocketClosed | HostSocketError): R => [s, []]
export const tcpTimer = (s: TcpLayerState, _c: TcpContext, _t: TimerId): R => [s, []]
export const tcpShutdown = (s: TcpLayerState, _c: TcpContext): R => [s, []]
export const isTcpSocket = (sock: SocketId): boolean => sock < 0x40000000
