/** How an error the host network reported becomes the ICMP error we give the guest. */
import type { HostUnreachableReason } from "../../effects/event.ts"
import { absurd } from "../../effects/absurd.ts"
import {
  ICMP_DEST_UNREACHABLE,
  ICMP_TIME_EXCEEDED,
  UNREACH_ADMIN,
  UNREACH_HOST,
  UNREACH_NEEDFRAG,
  UNREACH_NET,
  UNREACH_PORT,
  UNREACH_PROTOCOL,
} from "./wire.ts"

export const icmpForHostReason = (reason: HostUnreachableReason): { readonly type: 3 | 11; readonly code: number } => {
  switch (reason) {
    case "net":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_NET }
    case "host":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_HOST }
    case "port":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_PORT }
    case "protocol":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_PROTOCOL }
    case "admin":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_ADMIN }
    case "fragmentation-needed":
      return { type: ICMP_DEST_UNREACHABLE, code: UNREACH_NEEDFRAG }
    case "ttl-exceeded":
      return { type: ICMP_TIME_EXCEEDED, code: 0 }
    default:
      return absurd(reason)
  }
}
