/**
 * The `tslirp` command. Parses and validates the command line, checks what it will create
 * (the unix socket paths of --socket and --api-socket are free or stale, the directories of
 * --socket, --api-socket and --pcap exist, the --tftp directory is one): any refusal is one
 * line on stderr and exit 2,
 * before anything starts. Then it opens the guest links and the control socket
 * (`--api-socket`), prints one ready line on stdout (the addresses, and the QEMU options to
 * paste), and serves until SIGINT/SIGTERM, which close every guest, socket, timer, the control
 * socket, pcap and recording (exit 0).
 * `tslirp replay FILE ...` runs a recording instead (replay.ts).
 * Started by the `tslirp` wrapper over an IPC channel (bin/tslirp.js), it also stops when the
 * wrapper goes away, however it went (the channel closes even on SIGKILL).
 */
import { readFileSync, statSync } from "node:fs"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer } from "effect"
import { listenApiSocket } from "../api/server.ts"
import type { LinkSpec } from "../link/guest-link.ts"
import { tuneGcForPacketRates } from "../link/gc-tuning.ts"
import { tuneMallocForPacketRates } from "../link/malloc-tuning.ts"
import { tuneTieringForLatency } from "../link/tiering.ts"
import { LinkError, serveGuests } from "../link/serve.ts"
import { nodeGuestLinksLayer } from "../link/service.ts"
import { directoryProblem, probeUnixPath } from "../link/unix-path.ts"
import { logLayer, nodeHostLayerWith } from "../node/layer.ts"
import { nodeClock } from "../node/clock.ts"
import { Forwarder } from "../forward/forwarder.ts"
import { stderrLogger } from "../node/logger.ts"
import { type CliOptions, describeNetwork, parseCli, qemuOptions } from "./args.ts"
import { parseReplayArgs, REPLAY_HELP, runReplay } from "./replay.ts"

/** This tslirp's version (package.json, two levels above src/runtime/cli and dist/runtime/cli). */
const version = (): string => {
  try {
    return String((JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: unknown }).version)
  } catch {
    return "unknown"
  }
}

const readResolvConf = (): string | undefined => {
  try {
    return readFileSync("/etc/resolv.conf", "utf8")
  } catch {
    return undefined
  }
}

const refuse = (message: string): void => {
  process.stderr.write(`tslirp: ${message}\n`)
  process.exitCode = 2
}

/** Why `dir` cannot be the TFTP root (missing, not a directory), or undefined. */
const tftpDirectoryProblem = (dir: string): string | undefined => {
  try {
    return statSync(dir).isDirectory() ? undefined : `"${dir}" is not a directory`
  } catch (e) {
    return `"${dir}": ${e instanceof Error && "code" in e ? String(e.code) : "cannot be read"}`
  }
}

/** What would make opening the links or the pcap file fail, as one line; undefined if none. */
const preflight = async (options: CliOptions): Promise<string | undefined> => {
  for (const spec of options.links) {
    if (spec._tag !== "Unix") continue
    const state = await probeUnixPath(spec.path)
    if (state._tag === "Refused") return `--socket: ${state.message}`
  }
  const tftp = options.config.tftpRoot
  if (tftp !== undefined) {
    const problem = tftpDirectoryProblem(tftp)
    if (problem !== undefined) return `--tftp: ${problem}`
  }
  for (const [name, path] of [["pcap", options.pcap], ["record", options.record]] as const) {
    if (path === undefined) continue
    const problem = directoryProblem(path)
    if (problem !== undefined) return `--${name}: ${problem}`
  }
  if (options.apiSocket !== undefined) {
    const state = await probeUnixPath(options.apiSocket)
    if (state._tag === "Refused") return `--api-socket: ${state.message}`
  }
  return undefined
}

/** The spec as bound: a TCP listener on port 0 gets its real port from the listener's address. */
const bound = (spec: LinkSpec, address: string): LinkSpec => {
  if (spec._tag !== "TcpListen") return spec
  const port = /:(\d+)$/.exec(address)?.[1]
  return port === undefined ? spec : { ...spec, port: Number(port) }
}

/** Ends this process when the wrapper that spawned it (with an IPC channel) goes away. */
const followParent = (): void => {
  if (process.channel === undefined) return
  // The channel must not keep us alive by itself; it only tells us when the parent is gone.
  process.channel.unref()
  process.once("disconnect", () => process.kill(process.pid, "SIGTERM"))
}

const run = (options: CliOptions): void => {
  const logger = stderrLogger(options.logLevel)
  // This process only moves packets: let V8 reclaim packet buffers in minor collections.
  tuneGcForPacketRates()
  // ...keep freed buffer memory mapped instead of faulting it back in page by page...
  logger.log("debug", tuneMallocForPacketRates())
  // ...and reach optimized code for a frame's path within the first few dozen frames.
  tuneTieringForLatency()
  // The process's forwarding rules (every guest gets them); the control API changes them here.
  const forwarder = new Forwarder(options.config, () => nodeClock.now(), options.hostFwd, options.guestFwd)
  const outbound = { ...(options.outbound4 === undefined ? {} : { outbound4: options.outbound4 }), ...(options.outbound6 === undefined ? {} : { outbound6: options.outbound6 }) }
  const program = Effect.gen(function* () {
    const listeners = yield* serveGuests({ ...options, forwarder, version: version() })
    const apiSocket = options.apiSocket
    if (apiSocket !== undefined) {
      // The control socket changes the same rules every guest session gets.
      const control = forwarder
      yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => listenApiSocket({ path: apiSocket, control, logger }),
          catch: (e) => new LinkError({ message: `--api-socket: ${e instanceof Error ? e.message : String(e)}` }),
        }),
        (server) => Effect.promise(() => server.close()),
      )
      logger.log("info", `control socket on ${apiSocket} (slirp4netns's API)`)
    }
    logger.log("info", `network ${describeNetwork(options.config)}`)
    const qemu = listeners.map((l, i) => qemuOptions(bound(options.links[i]!, l.address))).join(" or ")
    process.stdout.write(`tslirp: ready on ${listeners.map((l) => l.address).join(" ")} (QEMU: ${qemu})\n`)
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.tapError((e) => Effect.sync(() => process.stderr.write(`tslirp: ${e.message}\n`))),
    Effect.provide(Layer.mergeAll(Layer.provideMerge(nodeHostLayerWith(outbound), logLayer(logger)), nodeGuestLinksLayer)),
  )
  NodeRuntime.runMain(program, {
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      const clean = Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)
      if (!clean && !Cause.hasFails(exit.cause)) process.stderr.write(`tslirp: ${Cause.pretty(exit.cause)}\n`)
      onExit(clean ? 0 : 1)
    },
  })
}

followParent()
const argv = process.argv.slice(2)
const parsed = argv[0] === "replay" ? ({ _tag: "Replay" } as const) : parseCli(argv, readResolvConf)
switch (parsed._tag) {
  case "Replay": {
    const r = parseReplayArgs(argv.slice(1))
    if (typeof r === "string") refuse(`replay: ${r}`)
    else if ("help" in r) process.stdout.write(REPLAY_HELP)
    else process.exitCode = runReplay(r, (line) => process.stdout.write(`${line}\n`), (line) => process.stderr.write(`${line}\n`))
    break
  }
  case "Help":
    process.stdout.write(parsed.text)
    break
  case "Error":
    refuse(parsed.message)
    break
  case "Run": {
    const problem = await preflight(parsed.options)
    if (problem !== undefined) refuse(problem)
    else run(parsed.options)
    break
  }
}
