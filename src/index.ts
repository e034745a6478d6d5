/**
 * `tslirp`: the neutral core, for any JavaScript runtime (Node, browsers, workers, Deno, Bun).
 *
 * Contract: nothing imported from here, directly or beneath, imports `node:*` or the native
 * addon (test/unit/runtime/neutral-entry.test.ts walks the graph; test/browser bundles it for a
 * browser). The world comes in through ports the embedder supplies: clock, logger, seed,
 * sockets and timers. The Node runtime is `tslirp/node` (src/node.ts).
 *
 * - The vocabulary and the pure stack: events, effects, `createStack`/`reduce`, `StackConfig`.
 * - Friendly configuration: `stackConfig({ net: "10.0.2.0/24", dnsUpstream: "127.0.0.1:5353" })`.
 * - Running a stack on ports of your own: `EmbeddedStack`, or `openSession` (the interpreter),
 *   or the Effect services (`HostTcp`, `HostUdp`, `HostIcmp`, `Timers`, `HostClock`, `Log`,
 *   `HostRandom`; `hostClockLayer` reads Effect's `Clock`), with the mocked host on a
 *   `TestClock` (`makeMockHost`, `createMockHost`, `mockHostLayer`) for tests.
 * - QEMU's stream framing, the pcap format, guest link types and in-memory links.
 * - Record and replay: `createRecorder` (a session's `recorder` option), `readRecording`,
 *   `replaySteps` (event, effects, state, step by step), the summary; the stack's counters
 *   (`stackCounters`).
 * - The e1000 (82540EM): the pure model (`createE1000`, `e1000Step`), its synchronous wrapper
 *   (`createSyncE1000`), and `attachE1000` for emulators, joined to any `FrameLink`.
 */
export * from "./effects/index.ts"
export { defaultConfig, validateConfig, MTU_MIN, MTU_MAX, type StackConfig } from "./protocol/stack/config.ts"
export { createStack, reduce, stackCounters, type StackState } from "./protocol/stack/stack.ts"
export { formatCounters, type CounterReport, type StackCounters } from "./protocol/stack/counters.ts"
export { createRecorder, type Recorder, type RecorderOptions, type RecordSink, type SessionRecorder } from "./runtime/record/recorder.ts"
export { describeProblem, effectBytes, readRecording, RECORD_FORMAT_VERSION, type RecordedEvent, type Recording, type RecordingHeader, type RecordingProblem } from "./runtime/record/format.ts"
export { pureStack, replaySteps, sameAsRecorded, type ReplayStep } from "./runtime/record/replay.ts"
export { describeState, formatSummary, summarizer, type SessionSummary } from "./runtime/record/summary.ts"
export { formatIpv4, ipv4, parseIpv4, type Ipv4 } from "./protocol/wire/ipv4-address.ts"

export { ConfigError, parseDnsUpstream, parseNet, stackConfig, type StackOptions } from "./runtime/config/network.ts"
export { EmbeddedStack, type ForwardOptions } from "./runtime/embed/stack.ts"
export type { ConnectionInfo, ForwardControl, GuestFwdEntry, GuestFwdRule, HostFwdEntry, HostFwdRule } from "./runtime/api/forward-control.ts"
export type { Clock, FilePort, IcmpPort, Logger, PortFactory, Report, TcpPort, TimerPort, UdpPort } from "./runtime/host/ports.ts"
export { makeLogger, memoryLogger, silentLogger } from "./runtime/host/logger.ts"
export { openSession, realStack, type HostDeps, type SessionOptions, type StackMachine, type StackSession } from "./runtime/host/session.ts"
export { hostClockLayer, clockPort } from "./runtime/host/effect-clock.ts"
export { HostClock, HostFiles, HostIcmp, HostRandom, HostTcp, HostUdp, Log, Timers, hostDeps, type HostServices } from "./runtime/host/services.ts"
export { createMockHost, makeMockHost, type MockGuest, type MockHost, type MockHostOptions, type MockTcpPeer } from "./runtime/mock/mock-host.ts"
export { mockHostLayer } from "./runtime/mock/layer.ts"
export { GuestLinks, type AcceptGuest, type GuestConnection, type GuestHandlers, type GuestLinksShape, type GuestListener, type LinkSpec } from "./runtime/link/guest-link.ts"
export { memoryGuestLinks, type MemoryGuest, type MemoryGuestLinks } from "./runtime/mock/memory-link.ts"
export { encodeFrame, MAX_FRAME_LENGTH, StreamDecoder } from "./runtime/link/stream-framing.ts"
export { LINKTYPE_ETHERNET, PCAP_SNAPLEN, pcapGlobalHeader, pcapRecordHeader } from "./runtime/pcap/pcap-format.ts"
export { createE1000, createSyncE1000, e1000Step, type E1000Effect, type E1000Event, type E1000Options, type E1000State, type SyncE1000, type SyncE1000Options } from "./device/e1000/api.ts"
export { attachE1000, DEFAULT_MAC, DEFAULT_RX_QUEUE_LIMIT, RX_QUEUE_LIMIT_BYTES, type AttachE1000Options, type AttachedE1000, type GuestMemory } from "./runtime/e1000/attach.ts"
export { stackLink, type FrameLink, type FrameStack } from "./runtime/e1000/frame-link.ts"
