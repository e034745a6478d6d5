/**
 * A `ForwardControl` for a build without forwarding: what the CLI's `--api-socket` runs against
 * until hostfwd/guestfwd land (issue 11). It says so instead of pretending.
 *
 * Contract: every change is refused with a one-line "... is not available in this build"; the
 * rule lists are empty (true: no rule can exist); `listConnections` throws, because connections
 * do exist and an empty list would be a lie.
 */
import type { ForwardControl } from "./forward-control.ts"

const refused = (what: string): Promise<never> => Promise.reject(new Error(`${what} is not available in this build`))

export const unavailableForwardControl: ForwardControl = {
  addHostFwd: () => refused("hostfwd"),
  removeHostFwd: () => refused("hostfwd"),
  listHostFwd: () => [],
  addGuestFwd: () => refused("guestfwd"),
  removeGuestFwd: () => refused("guestfwd"),
  listGuestFwd: () => [],
  listConnections: () => {
    throw new Error("listing connections is not available in this build")
  },
}
