/**
 * The stack's one socket-id allocator and owner table. Every host socket id comes from here
 * (TCP connections, UDP and ICMP flows, later hostfwd listeners and their accepted
 * connections), and the stack routes each host event to the layer recorded as the socket's
 * owner: ids carry no meaning of their own.
 *
 * How a layer gets an id: its context carries `newSocket` (= `nextSocket(table)`, always free);
 * a layer that opens a socket during the call uses it, and the stack `claim`s it when it sees
 * the open effect (`TcpConnect`, `UdpOpen`, `IcmpOpen`). An owner is `release`d when the stack
 * sees `SocketClose` or the runtime reports the socket closed or failed.
 *
 * Contract: `next` is never an owned id; ids run from 1 up to 2^32 - 1 and wrap, skipping owned
 * ones, so an id is not reused while its socket lives. Pure: the owner table is an IntMap and
 * every function returns a new table.
 */
import type { SocketId, SocketOwner } from "../../effects/ids.ts"
import { socketId } from "../../effects/ids.ts"
import { type IntMap, emptyIntMap, intMapGet, intMapHas, intMapRemove, intMapSet } from "../data/int-map.ts"

export interface SocketTable {
  readonly next: SocketId
  readonly owners: IntMap<SocketId, SocketOwner>
}

export const emptySockets: SocketTable = { next: socketId(1), owners: emptyIntMap() }

const after = (n: number): number => (n >= 0xffffffff ? 1 : n + 1)

export const nextSocket = (t: SocketTable): SocketId => t.next

export const ownerOf = (t: SocketTable, sock: SocketId): SocketOwner | undefined => intMapGet(t.owners, sock)

/** Records `owner` for `sock` and moves `next` past it (to the next id nobody owns). */
export const claimSocket = (t: SocketTable, sock: SocketId, owner: SocketOwner): SocketTable => {
  const owners = intMapSet(t.owners, sock, owner)
  if (sock !== t.next) return owners === t.owners ? t : { next: t.next, owners }
  let n = after(sock)
  while (intMapHas(owners, socketId(n))) n = after(n)
  return { next: socketId(n), owners }
}

export const releaseSocket = (t: SocketTable, sock: SocketId): SocketTable => {
  const owners = intMapRemove(t.owners, sock)
  return owners === t.owners ? t : { next: t.next, owners }
}

/** Every live socket and its owner. */
export const liveSockets = (t: SocketTable): number => t.owners.size
