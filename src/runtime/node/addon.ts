/**
 * Loads tslirp's native addon (`native/`: Linux ping sockets and UDP sockets with IP_RECVERR,
 * one `.node`), building it once with `native/build.sh` when it is missing, unless
 * `TSLIRP_PING_ADDON` names a prebuilt `.node` to load instead. The outcome is kept: the module,
 * or the one-line reason it is unavailable. Never throws.
 */
import { spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { getSystemErrorName } from "node:util"

const ADDON_PATH = fileURLToPath(new URL("../../../native/build/Release/ping_socket.node", import.meta.url))
const BUILD_SCRIPT = fileURLToPath(new URL("../../../native/build.sh", import.meta.url))

let loaded: Record<string, unknown> | string | undefined

const tryRequire = (path: string): Record<string, unknown> | string => {
  try {
    return createRequire(import.meta.url)(path) as Record<string, unknown>
  } catch (e) {
    // The first line only: Node appends the require stack, and this ends up in one log line.
    return (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "unknown error"
  }
}

/** The addon's exports, or why it cannot be loaded. */
export const loadAddon = (): Record<string, unknown> | string => {
  if (loaded !== undefined) return loaded
  const override = process.env["TSLIRP_PING_ADDON"]
  let result = tryRequire(override ?? ADDON_PATH)
  if (typeof result === "string" && override === undefined) {
    const build = spawnSync("sh", [BUILD_SCRIPT, "--if-needed"], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: 120_000 })
    if (build.status === 0) {
      result = tryRequire(ADDON_PATH)
    } else {
      const why = (build.stderr ?? "").trim().split("\n").slice(-3).join(" | ")
      result = `${result}; building it with native/build.sh failed: ${why || build.error?.message || "no output"}`
    }
  }
  loaded = result
  return loaded
}

/** The errno name (`ECONNREFUSED`) of a positive errno the addon reports. */
export const errnoName = (errno: number): string => {
  try {
    return getSystemErrorName(-errno)
  } catch {
    return `E${errno}`
  }
}
