/**
 * One Effect service per capability. Each service hands out plain synchronous ports (see
 * `ports.ts`): Effect gives structure, lifecycle and resource scopes; the per-frame path stays
 * in plain callbacks. Nothing here touches the world. Implementations: `../node/layer.ts` (real sockets and timers) and
 * `../mock/layer.ts` (scripted hosts on Effect's `Clock`, a `TestClock` in tests).
 */
import { Context, Effect, Option } from "effect"
import type { HostDeps } from "./session.ts"
import type { Clock, FilePort, IcmpPort, Logger, PortFactory, TcpPort, TimerPort, UdpPort } from "./ports.ts"

export class HostClock extends Context.Service<HostClock, Clock>()("tslirp/HostClock") {}
export class Log extends Context.Service<Log, Logger>()("tslirp/Log") {}
export class HostTcp extends Context.Service<HostTcp, PortFactory<TcpPort>>()("tslirp/HostTcp") {}
export class HostUdp extends Context.Service<HostUdp, PortFactory<UdpPort>>()("tslirp/HostUdp") {}
export class HostIcmp extends Context.Service<HostIcmp, PortFactory<IcmpPort>>()("tslirp/HostIcmp") {}
export class Timers extends Context.Service<Timers, PortFactory<TimerPort>>()("tslirp/Timers") {}
/**
 * Read-only files for the TFTP server. Optional: without it `hostDeps` has no `files` and file
 * requests fail with ENOSYS (host/no-files.ts).
 */
export class HostFiles extends Context.Service<HostFiles, PortFactory<FilePort>>()("tslirp/HostFiles") {}
/**
 * Seeds for new stack instances (DESIGN.md: randomness is state, the runtime seeds it). The Node
 * layer draws them from the OS; the mocked host counts up from 1, so tests are reproducible.
 */
export class HostRandom extends Context.Service<HostRandom, { readonly seed: () => number }>()("tslirp/HostRandom") {}

export type HostServices = HostClock | Log | HostTcp | HostUdp | HostIcmp | Timers | HostRandom

/** Collects the services into the dependency record `openSession` takes (`HostFiles` when provided). */
export const hostDeps: Effect.Effect<HostDeps, never, HostServices> = Effect.gen(function* () {
  const files = yield* Effect.serviceOption(HostFiles)
  return {
    ...(Option.isSome(files) ? { files: files.value } : {}),
    clock: yield* HostClock,
    logger: yield* Log,
    tcp: yield* HostTcp,
    udp: yield* HostUdp,
    icmp: yield* HostIcmp,
    timers: yield* Timers,
  }
})
