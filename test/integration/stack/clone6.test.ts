/**
 * IPv6 states are plain data too: `structuredClone` of a stack state in the middle of IPv6
 * work (router advertisements armed, a DHCPv6 binding, a UDP flow, a datagram half reassembled,
 * a frame waiting for NDP) behaves exactly like the original for the same events, and old
 * states stay valid.
 */
import { describe, expect, it } from "vitest"
import type { StackEvent } from "../../../src/effects/event.ts"
import { type SocketId, timerId } from "../../../src/effects/ids.ts"
import { addMillis, type Instant } from "../../../src/effects/instant.ts"
import { OPTION_CLIENTID, SOLICIT, emitDhcpv6, iaNaOption, option6 } from "../../../src/protocol/dhcpv6/wire.ts"
import { NDP_CACHE_MAX, addressHash } from "../../../src/protocol/ndp/neighbors.ts"
import { MAX_RTR_ADV_INTERVAL_MS, RA_TIMER } from "../../../src/protocol/ndp/router.ts"
import { type StackState, reduce as rawReduce } from "../../../src/protocol/stack/stack.ts"
import { put16, put32 } from "../../../src/protocol/wire/bytes.ts"
import { checkedStackReduce } from "../../support/checked.ts"
import { firstDifference } from "../../support/referential.ts"
import { StackDriver, ofTag } from "./driver.ts"
import { GUEST_MAC, bytes } from "./frames.ts"
import { GUEST6, GUEST6_LL, HOST6, a6, icmpv6Frame, ipv6Frame, sllOption, udp6Frame } from "./frames6.ts"

const reduce = checkedStackReduce((s: StackState, e: StackEvent) => rawReduce(s, e))

const fragment = (off: number, data: Uint8Array, more: boolean) => {
  const fh = new Uint8Array(8 + data.length)
  fh[0] = 17
  put16(fh, 2, off | (more ? 1 : 0))
  put32(fh, 4, 4242)
  fh.set(data, 8)
  return ipv6Frame(GUEST6, HOST6, 44, fh)
}

/** A whole UDP datagram (header and 1008 bytes, checksum over the pseudo header), cut at 1000. */
const datagram = udp6Frame(GUEST6, HOST6, 40001, 7777, new Uint8Array(1008).fill(3)).subarray(54)

const midway = () => {
  const d = new StackDriver()
  d.frame(icmpv6Frame(GUEST6_LL, a6("ff02::2"), 133, new Uint8Array([0, 0, 0, 0, ...sllOption()]), 255))
  d.frame(udp6Frame(GUEST6_LL, a6("ff02::1:2"), 546, 547, emitDhcpv6(SOLICIT, 1, [option6(OPTION_CLIENTID, Uint8Array.of(0, 3, 0, 1, ...GUEST_MAC)), iaNaOption(1, 0, 0, [])])))
  d.frame(udp6Frame(GUEST6, HOST6, 40000, 7777, bytes("udp6 flow")))
  d.frame(fragment(0, datagram.subarray(0, 1000), true))
  // Other guests push GUEST6 out of the NDP cache, so the host's reply for it waits for an NA.
  for (let i = 0; i < NDP_CACHE_MAX; i++) d.frame(icmpv6Frame(a6(`fec0::1:${i + 1}`), HOST6, 128, new Uint8Array([0, 1, 0, 1]), 64))
  const fx = d.take()
  const udpSock = ofTag(fx, "UdpOpen")[0]!.sock
  d.event({ _tag: "HostUdpDatagram", sock: udpSock, from: { family: 6, address: "::1", port: 7777 }, data: bytes("reply") })
  expect(d.take().map((e) => e._tag)).toEqual(["DeliverFrame", "SetTimer"]) // the NS and its timer
  expect([d.state.ipv6.neighbors.pending.size, d.state.reassembly6.datagrams.size, d.state.dhcpv6.bindings.size, d.state.router.next !== undefined]).toEqual([1, 1, 1, true])
  return { state: d.state, now: d.now, udpSock }
}

const continuation = (now: Instant, udpSock: SocketId): ReadonlyArray<StackEvent> => [
  { _tag: "FrameFromGuest", now, frame: fragment(1000, datagram.subarray(1000), false) },
  { _tag: "FrameFromGuest", now, frame: icmpv6Frame(GUEST6, HOST6, 136, new Uint8Array([0x60, 0, 0, 0, ...GUEST6, 2, 1, ...GUEST_MAC]), 255) },
  { _tag: "HostUdpDatagram", now, sock: udpSock, from: { family: 6, address: "::1", port: 7777 }, data: bytes("second reply") },
  { _tag: "FrameFromGuest", now, frame: fragment(0, new Uint8Array(8), true) },
  { _tag: "TimerFired", now: addMillis(now, 1000), timer: timerId("ndp", addressHash(GUEST6)) },
  { _tag: "TimerFired", now: addMillis(now, 60_000), timer: timerId("reassembly6", 2) },
  { _tag: "TimerFired", now: addMillis(now, MAX_RTR_ADV_INTERVAL_MS), timer: RA_TIMER },
  { _tag: "Shutdown", now: addMillis(now, MAX_RTR_ADV_INTERVAL_MS + 1) },
]

describe("stack: a structuredClone of an IPv6 state is a state", () => {
  it("clone and original give equal effects and states for the same events; old states stay valid", () => {
    const { state, now, udpSock } = midway()
    const clone = structuredClone(state)
    expect(firstDifference(state, clone)).toBeUndefined()
    const run = (s0: StackState) => {
      const out: Array<unknown> = []
      const tags: Array<string> = []
      let s = s0
      for (const e of continuation(now, udpSock)) {
        const r = reduce(s, e)
        out.push(r)
        tags.push(...r[1].map((x) => x._tag))
        s = r[0]
      }
      return { out, tags }
    }
    const fromClone = run(clone)
    const fromOriginal = run(state)
    const again = run(state)
    expect(firstDifference(fromClone.out, fromOriginal.out)).toBeUndefined()
    expect(firstDifference(fromOriginal.out, again.out)).toBeUndefined()
    // The continuation did what it says: the queued reply, the second reply and the periodic RA
    // went out; the reassembled datagram went to the host; the RA timer re-armed.
    expect(fromOriginal.tags.filter((t) => t === "DeliverFrame")).toHaveLength(3)
    expect(fromOriginal.tags).toContain("UdpSend")
    expect(fromOriginal.tags).toContain("SetTimer")
  })
})
