/**
 * The whole stack state in the middle of a TCP transfer, cloned with `structuredClone`: the
 * clone and the original, fed the same events, give the same effects. Every call goes through
 * the referential-transparency harness. The state is plain data, so the clone is a bare
 * `structuredClone` of all of it.
 */
import { describe, expect, it } from "vitest"
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { StackEvent } from "../../../src/effects/event.ts"
import type { SocketId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { createStack, reduce, type StackState } from "../../../src/protocol/stack/stack.ts"
import { ACK, FIN, SYN, assembleSegment, emitTcpHeader, parseTcp } from "../../../src/protocol/tcp/wire.ts"
import { GUEST, GW_MAC, HOST, decode, ether, ipv4Packet } from "../../integration/stack/frames.ts"
import { checkedReduce, firstDifference } from "../../support/referential.ts"
import { bytes } from "./fixtures.ts"

const GPORT = 40000
const RPORT = 8080
const ISS = 5000

const frame = (seq: number, ack: number, flags: number, payload?: Uint8Array): Uint8Array => {
  const header = emitTcpHeader({
    srcPort: GPORT,
    dstPort: RPORT,
    seq: seq >>> 0,
    ack: ack >>> 0,
    flags,
    window: 0xffff,
    mss: (flags & SYN) !== 0 ? 1460 : undefined,
    wscale: (flags & SYN) !== 0 ? 7 : undefined,
    sackPermitted: (flags & SYN) !== 0,
  })
  return ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 6, assembleSegment(header, payload, GUEST, HOST)))
}

/** Effects with frames copied out (frames may be views of a slab the next call reuses). */
const step = (s: StackState, e: StackEvent): [StackState, Array<StackEffect>] => {
  const [next, fx] = checkedReduce(reduce, s, e)
  return [next, fx.map((f) => (f._tag === "DeliverFrame" ? { ...f, frame: f.frame.slice() } : f))]
}

const segmentsOf = (fx: ReadonlyArray<StackEffect>) =>
  fx.flatMap((f) => {
    if (f._tag !== "DeliverFrame") return []
    const d = decode(f.frame)
    if (d.ip === undefined || d.ip.protocol !== 6) return []
    const p = parseTcp(d.ip.payload, d.ip.src, d.ip.dst)
    if (!p.ok) throw new Error(p.reason)
    return [{ tcp: p.tcp, payloadLength: d.ip.payload.length - p.tcp.headerLength }]
  })

type Without<E, K extends PropertyKey> = E extends unknown ? Omit<E, K> : never
type WithoutNow = Without<StackEvent, "now">


describe("stack state: structuredClone in the middle of a TCP transfer", () => {
  it("the clone and the original, fed the same events, give the same effects", () => {
    let s = createStack(defaultConfig, instant(0))
    let now = 1000
    const ev = (e: WithoutNow): StackEvent => ({ ...e, now: instant(now) }) as StackEvent
    let fx: Array<StackEffect>
    ;[s, fx] = step(s, ev({ _tag: "FrameFromGuest", frame: frame(ISS, 0, SYN) }))
    const connect = fx.find((f) => f._tag === "TcpConnect")
    if (connect === undefined || connect._tag !== "TcpConnect") throw new Error("no TcpConnect")
    const sock: SocketId = connect.sock
    ;[s, fx] = step(s, ev({ _tag: "HostTcpConnected", sock }))
    const synAck = segmentsOf(fx).find((x) => (x.tcp.flags & SYN) !== 0)!
    const ours = (synAck.tcp.seq + 1) >>> 0
    ;[s, fx] = step(s, ev({ _tag: "FrameFromGuest", frame: frame(ISS + 1, ours, ACK) }))
    // Mid-transfer: host data in flight toward the guest, guest data written and staged.
    ;[s, fx] = step(s, ev({ _tag: "HostTcpData", sock, data: bytes(20_000, 7) }))
    expect(segmentsOf(fx).filter((x) => x.payloadLength > 0).length).toBeGreaterThan(3)
    const up = bytes(4000, 8)
    ;[s, fx] = step(s, ev({ _tag: "FrameFromGuest", frame: frame(ISS + 1, ours + 2920, ACK, up.subarray(0, 1000)) }))
    expect(fx.some((f) => f._tag === "TcpWrite")).toBe(true)
    ;[s, fx] = step(s, ev({ _tag: "FrameFromGuest", frame: frame(ISS + 1001, ours + 2920, ACK, up.subarray(1000, 2000)) }))

    const original = s
    const clone = structuredClone(original)
    expect(firstDifference(clone, original)).toBeUndefined()

    now += 5
    const rest: ReadonlyArray<StackEvent> = [
      ev({ _tag: "HostTcpWritten", sock, bytes: 1000 }),
      ev({ _tag: "FrameFromGuest", frame: frame(ISS + 2001, ours + 10_000, ACK, up.subarray(2000, 3000)) }),
      ev({ _tag: "HostTcpData", sock, data: bytes(5000, 9) }),
      ev({ _tag: "HostTcpWritten", sock, bytes: 1000 }),
      ev({ _tag: "FrameFromGuest", frame: frame(ISS + 3001, ours + 25_000, ACK | FIN, up.subarray(3000)) }),
      ev({ _tag: "HostTcpEof", sock }),
    ]
    const run = (start: StackState): Array<StackEffect> => {
      let st = start
      const all: Array<StackEffect> = []
      for (const e of rest) {
        const [next, out] = step(st, e)
        st = next
        all.push(...out)
      }
      return all
    }
    const a = run(original)
    const b = run(clone)
    expect(firstDifference(a, b)).toBeUndefined()
    // The continuation did the work: the staged and the rest of the guest's data reached the
    // host, its FIN the host socket, and our FIN (after the host's EOF) went to the guest.
    const written = a.flatMap((f) => (f._tag === "TcpWrite" ? f.chunks : []))
    expect(Buffer.concat(written)).toEqual(Buffer.from(up.subarray(1000)))
    expect(a.some((f) => f._tag === "TcpShutdownWrite")).toBe(true)
    expect(segmentsOf(a).some((x) => (x.tcp.flags & FIN) !== 0)).toBe(true)
  })
})
