/**
 * Leveled loggers. The stack's `Log` effects and the runtime's own messages go through one
 * `Logger`; the CLI's writes one line per message to stderr.
 */
import type { LogLevel } from "../../effects/log.ts"
import { logSeverity } from "../../effects/log.ts"
import type { Logger } from "./ports.ts"

export const makeLogger = (threshold: LogLevel, write: (line: string) => void, prefix = "tslirp"): Logger => {
  const max = logSeverity(threshold)
  return {
    enabled: (level) => logSeverity(level) <= max,
    log(level, message) {
      if (logSeverity(level) <= max) write(`${prefix}: ${level}: ${message}`)
    },
  }
}

/** Writes to stderr; `process.stderr.write` is synchronous for files and pipes on Linux. */
export const stderrLogger = (threshold: LogLevel): Logger => makeLogger(threshold, (line) => process.stderr.write(`${line}\n`))

/** Keeps everything in memory: for tests and embedders that collect logs themselves. */
export const memoryLogger = (): Logger & { readonly lines: Array<{ level: LogLevel; message: string }> } => {
  const lines: Array<{ level: LogLevel; message: string }> = []
  return { lines, enabled: () => true, log: (level, message) => void lines.push({ level, message }) }
}

export const silentLogger: Logger = { enabled: () => false, log: () => undefined }
