/** ICMPv6 errors to the guest (RFC 4443 §2.4): the type and code per reason, and what gets none. */
import { describe, expect, it } from "vitest"
import type { HostUnreachableReason } from "../../../src/effects/event.ts"
import { icmpv6ErrorPacket } from "../../../src/protocol/ipv6/icmp-error.ts"
import { quoteDatagram6 } from "../../../src/protocol/ipv6/quote.ts"
import { NH_ICMPV6, NH_UDP } from "../../../src/protocol/ipv6/wire.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { get32 } from "../../../src/protocol/wire/bytes.ts"
import { formatIpv6, parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"

const a = (s: string) => parseIpv6(s)!
const GUEST = a("fec0::15")
const udpQuote = (src = GUEST) => quoteDatagram6(NH_UDP, src, a("2001:db8::1"), Uint8Array.of(0x9c, 0x40, 0, 9, 0, 8, 0, 0))
const error = (reason: HostUnreachableReason, original: Uint8Array, mtu?: number) =>
  icmpv6ErrorPacket(defaultConfig, { _tag: "ErrorToGuest", family: 6, src: a("2001:db8::1"), reason, original, ...(mtu === undefined ? {} : { mtu }) })

describe("icmpv6 errors to the guest", () => {
  it.each([
    ["net", 1, 0],
    ["host", 1, 3],
    ["port", 1, 4],
    ["admin", 1, 1],
    ["fragmentation-needed", 2, 0],
    ["ttl-exceeded", 3, 0],
  ] as const)("%s -> type %d code %d, to the quoted source", (reason, type, code) => {
    const p = error(reason, udpQuote(), 1400)
    expect(p === undefined ? undefined : [p.header[0], p.header[1], formatIpv6(p.dst), p.protocol]).toEqual([type, code, "fec0::15", NH_ICMPV6])
  })

  it("Packet Too Big carries the MTU, raised to the IPv6 minimum of 1280 (RFC 8201)", () => {
    expect(get32(error("fragmentation-needed", udpQuote(), 1400)!.header, 4)).toBe(1400)
    expect(get32(error("fragmentation-needed", udpQuote(), 576)!.header, 4)).toBe(1280)
  })

  it("no error about an ICMPv6 error, about a source that is not a guest, or about a quote shorter than a header", () => {
    const icmpErr = quoteDatagram6(NH_ICMPV6, GUEST, a("2001:db8::1"), Uint8Array.of(1, 4, 0, 0, 0, 0, 0, 0))
    expect(error("port", icmpErr)).toBeUndefined()
    const echo = quoteDatagram6(NH_ICMPV6, GUEST, a("2001:db8::1"), Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1))
    expect(error("port", echo)).toBeDefined()
    for (const src of ["fec0::2", "::", "ff02::1", "2001:db8::9"]) expect(error("port", udpQuote(a(src))), src).toBeUndefined()
    expect(error("port", udpQuote().subarray(0, 39))).toBeUndefined()
  })
})
