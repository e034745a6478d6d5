export type LogLevel = "error" | "warn" | "info" | "debug" | "trace"

export const LOG_LEVELS: ReadonlyArray<LogLevel> = ["error", "warn", "info", "debug", "trace"]

/** Lower number is more severe. */
export const logSeverity = (l: LogLevel): number => LOG_LEVELS.indexOf(l)
