/**
 * The runtime's two ways of logging joined into one: Effect's logger writes to the `Log`
 * service's sink, and a session's plain port logger (the per-frame path, and the stack's `Log`
 * effects) goes through Effect's logger, so every line of a guest's session carries that
 * session's log annotations (`guest=unix:/tmp/s#1`), and a line about a flow (a `Log` effect's
 * `flow`) carries it as three more: `protocol`, `guestEndpoint`, `hostEndpoint` (when known).
 *
 * Contract: a line is written at most once, through the `Log` sink, with the annotations as
 * `key=value` words before the message; levels map one to one (Effect's Fatal is `error`,
 * Trace `trace`), and only the sink's threshold filters them. Checking whether a level is
 * enabled costs no Effect at all. Nothing here touches the world: the sink does.
 */
import { type Context, Effect, Layer, Logger as EffectLogger, References } from "effect"
import type { LogFlow, LogLevel } from "../../effects/log.ts"
import type { Logger } from "./ports.ts"
import { Log } from "./services.ts"

type Severity = "Fatal" | "Error" | "Warn" | "Info" | "Debug" | "Trace"

const fromEffect = (level: string): LogLevel => {
  switch (level) {
    case "Fatal":
    case "Error":
      return "error"
    case "Warn":
      return "warn"
    case "Info":
      return "info"
    case "Debug":
      return "debug"
    default:
      return "trace"
  }
}

const toEffect: Record<LogLevel, Severity> = { error: "Error", warn: "Warn", info: "Info", debug: "Debug", trace: "Trace" }

const text = (message: unknown): string =>
  Array.isArray(message) ? message.map((m) => (typeof m === "string" ? m : String(m))).join(" ") : String(message)

/** Effect's logger on top of a sink. */
export const sinkLogger = (sink: Logger) =>
  EffectLogger.make(({ logLevel, message, fiber }) => {
    const level = fromEffect(logLevel)
    if (!sink.enabled(level)) return
    const annotations = fiber.getRef(References.CurrentLogAnnotations)
    let prefix = ""
    for (const key in annotations) prefix += `${key}=${String(annotations[key])} `
    sink.log(level, prefix + text(message))
  })

/**
 * Replaces Effect's default logger with one writing to the `Log` service's sink. The sink's
 * threshold is the one filter: Effect's own minimum level (Info by default) is lifted, or a
 * session's debug and trace lines would never reach a sink that asked for them.
 */
export const effectLogLayer: Layer.Layer<never, never, Log> = Layer.unwrap(
  Effect.map(Log, (sink) => Layer.mergeAll(EffectLogger.layer([sinkLogger(sink)]), Layer.succeed(References.MinimumLogLevel, "All"))),
)

/** A flow as log annotations, in the order they are printed. */
export const flowAnnotations = (flow: LogFlow): Record<string, string> =>
  flow.host === undefined
    ? { protocol: flow.protocol, guestEndpoint: flow.guest }
    : { protocol: flow.protocol, guestEndpoint: flow.guest, hostEndpoint: flow.host }

/**
 * A plain logger for a session's ports whose lines go through Effect's logger in `context`
 * (its loggers and log annotations, plus the line's flow); `enabled` asks the sink directly.
 */
export const annotatedLogger = (sink: Logger, context: Context.Context<never>): Logger => {
  const run = Effect.runSyncWith(context)
  return {
    enabled: (level) => sink.enabled(level),
    log: (level, message, flow) => {
      if (!sink.enabled(level)) return
      const line = Effect.logWithLevel(toEffect[level])(message)
      run(flow === undefined ? line : Effect.annotateLogs(line, flowAnnotations(flow)))
    },
  }
}
