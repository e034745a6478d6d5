import { describe, expect, it } from "vitest"
import { golden6 } from "../../golden/ipv6/golden6.ts"
import {
  ADVERTISE,
  INFORMATION_REQUEST,
  OPTION_CLIENTID,
  OPTION_DNS_SERVERS,
  OPTION_DOMAIN_LIST,
  OPTION_IA_NA,
  OPTION_INFORMATION_REFRESH_TIME,
  OPTION_ORO,
  OPTION_PREFERENCE,
  OPTION_SERVERID,
  REPLY,
  SOLICIT,
  STATUS_SUCCESS,
  dnsServersOption,
  domainListOption,
  emitDhcpv6,
  findOption,
  iaAddrOption,
  iaNaOption,
  option6,
  parseDhcpv6,
  readDomainList,
  readIaNa,
  readOro,
  statusOption,
  u32Option,
} from "../../../src/protocol/dhcpv6/wire.ts"
import { parseIpv6Header } from "../../../src/protocol/ipv6/wire.ts"
import { toHex } from "../../../src/protocol/wire/bytes.ts"
import { formatIpv6, parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { rng } from "../wire/prng.ts"

/** The DHCPv6 message of a captured frame (after the 8-byte UDP header). */
const dhcpIn = (name: string) => {
  const f = golden6(name)
  const p = parseIpv6Header(f, 14)
  if (!p.ok) throw new Error(p.reason)
  const bytes = f.subarray(p.ip.upperOffset + 8, p.ip.upperOffset + p.ip.upperLength)
  const m = parseDhcpv6(bytes)
  if (!m.ok) throw new Error(m.reason)
  return { bytes, msg: m.msg }
}

// Expected values from test/golden/ipv6/decoded.txt (tshark -V).
describe("dhcpv6 wire (golden)", () => {
  it("dhclient's solicit: txid 0xc8a3a7, DUID-LLT, ORO 23 24 39, IA_NA 0x00123456 T1 3600 T2 5400", () => {
    const { msg } = dhcpIn("dhcpv6-solicit")
    expect([msg.msgType, msg.transactionId]).toEqual([SOLICIT, 0xc8a3a7])
    expect(toHex(findOption(msg.options, OPTION_CLIENTID)!)).toBe("0001000132a8979a525400123456")
    expect(readOro(findOption(msg.options, OPTION_ORO)!)).toEqual([23, 24, 39, 31])
    expect(readIaNa(findOption(msg.options, OPTION_IA_NA)!)).toEqual({ iaid: 0x123456, t1: 3600, t2: 5400, addresses: [] })
  })

  it("dnsmasq's advertise is rebuilt byte for byte from its fields with the option builders", () => {
    const { bytes, msg } = dhcpIn("dhcpv6-advertise")
    expect(msg.msgType).toBe(ADVERTISE)
    const ia = readIaNa(findOption(msg.options, OPTION_IA_NA)!)!
    expect([ia.iaid, ia.t1, ia.t2, formatIpv6(ia.addresses[0]!.address), ia.addresses[0]!.preferredLifetime, ia.addresses[0]!.validLifetime]).toEqual([0x123456, 1800, 3150, "fec0::1c7", 3600, 3600])
    expect(readDomainList(findOption(msg.options, OPTION_DOMAIN_LIST)!)).toEqual(["example.test"])
    const mine = emitDhcpv6(ADVERTISE, msg.transactionId, [
      option6(OPTION_CLIENTID, findOption(msg.options, OPTION_CLIENTID)!),
      option6(OPTION_SERVERID, findOption(msg.options, OPTION_SERVERID)!),
      // dnsmasq puts its status code after the IA_NA, at the top level (IA_NA length 40).
      iaNaOption(0x123456, 1800, 3150, [iaAddrOption(parseIpv6("fec0::1c7")!, 3600, 3600)]),
      statusOption(STATUS_SUCCESS, "success"),
      option6(OPTION_PREFERENCE, Uint8Array.of(0)),
      domainListOption(["example.test"])!,
      dnsServersOption([parseIpv6("fec0::3")!]),
    ])
    expect(toHex(mine)).toBe(toHex(bytes))
  })

  it("information request (type 11, DUID-LL) and its reply with DNS fec0::3, domain list and refresh time 3600", () => {
    const ir = dhcpIn("dhcpv6-information-request").msg
    expect([ir.msgType, ir.transactionId]).toEqual([INFORMATION_REQUEST, 0x7b23c6])
    expect(findOption(ir.options, OPTION_IA_NA)).toBeUndefined()
    const { bytes, msg } = dhcpIn("dhcpv6-info-reply")
    expect(msg.msgType).toBe(REPLY)
    expect(formatIpv6(findOption(msg.options, OPTION_DNS_SERVERS)!)).toBe("fec0::3")
    const mine = emitDhcpv6(REPLY, ir.transactionId, [
      option6(OPTION_CLIENTID, findOption(ir.options, OPTION_CLIENTID)!),
      option6(OPTION_SERVERID, findOption(msg.options, OPTION_SERVERID)!),
      domainListOption(["example.test"])!,
      dnsServersOption([parseIpv6("fec0::3")!]),
      u32Option(OPTION_INFORMATION_REFRESH_TIME, 3600),
    ])
    expect(toHex(mine)).toBe(toHex(bytes))
  })

  it("options running past the message, truncated headers and random bytes are refused without throwing", () => {
    expect(parseDhcpv6(Uint8Array.of(1, 0, 0, 1, 0, 1, 0, 9, 1)).ok).toBe(false)
    expect(parseDhcpv6(Uint8Array.of(1, 0, 0)).ok).toBe(false)
    expect(readIaNa(new Uint8Array(11))).toBeUndefined()
    const r = rng(8415)
    for (let i = 0; i < 2000; i++) {
      const b = r.bytes(r.int(0, 80))
      expect(() => {
        const p = parseDhcpv6(b)
        if (p.ok) for (const o of p.msg.options) o.code === OPTION_IA_NA ? readIaNa(o.data) : readDomainList(o.data)
      }).not.toThrow()
    }
  })
})
