/**
 * Host-side actions during a guest run (hostfwd checks): the plan's types, and starting
 * guest-host-client-main.ts in the run's namespace once the backend is up. Its JSON lines are
 * the results (`HostClientResult`), in step order.
 */
import { fileURLToPath } from "node:url"
import { NODE } from "./guest-services.ts"
import { startProcess, type ManagedProcess } from "./guest-process.ts"

export type HostClientStep =
  /** GET http://127.0.0.1:PORT/PATH until it answers 200. */
  | { readonly kind: "http"; readonly port: number; readonly path: string; readonly deadlineMs: number }
  /** Connect to 127.0.0.1:PORT, send `text`, close; until a connection takes it. */
  | { readonly kind: "tcp-send"; readonly port: number; readonly text: string; readonly deadlineMs: number }
  /** Send the datagram to 127.0.0.1:PORT (from `fromPort`), until one answers; the answer in hex. */
  | { readonly kind: "udp"; readonly port: number; readonly hex: string; readonly fromPort?: number; readonly deadlineMs: number }

export interface HostClientResult {
  readonly step: number
  readonly kind: HostClientStep["kind"]
  readonly ok: boolean
  readonly tries: number
  readonly body?: string
  readonly answer?: string
  readonly error?: string
}

const MAIN = fileURLToPath(new URL("./guest-host-client-main.ts", import.meta.url))
const root = fileURLToPath(new URL("../../", import.meta.url))

export const startHostClient = (steps: ReadonlyArray<HostClientStep>, netns: string | undefined, results: Array<HostClientResult>): ManagedProcess =>
  startProcess("host-client", [NODE, MAIN, JSON.stringify(steps)], {
    ...(netns === undefined ? {} : { netns }),
    cwd: root,
    onLine: (line, stream) => {
      if (stream !== "stdout" || !line.startsWith("{")) return
      try {
        results.push(JSON.parse(line) as HostClientResult)
      } catch {
        // kept in the log
      }
    },
  })
