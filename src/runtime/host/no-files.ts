/**
 * The file port of a runtime without files (`HostDeps.files` absent): every open fails with
 * `ENOSYS`, reported like any other failure, so a TFTP transfer ends with an error to the guest
 * instead of waiting; the first one is logged at warn level (the embedder configured a TFTP root
 * but gave no files).
 */
import type { Clock, FilePort, Logger, Report } from "./ports.ts"

export const noFiles = (report: Report, clock: Clock, logger: Logger): FilePort => {
  let warned = false
  const fail = (file: Parameters<FilePort["open"]>[0]): void => {
    if (!warned) logger.log("warn", "tftp: this runtime has no file port (HostDeps.files); file requests fail")
    warned = true
    report({ _tag: "HostFileError", now: clock.now(), file, code: "ENOSYS" })
  }
  return {
    open: (file) => fail(file),
    read: (file) => fail(file),
    close: () => {},
    closeAll: () => {},
  }
}
