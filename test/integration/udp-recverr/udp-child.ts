/**
 * Runs the Node runtime's UDP port (`nodeUdp`) in its own process, usually inside a network
 * namespace (`ip netns exec NS node udp-child.ts SPEC`): opens one socket, sends the datagrams
 * SPEC lists (one at a time, `gapMs` apart, so each error can be told from the next), and
 * prints one JSON line with every event the port reported and every log line at info or
 * above, once `expect` events arrived or `waitMs` passed (a broken socket cannot hang a test).
 * A process of its own also gives each case a fresh addon load (the fallback case sets
 * `TSLIRP_PING_ADDON` to a missing file) and a fresh `performance.now()` clock.
 */
import { socketId } from "../../../src/effects/ids.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import { nodeClock } from "../../../src/runtime/node/clock.ts"
import { nodeUdp } from "../../../src/runtime/node/udp.ts"
import { bulkPayload } from "./bulk-payload.ts"

export interface ChildSpec {
  readonly family: 4 | 6
  readonly sends: ReadonlyArray<{ to: string; port: number; hex: string; ttl?: number }>
  readonly expect: number
  readonly waitMs: number
  readonly gapMs?: number
  readonly backend?: "auto" | "native" | "dgram"
  /** After `sends`: `count` datagrams of `size` bytes to `to:port` in one go, see `bulkPayload`. */
  readonly bulk?: { to: string; port: number; count: number; size: number }
}


export type ChildEvent =
  | { kind: "datagram"; from: string; port: number; hex: string }
  | { kind: "unreachable"; to: string; port: number; reason: string; mtu: number | null; from: string | null }
  | { kind: "error"; code: string }

export interface ChildResult {
  readonly events: ChildEvent[]
  readonly logs: string[]
}

const spec = JSON.parse(process.argv[2] ?? "{}") as ChildSpec
const SOCK = socketId(0x40000001)
const events: ChildEvent[] = []
const logger = memoryLogger()

let done = false
const finish = (): void => {
  if (done) return
  done = true
  clearTimeout(guard)
  port.closeAll()
  const logs = logger.lines.filter((l) => l.level !== "debug" && l.level !== "trace").map((l) => `${l.level}: ${l.message}`)
  const result: ChildResult = { events, logs }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

const onEvent = (e: StackEvent): void => {
  switch (e._tag) {
    case "HostUdpDatagram":
      events.push({ kind: "datagram", from: e.from.address, port: e.from.port, hex: Buffer.from(e.data).toString("hex") })
      break
    case "HostUnreachable":
      events.push({ kind: "unreachable", to: e.to.address, port: e.to.port, reason: e.reason, mtu: e.mtu ?? null, from: e.from ?? null })
      break
    case "HostSocketError":
      events.push({ kind: "error", code: e.code })
      break
    default:
      events.push({ kind: "error", code: `unexpected ${e._tag}` })
  }
  if (events.length >= spec.expect) finish()
}

const port = nodeUdp(nodeClock, logger, spec.backend === undefined ? {} : { backend: spec.backend })(onEvent)
const guard = setTimeout(finish, spec.waitMs)
port.open(SOCK, spec.family)

const gap = spec.gapMs ?? 0
spec.sends.forEach((s, i) => {
  const send = (): void => port.send(SOCK, { family: spec.family, address: s.to, port: s.port }, Buffer.from(s.hex, "hex"), s.ttl)
  if (gap === 0) send()
  else setTimeout(send, i * gap)
})
const bulk = spec.bulk
if (bulk !== undefined) {
  setTimeout(() => {
    for (let i = 0; i < bulk.count; i++) port.send(SOCK, { family: spec.family, address: bulk.to, port: bulk.port }, bulkPayload(i, bulk.size))
  }, spec.sends.length * gap)
}
if (spec.expect === 0) setTimeout(finish, 50)
