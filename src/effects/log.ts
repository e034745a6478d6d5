export type LogLevel = "error" | "warn" | "info" | "debug" | "trace"

export const LOG_LEVELS: ReadonlyArray<LogLevel> = ["error", "warn", "info", "debug", "trace"]

/** Lower number is more severe. */
export const logSeverity = (l: LogLevel): number => LOG_LEVELS.indexOf(l)

/**
 * The flow a log line is about. The runtime's Effect logger shows it as annotations
 * (`protocol=tcp guestEndpoint=10.0.2.15:40000 hostEndpoint=10.0.2.2:80`), so one flow's lines
 * can be picked out of a busy log; plain loggers may ignore it (the message still names it).
 */
export interface LogFlow {
  readonly protocol: "tcp" | "udp" | "icmp"
  /** The guest's end: `address:port` (TCP, UDP), or `address id N` for an ICMP echo flow. */
  readonly guest: string
  /** The far end as the guest addressed it (`address:port`), when the line is about one. */
  readonly host?: string
}
