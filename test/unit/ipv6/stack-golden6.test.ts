/**
 * The stack answering Linux's own IPv6 frames (test/golden/ipv6), compared with what Linux
 * answered in the capture: the capture's router had our gateway's MAC and address
 * (52:55:0a:00:02:02, fec0::2), so our answers can be compared byte for byte.
 */
import { describe, expect, it } from "vitest"
import { golden6 } from "../../golden/ipv6/golden6.ts"
import { instant } from "../../../src/effects/instant.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { createStack, reduce as rawReduce } from "../../../src/protocol/stack/stack.ts"
import { toHex } from "../../../src/protocol/wire/bytes.ts"
import { checkedStackReduce } from "../../support/checked.ts"

const reduce = checkedStackReduce(rawReduce)
const answer = (name: string): Array<Uint8Array> => {
  const [, fx] = reduce(createStack(defaultConfig, instant(0)), { _tag: "FrameFromGuest", now: instant(0), frame: golden6(name) })
  return fx.flatMap((e) => (e._tag === "DeliverFrame" ? [e.frame] : []))
}

describe("stack vs Linux (golden IPv6)", () => {
  it("Linux's NS for fec0::2 gets the NA Linux's router sent, byte for byte", () => {
    expect(answer("ndp-ns").map(toHex)).toEqual([toHex(golden6("ndp-na"))])
  })

  it("Linux's echo request to fec0::2 gets Linux's echo reply, but for the flow label (Linux picks one, we send 0)", () => {
    const [ours, ...rest] = answer("icmpv6-echo-request")
    expect(rest).toEqual([])
    const linux = golden6("icmpv6-echo-reply").slice()
    expect(ours![14]! & 0xf0).toBe(0x60)
    expect([ours![15]! & 0x0f, ours![16], ours![17]]).toEqual([0, 0, 0])
    linux[15] = linux[15]! & 0xf0
    linux[16] = 0
    linux[17] = 0
    expect(toHex(ours!)).toBe(toHex(linux))
  })

  it("Linux's DAD probe for its own link-local address gets no answer", () => {
    expect(answer("ndp-dad-ns")).toEqual([])
  })
})
