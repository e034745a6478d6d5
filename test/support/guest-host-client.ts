/**
 * Host-side actions during a guest run (hostfwd checks): the plan's types, and starting
 * guest-host-client-main.ts in the run's namespace once the backend is up. Its JSON lines are
 * the results (`HostClientResult`), in step order.
 */
import { fileURLToPath } from "node:url"
import { NODE } from "./guest-services.ts"
import { startProcess, type ManagedProcess } from "./guest-process.ts"

export type HostClientStep =
  /** GET http://HOST:PORT/PATH (HOST 127.0.0.1 unless given, e.g. "::1") until it answers 200. */
  | { readonly kind: "http"; readonly port: number; readonly path: string; readonly host?: string; readonly deadlineMs: number }
  /** Connect to 127.0.0.1:PORT, send `text`, close; until a connection takes it. */
  | { readonly kind: "tcp-send"; readonly port: number; readonly text: string; readonly deadlineMs: number }
  /** Send the datagram to 127.0.0.1:PORT (from `fromPort`), until one answers; the answer in hex. */
  | { readonly kind: "udp"; readonly port: number; readonly hex: string; readonly fromPort?: number; readonly deadlineMs: number }
  /**
   * A hostfwd rule changed while the guest runs, through the control socket at `api` with
   * slirp4netns's own requests: `add_hostfwd` 127.0.0.1:`hostPort` -> 10.0.2.15:`guestPort`,
   * `list_hostfwd`, then an HTTP GET of `path` through it, with `list_connections` asked while
   * that connection is open (after the request line, before the blank line that ends the
   * request), then `remove_hostfwd` and one more connect to `hostPort`. Every raw reply and
   * outcome is in `api` of the result; the test judges them. Not retried: the guest's server
   * must be up already (an earlier step reached it).
   */
  | { readonly kind: "api-hostfwd"; readonly api: string; readonly hostPort: number; readonly guestPort: number; readonly path: string; readonly deadlineMs: number }

/** What an `api-hostfwd` step saw, raw. */
export interface ApiHostFwdTrace {
  readonly add: string
  readonly list: string
  /** The first list_connections reply showing the forwarded connection Established with the request line acked by the guest (or the last one asked). */
  readonly connections: string
  readonly body: string
  readonly remove: string
  readonly listAfter: string
  /** The errno code of the connect after remove_hostfwd, or "connected". */
  readonly afterRemove: string
}

export interface HostClientResult {
  readonly step: number
  readonly kind: HostClientStep["kind"]
  readonly ok: boolean
  readonly tries: number
  readonly body?: string
  readonly answer?: string
  readonly api?: ApiHostFwdTrace
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
