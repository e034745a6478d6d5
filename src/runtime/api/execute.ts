/**
 * Runs one checked control-socket request against a `ForwardControl` and gives the reply's text.
 *
 * Contract: never rejects and never throws: a rejection or throw from `control` becomes an error
 * reply `bad request: COMMAND: MESSAGE` (slirp4netns prefixes even its own failures with "bad
 * request"), so a failing forwarding layer costs one client its answer, never the server. No I/O
 * of its own; whatever `control` does is all that happens.
 */
import { absurd } from "../../effects/absurd.ts"
import type { ForwardControl } from "./forward-control.ts"
import { errorReply, listConnectionsReply, listGuestFwdReply, listHostFwdReply, returnReply } from "./reply.ts"
import type { ApiRequest } from "./request.ts"

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const failed = (command: string, e: unknown): string => errorReply(`bad request: ${command}: ${message(e)}`)

/** What `execute` names each request; the prefix of its error descs. */
export const commandName = (r: ApiRequest): string => {
  switch (r._tag) {
    case "AddHostFwd":
      return "add_hostfwd"
    case "ListHostFwd":
      return "list_hostfwd"
    case "RemoveHostFwd":
      return "remove_hostfwd"
    case "AddGuestFwd":
      return "add_guestfwd"
    case "ListGuestFwd":
      return "list_guestfwd"
    case "RemoveGuestFwd":
      return "remove_guestfwd"
    case "ListConnections":
      return "list_connections"
    case "GetCounters":
      return "get_counters"
    default:
      return absurd(r)
  }
}

const run = async (control: ForwardControl, r: ApiRequest): Promise<string> => {
  switch (r._tag) {
    case "AddHostFwd":
      return returnReply({ id: (await control.addHostFwd(r.rule)).id })
    case "ListHostFwd":
      return listHostFwdReply(control.listHostFwd())
    case "RemoveHostFwd":
      // slirp4netns tells an id it never gave ("bad arguments.id") from a failure to remove.
      if (!control.listHostFwd().some((e) => e.id === r.id)) return errorReply("bad request: remove_hostfwd: bad arguments.id")
      await control.removeHostFwd(r.id)
      return returnReply({})
    case "AddGuestFwd":
      return returnReply({ id: (await control.addGuestFwd(r.rule)).id })
    case "ListGuestFwd":
      if (control.listGuestFwd === undefined) return errorReply("bad request: list_guestfwd: not available in this build")
      return listGuestFwdReply(control.listGuestFwd())
    case "RemoveGuestFwd":
      if (control.listGuestFwd !== undefined && !control.listGuestFwd().some((e) => e.id === r.id))
        return errorReply("bad request: remove_guestfwd: bad arguments.id")
      await control.removeGuestFwd(r.id)
      return returnReply({})
    case "ListConnections":
      return listConnectionsReply(control.listConnections())
    case "GetCounters":
      if (control.guestCounters === undefined) return errorReply("bad request: get_counters: counters are not available in this build")
      // Field names as the library gives them (`stackCounters`); one object per running guest.
      return returnReply({ guests: control.guestCounters() })
    default:
      return absurd(r)
  }
}

export const executeRequest = async (control: ForwardControl, r: ApiRequest): Promise<string> => {
  try {
    return await run(control, r)
  } catch (e) {
    return failed(commandName(r), e)
  }
}
