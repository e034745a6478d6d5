/**
 * `tslirp/node`: the Node runtime for the neutral core (`tslirp`, src/index.ts).
 *
 * - `NodeStack`: one stack on real host sockets and timers, frames through callbacks.
 * - The host ports on Node (`nodeHostDeps`, or `nodeHostLayer` with `logLayer` for Effect
 *   programs): `node:net` TCP, UDP sockets that report ICMP errors and ping sockets from the
 *   native addon (`loadAddon`; without it UDP runs on `node:dgram` and external pings are off),
 *   Effect's `Clock` as the clock (monotonic), seeds from the OS (`randomSeed`), stderr logs, read-only
 *   files for the TFTP server (`nodeFiles`: nothing outside its root is opened).
 * - Guest links speaking QEMU's protocols (unix/TCP streams, UDP datagrams), `serveGuests`
 *   (what the CLI runs), the pcap and recording file writers, the e1000's `-netdev stream` client.
 * - The CLI's pieces: `parseCli`, `HELP`, `qemuOptions`, `describeNetwork`.
 * - The control socket (`--api-socket`, slirp4netns's protocol): `listenApiSocket` over a
 *   `ForwardControl`, its pure request parser and the request runner.
 * - Forwarding: `NodeStack`'s `ForwardControl` methods, the `Forwarder` the CLI's sessions share
 *   (`ServeOptions.forwarder`), and the rule parsers.
 */
export { NodeStack, type NodeStackOptions } from "./runtime/embed/node-stack.ts"
export { nodeHostDeps } from "./runtime/node/deps.ts"
export { logLayer, nodeHostLayer, nodeHostLayerWith, stderrLogLayer, type NodeHostOptions } from "./runtime/node/layer.ts"
export type { ConnectionInfo, ForwardControl, GuestFwdEntry, GuestFwdRule, HostFwdEntry, HostFwdRule } from "./runtime/api/forward-control.ts"
export { Forwarder, type ForwardedSession } from "./runtime/forward/forwarder.ts"
export { parseGuestFwd, parseHostFwd, type GuestFwdSpec, type HostFwdSpec } from "./runtime/forward/rules.ts"
export type { ForwardOptions } from "./runtime/embed/stack.ts"
export { stderrLogger } from "./runtime/node/logger.ts"
export { randomSeed } from "./runtime/node/seed.ts"
export { nodeClock } from "./runtime/node/clock.ts"
export { nodeTcp } from "./runtime/node/tcp.ts"
export { nodeUdp, type NodeUdpOptions } from "./runtime/node/udp.ts"
export { nodeIcmp } from "./runtime/node/icmp.ts"
export { nodeTimers } from "./runtime/node/timers.ts"
export { nodeFiles } from "./runtime/node/files.ts"
export { loadAddon } from "./runtime/node/addon.ts"
export { listenTcp, listenUnix } from "./runtime/link/stream-link.ts"
export { nodeGuestLinksLayer, openNodeLink } from "./runtime/link/service.ts"
export { openUdpLink } from "./runtime/link/udp-link.ts"
export { LinkError, serveGuests, sessionPerGuest, type ServeOptions } from "./runtime/link/serve.ts"
export { openPcapFile, type PcapFileOptions, type PcapWriter } from "./runtime/pcap/pcap-writer.ts"
export { openRecordFile, type RecordFile } from "./runtime/record/record-file.ts"
export { perGuestPath } from "./runtime/record/guest-files.ts"
export { connectStreamLink, type StreamAddress, type StreamLinkOptions } from "./runtime/e1000/stream-client.ts"
export { HELP, describeNetwork, parseCli, qemuOptions, type CliOptions, type CliResult } from "./runtime/cli/args.ts"
export { listenApiSocket, type ApiServer, type ApiServerOptions } from "./runtime/api/server.ts"
export { executeRequest } from "./runtime/api/execute.ts"
export { parseApiRequest, readStep, type ApiRequest, type ParsedRequest } from "./runtime/api/request.ts"
export { unavailableForwardControl } from "./runtime/api/unavailable.ts"
