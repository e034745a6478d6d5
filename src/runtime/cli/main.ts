/**
 * The `tslirp` command. Parses and validates the command line, checks what it will create
 * (the unix socket path is free or stale, the directories of --socket and --pcap exist): any
 * refusal is one line on stderr and exit 2, before anything starts. Then it opens the guest
 * links, prints one ready line on stdout (the addresses, and the QEMU options to paste), and
 * serves until SIGINT/SIGTERM, which close every guest, socket, timer, pcap and recording (exit 0).
 * `tslirp replay FILE ...` runs a recording instead (replay.ts).
 * Started by the `tslirp` wrapper over an IPC channel (bin/tslirp.js), it also stops when the
 * wrapper goes away, however it went (the channel closes even on SIGKILL).
 */
import { readFileSync } from "node:fs"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer } from "effect"
import type { LinkSpec } from "../link/guest-link.ts"
import { tuneGcForPacketRates } from "../link/gc-tuning.ts"
import { serveGuests } from "../link/serve.ts"
import { nodeGuestLinksLayer } from "../link/service.ts"
import { directoryProblem, probeUnixPath } from "../link/unix-path.ts"
import { logLayer, nodeHostLayer } from "../node/layer.ts"
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

/** What would make opening the links or the pcap file fail, as one line; undefined if none. */
const preflight = async (options: CliOptions): Promise<string | undefined> => {
  for (const spec of options.links) {
    if (spec._tag !== "Unix") continue
    const state = await probeUnixPath(spec.path)
    if (state._tag === "Refused") return `--socket: ${state.message}`
  }
  for (const [name, path] of [["pcap", options.pcap], ["record", options.record]] as const) {
    if (path === undefined) continue
    const problem = directoryProblem(path)
    if (problem !== undefined) return `--${name}: ${problem}`
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
  const program = Effect.gen(function* () {
    const listeners = yield* serveGuests({ ...options, version: version() })
    logger.log("info", `network ${describeNetwork(options.config)}`)
    const qemu = listeners.map((l, i) => qemuOptions(bound(options.links[i]!, l.address))).join(" or ")
    process.stdout.write(`tslirp: ready on ${listeners.map((l) => l.address).join(" ")} (QEMU: ${qemu})\n`)
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.tapError((e) => Effect.sync(() => process.stderr.write(`tslirp: ${e.message}\n`))),
    Effect.provide(Layer.mergeAll(Layer.provideMerge(nodeHostLayer, logLayer(logger)), nodeGuestLinksLayer)),
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
