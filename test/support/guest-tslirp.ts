/**
 * Starts tslirp exactly as a user would, through its CLI (src/runtime/cli/main.ts under the
 * repo's Node), listening on a unix socket for QEMU's `-netdev stream`, and waits for the line
 * that says it is ready (the word "ready" on stdout or stderr).
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { NODE } from "./guest-services.ts"
import { startProcess, type ManagedProcess } from "./guest-process.ts"

const root = fileURLToPath(new URL("../../", import.meta.url))
export const TSLIRP_CLI = `${root}src/runtime/cli/main.ts`

export const startTslirp = async (options: {
  readonly socket: string
  readonly args: ReadonlyArray<string>
  readonly netns: string | undefined
}): Promise<ManagedProcess> => {
  if (!existsSync(TSLIRP_CLI)) throw new Error(`tslirp CLI ${TSLIRP_CLI} does not exist (yet)`)
  const proc = startProcess("tslirp", [NODE, TSLIRP_CLI, "--socket", options.socket, ...options.args], {
    netns: options.netns,
    cwd: root,
  })
  try {
    await proc.waitForLine((line) => /\bready\b/i.test(line), 30_000)
  } catch (error) {
    await proc.stop()
    throw error
  }
  return proc
}
