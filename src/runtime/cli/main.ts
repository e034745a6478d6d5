/**
 * The `tslirp` command. Parses and validates the command line (one line on stderr and exit 2
 * on any refusal), opens the guest links, prints one ready line on stdout, and serves until
 * SIGINT/SIGTERM, which close every guest, socket, timer and the pcap file (exit 0).
 */
import { readFileSync } from "node:fs"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer } from "effect"
import { stderrLogger } from "../host/logger.ts"
import { tuneGcForPacketRates } from "../link/gc-tuning.ts"
import { serveGuests } from "../link/serve.ts"
import { nodeGuestLinksLayer } from "../link/service.ts"
import { logLayer, nodeHostLayer } from "../node/layer.ts"
import { describeNetwork, parseCli } from "./args.ts"

const readResolvConf = (): string | undefined => {
  try {
    return readFileSync("/etc/resolv.conf", "utf8")
  } catch {
    return undefined
  }
}

const parsed = parseCli(process.argv.slice(2), readResolvConf)
switch (parsed._tag) {
  case "Help":
    process.stdout.write(parsed.text)
    break
  case "Error":
    process.stderr.write(`tslirp: ${parsed.message}\n`)
    process.exitCode = 2
    break
  case "Run": {
    const { options } = parsed
    const logger = stderrLogger(options.logLevel)
    // This process only moves packets: let V8 reclaim packet buffers in minor collections.
    tuneGcForPacketRates()
    const program = Effect.gen(function* () {
      const listeners = yield* serveGuests(options)
      logger.log("info", `network ${describeNetwork(options.config)}`)
      process.stdout.write(`tslirp: ready on ${listeners.map((l) => l.address).join(" ")}\n`)
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
    break
  }
}
