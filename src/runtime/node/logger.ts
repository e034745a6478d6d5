/**
 * The Node runtime's logger: one line per message on stderr (`process.stderr.write` is
 * synchronous for files and pipes on Linux, so lines are not lost on exit).
 */
import type { LogLevel } from "../../effects/log.ts"
import { makeLogger } from "../host/logger.ts"
import type { Logger } from "../host/ports.ts"

export const stderrLogger = (threshold: LogLevel): Logger => makeLogger(threshold, (line) => process.stderr.write(`${line}\n`))
