/**
 * Runs inside a network namespace (`ip netns exec NS node ping-child.ts SPEC`): opens a ping
 * socket, sends the echoes SPEC lists, and prints one JSON line with everything the handlers
 * saw once `expect` events arrived (or `waitMs` passed, so a broken socket cannot hang a test).
 */
import { openPingSocket } from "../../../src/runtime/node/icmp/ping-socket.ts"

interface Spec {
  readonly family: 4 | 6
  readonly sends: ReadonlyArray<{ to: string; sequence: number; payloadHex: string; ttl?: number }>
  readonly expect: number
  readonly waitMs: number
  /**
   * "closeInHandler": close the socket from inside the first handler call, then prove the
   * process is still healthy by pinging `sends[0].to` from a second socket. The result lists
   * the first socket's events followed by the second socket's.
   */
  readonly mode?: "collect" | "closeInHandler"
  /** The local address to bind the (first) socket to, as `--outbound-addr` does. */
  readonly local?: string
}

export type ChildEvent =
  | { kind: "reply"; from: string; sequence: number; payloadHex: string; ttl: number | null }
  | { kind: "unreachable"; to: string; reason: string; sequence: number | null; from: string | null; mtu: number | null }
  | { kind: "error"; code: string }

/** `local`: the first socket's address (getsockname) right after it was opened. */
export type ChildResult = { opened: false; code: string; message: string } | { opened: true; local: string; events: ChildEvent[] }

const spec = JSON.parse(process.argv[2] ?? "{}") as Spec
const events: ChildEvent[] = []
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")

let finish = (): void => {}
const seen = (e: ChildEvent): void => {
  events.push(e)
  if (events.length >= spec.expect) finish()
}

let sock: ReturnType<typeof openPingSocket>
try {
  sock = openPingSocket(spec.family, {
    onReply: (from, sequence, payload, ttl) => seen({ kind: "reply", from, sequence, payloadHex: hex(payload), ttl: ttl ?? null }),
    onUnreachable: (to, reason, detail) =>
      seen({
        kind: "unreachable",
        to,
        reason,
        sequence: detail?.sequence ?? null,
        from: detail?.from ?? null,
        mtu: detail?.mtu ?? null,
      }),
    onError: (code) => seen({ kind: "error", code }),
  }, spec.local)
} catch (e) {
  const err = e as Error & { code?: string }
  const result: ChildResult = { opened: false, code: err.code ?? "none", message: err.message }
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
}

const local = sock.localAddress()
const guard = setTimeout(() => finish(), spec.waitMs)
finish = () => {
  clearTimeout(guard)
  sock.close()
  const result: ChildResult = { opened: true, local, events }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

if (spec.mode === "closeInHandler") {
  const first = spec.sends[0]
  if (first === undefined) throw new Error("closeInHandler needs at least one send")
  const record = (e: ChildEvent): void => {
    events.push(e)
    sock.close()
    // Let any replies already queued for the closed socket have their chance to (wrongly) arrive.
    setImmediate(() => {
      const second = openPingSocket(spec.family, {
        onReply: (from, sequence, payload) => {
          events.push({ kind: "reply", from, sequence, payloadHex: hex(payload), ttl: null })
          second.close()
          finish()
        },
        onUnreachable: (to, reason) => seen({ kind: "unreachable", to, reason, sequence: null, from: null, mtu: null }),
        onError: (code) => seen({ kind: "error", code }),
      })
      second.send(first.to, 4242, Buffer.from("c0ffee", "hex"))
    })
  }
  sock.close()
  sock = openPingSocket(spec.family, {
    onReply: (from, sequence, payload) =>
      record({ kind: "reply", from, sequence, payloadHex: hex(payload), ttl: null }),
    onUnreachable: (to, reason) => record({ kind: "unreachable", to, reason, sequence: null, from: null, mtu: null }),
    onError: (code) => record({ kind: "error", code }),
  })
}
for (const s of spec.sends) sock.send(s.to, s.sequence, Buffer.from(s.payloadHex, "hex"), s.ttl)
if (spec.expect === 0) finish()
