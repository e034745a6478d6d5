/**
 * What is at a unix socket path before we listen there. Only a stale socket file (nobody
 * accepts on it: a server that died without removing it) may be replaced; a live one belongs
 * to another server (a second `tslirp --socket` on the same path must not take it over).
 *
 * Contract: `probeUnixPath` never throws and never changes the file system; it makes one
 * connection attempt, closed at once, when the path holds a socket. Its refusals are one line.
 */
import { lstatSync, statSync } from "node:fs"
import { createConnection } from "node:net"
import { dirname } from "node:path"

export type UnixPathState =
  | { readonly _tag: "Free" }
  | { readonly _tag: "Stale" }
  | { readonly _tag: "Refused"; readonly message: string }

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code

/** Whether the directory a file would go in exists; a one-line reason when not. */
export const directoryProblem = (path: string): string | undefined => {
  const dir = dirname(path)
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory`
    return undefined
  } catch (e) {
    return code(e) === "ENOENT" ? `directory ${dir} does not exist` : `cannot use directory ${dir}: ${code(e) ?? String(e)}`
  }
}

export const probeUnixPath = async (path: string): Promise<UnixPathState> => {
  const dirProblem = directoryProblem(path)
  if (dirProblem !== undefined) return { _tag: "Refused", message: dirProblem }
  let isSocket: boolean
  try {
    isSocket = lstatSync(path).isSocket()
  } catch (e) {
    if (code(e) === "ENOENT") return { _tag: "Free" }
    return { _tag: "Refused", message: `cannot use ${path}: ${code(e) ?? String(e)}` }
  }
  if (!isSocket) return { _tag: "Refused", message: `${path} exists and is not a socket` }
  return new Promise((resolve) => {
    const probe = createConnection(path)
    probe.once("connect", () => {
      probe.destroy()
      resolve({ _tag: "Refused", message: `another process is already listening on ${path} (stop it, or choose another path)` })
    })
    probe.once("error", (e) => {
      probe.destroy()
      const c = code(e)
      // ECONNREFUSED: a socket file nobody accepts on; ENOENT: it vanished meanwhile.
      if (c === "ECONNREFUSED") resolve({ _tag: "Stale" })
      else if (c === "ENOENT") resolve({ _tag: "Free" })
      else resolve({ _tag: "Refused", message: `cannot use ${path}: ${c ?? e.message}` })
    })
  })
}
