/** The harness wiring: every stack event is checked, TCP's included; layer functions with extra arguments. */
import { describe, expect, it } from "vitest"
import type { StackEvent } from "../../../src/effects/event.ts"
import { socketId, timerId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { type StackState, createStack, reduce } from "../../../src/protocol/stack/stack.ts"
import { claimSocket } from "../../../src/protocol/stack/sockets.ts"
import { SYN, assembleSegment, emitTcpHeader } from "../../../src/protocol/tcp/wire.ts"
import { checkedLayer, checkedStackReduce } from "../../support/checked.ts"
import { NotReferentiallyTransparent } from "../../support/referential.ts"
import { provoked } from "./provoke.ts"
import { GW_MAC, GUEST, HOST, bytes, ether, ipv4Packet, udpFrame } from "../../integration/stack/frames.ts"

const T = instant(1000)
/** A SYN from the guest's port 40000 to `port`, checksum filled. */
const synTo = (port: number): Uint8Array => {
  const h = emitTcpHeader({ srcPort: 40000, dstPort: port, seq: 1, ack: 0, flags: SYN, window: 65535 })
  return assembleSegment(h, undefined, GUEST, HOST)
}
/** A fresh stack whose bytes are its own (a clone), so the impure reducer below spoils no other test's. */
const fresh = (): StackState => structuredClone(createStack(defaultConfig, T))
const udp = (): StackEvent => ({ _tag: "FrameFromGuest", now: T, frame: udpFrame(GUEST, HOST, 40000, 7777, bytes("x")) })
const tcp = (): StackEvent => ({ _tag: "FrameFromGuest", now: T, frame: ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 6, new Uint8Array(20))) })

/** A stack reducer that breaks purity: it reduces, then writes into the state it was given. */
const impure = (s: StackState, e: StackEvent) => {
  const r = reduce(s, e)
  ;(s.link.gatewayMac as Uint8Array).fill(0x99)
  return r
}


describe("harness wiring", () => {
  it("checkedStackReduce: an impure reducer is caught on a UDP frame", () => {
    expect(provoked(() => checkedStackReduce(impure)(fresh(), udp()))).toThrow(NotReferentiallyTransparent)
  })

  it("checkedStackReduce: an impure reducer is caught on a TCP frame too", () => {
    expect(provoked(() => checkedStackReduce(impure)(fresh(), tcp()))).toThrow(NotReferentiallyTransparent)
  })

  it("checkedStackReduce: the real stack passes a TCP SYN and the Shutdown that closes its connection", () => {
    const [withTcp] = checkedStackReduce(reduce)(fresh(), { _tag: "FrameFromGuest", now: T, frame: ether(GW_MAC, 0x0800, ipv4Packet(GUEST, HOST, 6, synTo(80))) })
    expect(withTcp.tcp.conns.size).toBe(1)
    const [after, fx] = checkedStackReduce(reduce)(withTcp, { _tag: "Shutdown", now: T })
    expect(after.tcp.conns.size).toBe(0)
    expect(fx.some((e) => e._tag === "SocketClose")).toBe(true)
  })

  it("checkedLayer: checks a layer function with extra arguments", () => {
    const bad = (s: { readonly n: Array<number> }, x: number) => (s.n.push(x), s)
    expect(() => checkedLayer(bad)({ n: [] }, 1)).toThrow(TypeError)
    const good = (s: { readonly n: ReadonlyArray<number> }, x: number) => ({ n: [...s.n, x] })
    expect(checkedLayer(good)({ n: [1] }, 2)).toEqual({ n: [1, 2] })
  })
})
