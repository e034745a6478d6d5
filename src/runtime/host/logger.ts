/**
 * Leveled loggers. The stack's `Log` effects and the runtime's own messages go through one
 * `Logger`. Nothing here writes anywhere by itself: `makeLogger` takes the writer (the Node
 * runtime's stderr logger is `../node/logger.ts`; a browser embedder passes `console.log`).
 */
import type { LogFlow, LogLevel } from "../../effects/log.ts"
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

/** Keeps everything in memory (a line's flow too, when it has one): for tests and embedders that collect logs themselves. */
export const memoryLogger = (): Logger & { readonly lines: Array<{ level: LogLevel; message: string; flow?: LogFlow }> } => {
  const lines: Array<{ level: LogLevel; message: string; flow?: LogFlow }> = []
  return { lines, enabled: () => true, log: (level, message, flow) => void lines.push(flow === undefined ? { level, message } : { level, message, flow }) }
}

export const silentLogger: Logger = { enabled: () => false, log: () => undefined }
