/**
 * The DHCPv6 server through the whole stack reducer (checked by the referential-transparency
 * harness), fed with dhclient's own messages captured in test/golden/ipv6.
 */
import { describe, expect, it } from "vitest"
import { golden6 } from "../../golden/ipv6/golden6.ts"
import { DHCPV6_POOL_MAX, serverDuid } from "../../../src/protocol/dhcpv6/server.ts"
import {
  ADVERTISE,
  CONFIRM,
  OPTION_CLIENTID,
  OPTION_DNS_SERVERS,
  OPTION_DOMAIN_LIST,
  OPTION_IA_NA,
  OPTION_RAPID_COMMIT,
  OPTION_SERVERID,
  OPTION_STATUS_CODE,
  REBIND,
  RELEASE,
  REPLY,
  REQUEST,
  SOLICIT,
  type Dhcpv6Message,
  emitDhcpv6,
  findOption,
  iaAddrOption,
  iaNaOption,
  option6,
  parseDhcpv6,
  readDomainList,
  readIaNa,
} from "../../../src/protocol/dhcpv6/wire.ts"
import { get16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { formatIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { StackDriver } from "./driver.ts"
import { GW_MAC } from "./frames.ts"
import { GUEST6_LL, a6, decode6, udp6Frame } from "./frames6.ts"
import { rng } from "../../unit/wire/prng.ts"

const AGENTS = a6("ff02::1:2")
const CLIENT_ID = Uint8Array.of(0, 3, 0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56)
const OUR_DUID = serverDuid(GW_MAC)

/** The reply the stack sent: from fe80::2:547 to the client's fe80:: address, port 546. */
const replyOf = (d: StackDriver): Dhcpv6Message => {
  const [f, ...rest] = d.framesOut()
  expect(rest).toEqual([])
  const h = decode6(f!)
  expect([h.src, h.dst, h.nh, h.checksumOk, h.dstMac, get16(h.payload, 0), get16(h.payload, 2)]).toEqual(["fe80::2", formatIpv6(GUEST6_LL), 17, true, "52:54:00:12:34:56", 547, 546])
  const p = parseDhcpv6(h.payload.subarray(8))
  if (!p.ok) throw new Error(p.reason)
  return p.msg
}
const send = (d: StackDriver, type: number, txid: number, options: ReadonlyArray<Uint8Array>) => d.frame(udp6Frame(GUEST6_LL, AGENTS, 546, 547, emitDhcpv6(type, txid, options)))
const addressOf = (m: Dhcpv6Message) => readIaNa(findOption(m.options, OPTION_IA_NA)!)!.addresses.map((a) => formatIpv6(a.address))

describe("DHCPv6 server (RFC 8415)", () => {
  it("dhclient -6 -S's information request: DNS fec0::3 and the search list, client id echoed, our DUID-LL", () => {
    const d = new StackDriver({ dnsSearch: ["example.test"] })
    d.frame(golden6("dhcpv6-information-request"))
    const m = replyOf(d)
    expect([m.msgType, m.transactionId]).toEqual([REPLY, 0x7b23c6])
    expect(toHex(findOption(m.options, OPTION_CLIENTID)!)).toBe("00030001525400123456")
    expect(toHex(findOption(m.options, OPTION_SERVERID)!)).toBe(toHex(OUR_DUID))
    expect(formatIpv6(findOption(m.options, OPTION_DNS_SERVERS)!)).toBe("fec0::3")
    expect(readDomainList(findOption(m.options, OPTION_DOMAIN_LIST)!)).toEqual(["example.test"])
  })

  it("dhclient -6's solicit gets an advertise offering fec0::100 for its IA_NA (IAID 0x123456), with T1/T2 and lifetimes", () => {
    const d = new StackDriver()
    d.frame(golden6("dhcpv6-solicit"))
    const m = replyOf(d)
    expect([m.msgType, m.transactionId]).toEqual([ADVERTISE, 0xc8a3a7])
    const ia = readIaNa(findOption(m.options, OPTION_IA_NA)!)!
    expect([ia.iaid, ia.t1, ia.t2, ia.addresses.map((a) => [formatIpv6(a.address), a.preferredLifetime, a.validLifetime])]).toEqual([0x123456, 7200, 11520, [["fec0::100", 14400, 86400]]])
  })

  it("REQUEST to us binds the offered address; a second client gets the next one; RELEASE frees it; REBIND keeps it", () => {
    const d = new StackDriver()
    send(d, SOLICIT, 1, [option6(OPTION_CLIENTID, CLIENT_ID), iaNaOption(7, 0, 0, [])])
    expect(addressOf(replyOf(d))).toEqual(["fec0::100"])
    send(d, REQUEST, 2, [option6(OPTION_CLIENTID, CLIENT_ID), option6(OPTION_SERVERID, OUR_DUID), iaNaOption(7, 0, 0, [])])
    const r = replyOf(d)
    expect([r.msgType, addressOf(r)]).toEqual([REPLY, ["fec0::100"]])
    expect(d.log).toContain("info: dhcpv6: REQUEST: fec0::100 bound for client 00030001525400123456")
    const other = Uint8Array.of(0, 3, 0, 1, 2, 0, 0, 0, 0, 9)
    send(d, SOLICIT, 3, [option6(OPTION_CLIENTID, other), iaNaOption(1, 0, 0, [])])
    expect(addressOf(replyOf(d))).toEqual(["fec0::101"])
    send(d, REBIND, 4, [option6(OPTION_CLIENTID, CLIENT_ID), iaNaOption(7, 0, 0, [iaAddrOption(a6("fec0::100"), 0, 0)])])
    expect(addressOf(replyOf(d))).toEqual(["fec0::100"])
    send(d, RELEASE, 5, [option6(OPTION_CLIENTID, CLIENT_ID), option6(OPTION_SERVERID, OUR_DUID), iaNaOption(7, 0, 0, [])])
    expect(get16(findOption(replyOf(d).options, OPTION_STATUS_CODE)!, 0)).toBe(0)
    expect(d.state.dhcpv6.bindings.size).toBe(1)
  })

  it("SOLICIT with Rapid Commit gets a REPLY at once, with the option echoed", () => {
    const d = new StackDriver()
    send(d, SOLICIT, 9, [option6(OPTION_CLIENTID, CLIENT_ID), option6(OPTION_RAPID_COMMIT, new Uint8Array(0)), iaNaOption(1, 0, 0, [])])
    const m = replyOf(d)
    expect([m.msgType, findOption(m.options, OPTION_RAPID_COMMIT)?.length, addressOf(m)]).toEqual([REPLY, 0, ["fec0::100"]])
  })

  it("CONFIRM: on link -> Success; an address outside the prefix -> NotOnLink (4)", () => {
    const d = new StackDriver()
    send(d, CONFIRM, 1, [option6(OPTION_CLIENTID, CLIENT_ID), iaNaOption(1, 0, 0, [iaAddrOption(a6("fec0::100"), 0, 0)])])
    expect(get16(findOption(replyOf(d).options, OPTION_STATUS_CODE)!, 0)).toBe(0)
    send(d, CONFIRM, 2, [option6(OPTION_CLIENTID, CLIENT_ID), iaNaOption(1, 0, 0, [iaAddrOption(a6("fd00::100"), 0, 0)])])
    expect(get16(findOption(replyOf(d).options, OPTION_STATUS_CODE)!, 0)).toBe(4)
  })

  it("the pool is bounded: the client past DHCPV6_POOL_MAX gets NoAddrsAvail (2) in its IA", () => {
    const d = new StackDriver()
    for (let i = 0; i <= DHCPV6_POOL_MAX; i++) {
      send(d, SOLICIT, i, [option6(OPTION_CLIENTID, Uint8Array.of(0, 3, 0, 1, 2, 0, 0, 0, i >> 8, i & 0xff)), iaNaOption(1, 0, 0, [])])
      const m = replyOf(d)
      if (i < DHCPV6_POOL_MAX) expect(addressOf(m)).toHaveLength(1)
      else {
        const raw = findOption(m.options, OPTION_IA_NA)!
        expect(readIaNa(raw)!.addresses).toEqual([])
        expect(get16(raw, 16)).toBe(2)
      }
    }
    expect(d.state.dhcpv6.bindings.size).toBe(DHCPV6_POOL_MAX)
  })

  it("dhclient's captured REQUEST names dnsmasq's server id: not ours, dropped without an answer", () => {
    const d = new StackDriver()
    d.frame(golden6("dhcpv6-request"))
    expect(d.framesOut()).toEqual([])
    expect(d.log.some((l) => l.includes("REQUEST for another server dropped"))).toBe(true)
  })

  it("messages without a client id, server messages and random bytes are dropped without throwing (seeded)", () => {
    const d = new StackDriver()
    send(d, SOLICIT, 1, [iaNaOption(1, 0, 0, [])])
    send(d, REPLY, 1, [option6(OPTION_CLIENTID, CLIENT_ID)])
    const r = rng(8415)
    for (let i = 0; i < 300; i++) d.frame(udp6Frame(GUEST6_LL, AGENTS, 546, 547, r.bytes(r.int(0, 120))))
    // Random bytes may form a valid INFORMATION-REQUEST now and then; no other answer may appear.
    for (const f of d.framesOut()) {
      const p = parseDhcpv6(decode6(f).payload.subarray(8))
      expect(p.ok && p.msg.msgType).toBe(REPLY)
    }
    expect(d.log.some((l) => l.includes("SOLICIT without a client id dropped"))).toBe(true)
  })
})
