/**
 * tslirp as a library.
 *
 * - Quick start on Node: `new NodeStack(config)`, `fromGuest(frame)`, `onFrameToGuest(cb)`,
 *   `close()` (see test/examples/embed.ts).
 * - A runtime of your own: the pure reducer `createStack`/`reduce` with the event and effect
 *   vocabulary, or `openSession` with your own ports (`HostDeps`), or the Effect services
 *   (`HostTcp`, `HostUdp`, `HostIcmp`, `Timers`, `HostClock`, `Log`) with `nodeHostLayer` or
 *   `mockHostLayer`.
 * - Guest links speaking QEMU's protocols, the pcap writer and the mocked host for tests.
 * - The e1000 (82540EM) for emulators: `attachE1000` with `stackLink(new NodeStack())` or
 *   `connectStreamLink({ path })` (src/runtime/e1000/attach.ts).
 */
export * from "./effects/index.ts"
export { defaultConfig, validateConfig, MTU_MIN, MTU_MAX, type StackConfig } from "./protocol/stack/config.ts"
export { createStack, reduce, type StackState } from "./protocol/stack/stack.ts"
export { formatIpv4, ipv4, parseIpv4, type Ipv4 } from "./protocol/wire/ipv4-address.ts"

export { NodeStack, type NodeStackOptions } from "./runtime/embed/node-stack.ts"
export type { Clock, IcmpPort, Logger, PortFactory, Report, TcpPort, TimerPort, UdpPort } from "./runtime/host/ports.ts"
export { makeLogger, memoryLogger, silentLogger, stderrLogger } from "./runtime/host/logger.ts"
export { openSession, realStack, type HostDeps, type SessionOptions, type StackMachine, type StackSession } from "./runtime/host/session.ts"
export { HostClock, HostIcmp, HostTcp, HostUdp, Log, Timers, hostDeps, type HostServices } from "./runtime/host/services.ts"
export { nodeHostDeps } from "./runtime/node/deps.ts"
export { logLayer, nodeHostLayer, stderrLogLayer } from "./runtime/node/layer.ts"
export { createMockHost, type MockGuest, type MockHost, type MockHostOptions, type MockTcpPeer } from "./runtime/mock/mock-host.ts"
export { mockHostLayer } from "./runtime/mock/layer.ts"
export type { AcceptGuest, GuestConnection, GuestHandlers, GuestListener, LinkSpec } from "./runtime/link/guest-link.ts"
export { listenTcp, listenUnix } from "./runtime/link/stream-link.ts"
export { GuestLinks, nodeGuestLinksLayer, openNodeLink, type GuestLinksShape } from "./runtime/link/service.ts"
export { memoryGuestLinks, type MemoryGuest, type MemoryGuestLinks } from "./runtime/mock/memory-link.ts"
export { openUdpLink } from "./runtime/link/udp-link.ts"
export { LinkError, serveGuests, sessionPerGuest, type ServeOptions } from "./runtime/link/serve.ts"
export { encodeFrame, MAX_FRAME_LENGTH, StreamDecoder } from "./runtime/link/stream-framing.ts"
export { openPcapFile, type PcapWriter } from "./runtime/pcap/pcap-writer.ts"
export { attachE1000, connectStreamLink, DEFAULT_MAC, DEFAULT_RX_QUEUE_LIMIT, stackLink, type AttachE1000Options, type AttachedE1000, type FrameLink, type GuestMemory, type StreamAddress, type StreamLinkOptions } from "./runtime/e1000/index.ts"
