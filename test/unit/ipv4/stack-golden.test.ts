/**
 * The captured guest frames fed to the whole stack reducer (gateway 10.0.2.2 = the router of the
 * capture): the answers must match what the Linux router answered, apart from the fields that are
 * the sender's choice (IPv4 identification, DF, TOS of errors).
 */
import { describe, expect, it } from "vitest"
import { golden } from "../../golden/net/golden.ts"
import type { StackEffect } from "../../../src/effects/effect.ts"
import { instant } from "../../../src/effects/instant.ts"
import { parseIpv4Header } from "../../../src/protocol/ipv4/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { type StackState, createStack, reduce as rawReduce } from "../../../src/protocol/stack/stack.ts"
import { toHex } from "../../../src/protocol/wire/bytes.ts"
import { formatMac } from "../../../src/protocol/wire/mac.ts"
import { checkedStackReduce } from "../../support/checked.ts"

// Every event goes through the referential-transparency harness (test/support/checked.ts).
const reduce = checkedStackReduce(rawReduce)

const T = instant(5000)

const feed = (s: StackState, names: ReadonlyArray<string>): { s: StackState; frames: Array<Uint8Array>; fx: Array<StackEffect> } => {
  const fx: Array<StackEffect> = []
  for (const n of names) {
    const [s1, e] = reduce(s, { _tag: "FrameFromGuest", now: T, frame: golden(n) })
    s = s1
    fx.push(...e)
  }
  return { s, frames: fx.flatMap((e) => (e._tag === "DeliverFrame" ? [e.frame] : [])), fx }
}

/** IPv4 payload (transport bytes) of a frame. */
const transport = (f: Uint8Array): Uint8Array => {
  const p = parseIpv4Header(f, 14)
  if (!p.ok) throw new Error(p.reason)
  return f.subarray(p.ip.payloadOffset, p.ip.payloadOffset + p.ip.payloadLength)
}

describe("stack with captured guest frames", () => {
  it("stack: the captured ARP request for 10.0.2.2 is answered exactly as Linux answered it", () => {
    const { frames } = feed(createStack(defaultConfig, T), ["arp-request"])
    expect(frames).toHaveLength(1)
    expect(toHex(frames[0]!.subarray(0, 42))).toBe(toHex(golden("arp-reply")))
  })

  it("stack: the captured ping to 10.0.2.2 gets Linux's ICMP reply, addressed to the guest's MAC", () => {
    const { frames } = feed(createStack(defaultConfig, T), ["icmp-echo-request"])
    expect(frames).toHaveLength(1)
    const linux = golden("icmp-echo-reply")
    expect(toHex(frames[0]!.subarray(0, 14))).toBe(toHex(linux.subarray(0, 14)))
    expect(toHex(transport(frames[0]!))).toBe(toHex(transport(linux)))
  })

  it("stack: the record-route ping (IHL 15) is answered; the reply's ICMP part equals Linux's", () => {
    const { frames } = feed(createStack(defaultConfig, T), ["ipv4-rr-request"])
    expect(frames).toHaveLength(1)
    expect(toHex(transport(frames[0]!))).toBe(toHex(transport(golden("ipv4-rr-reply"))))
  })

  it("stack: the three captured fragments of ping -s 3000 are reassembled and answered with Linux's three fragments", () => {
    const { frames, fx } = feed(createStack(defaultConfig, T), ["frag-request-2", "frag-request-3", "frag-request-1"])
    expect(frames).toHaveLength(3)
    const linux = ["frag-reply-1", "frag-reply-2", "frag-reply-3"].map(golden)
    frames.forEach((f, i) => {
      expect(formatMac(f, 0)).toBe("52:54:00:12:34:56")
      const ours = parseIpv4Header(f, 14)
      const theirs = parseIpv4Header(linux[i]!, 14)
      if (!ours.ok || !theirs.ok) throw new Error("unparsable")
      expect([ours.ip.fragmentOffset, ours.ip.moreFragments, ours.ip.totalLength]).toEqual([theirs.ip.fragmentOffset, theirs.ip.moreFragments, theirs.ip.totalLength])
      expect(toHex(transport(f))).toBe(toHex(transport(linux[i]!)))
    })
    // The reassembly timer was armed and cancelled.
    expect(fx.filter((e) => e._tag === "SetTimer" || e._tag === "CancelTimer").map((e) => e._tag)).toEqual(["SetTimer", "CancelTimer"])
  })

  it("stack: the captured UDP datagram to 10.0.2.2:7777 goes to 127.0.0.1:7777 with its payload", () => {
    const { fx } = feed(createStack(defaultConfig, T), ["udp-request"])
    const send = fx.find((e) => e._tag === "UdpSend")
    expect(send?._tag === "UdpSend" && [send.to, new TextDecoder().decode(send.data)]).toEqual([{ family: 4, address: "127.0.0.1", port: 7777 }, "hello tslirp\n"])
  })

  it("stack: the captured gratuitous ARP teaches the guest's MAC without an answer", () => {
    const { s, frames } = feed(createStack(defaultConfig, T), ["arp-gratuitous"])
    expect(frames).toHaveLength(0)
    expect(formatMac(s.ipv4.neighbors.cache.get(0x0a00020f)!)).toBe("52:54:00:12:34:56")
  })
})
