import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import {
  DNS_HEADER_LEN,
  parseDnsHeader,
  parseDnsQuery,
  parseQuestion,
  qtypeName,
  sameQuestion,
  setDnsId,
  writeDnsHeader,
} from "../../../src/protocol/dns/wire.ts"
import { fromHex } from "../../../src/protocol/wire/bytes.ts"

const golden = (name: string): Uint8Array => fromHex(readFileSync(new URL(`../../golden/dns/${name}.hex`, import.meta.url), "utf8"))

describe("DNS header and question, golden bytes from busybox nslookup against dnsmasq", () => {
  const query = golden("nslookup-01-query-type1")
  const answer = golden("nslookup-03-response-type1")
  const aaaaAnswer = golden("nslookup-04-response-type28")

  it("query: id, RD, one question golden.test A IN", () => {
    expect(parseDnsHeader(query)).toEqual({
      id: (query[0]! << 8) | query[1]!, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0,
      qdcount: 1, ancount: 0, nscount: 0, arcount: 0,
    })
    expect(parseQuestion(query, DNS_HEADER_LEN)).toEqual({ name: "golden.test", qtype: 1, qclass: 1, next: query.length })
  })

  it("response: QR, AA, RA, one answer; matches the query by id and question", () => {
    const h = parseDnsHeader(answer)!
    expect([h.qr, h.aa, h.rd, h.ra, h.rcode, h.ancount]).toEqual([true, true, true, true, 0, 1])
    const q = parseDnsQuery(query)!
    const a = parseDnsQuery(answer)!
    expect(a.header.id).toBe(q.header.id)
    expect(sameQuestion(a.question, q.question)).toBe(true)
    // The answer's owner name is a compression pointer to the question (offset 12).
    expect(answer[a.question.next]).toBe(0xc0)
    expect(answer[a.question.next + 1]).toBe(12)
  })

  it("the AAAA response carries dnsmasq's rcode and does not match the A query", () => {
    const a = parseDnsQuery(aaaaAnswer)!
    expect(qtypeName(a.question.qtype)).toBe("AAAA")
    expect(a.header.rcode).toBe(5)
    expect(sameQuestion(a.question, parseDnsQuery(query)!.question)).toBe(false)
  })

  it("writeDnsHeader is the inverse of parseDnsHeader", () => {
    const b = new Uint8Array(DNS_HEADER_LEN)
    const h = parseDnsHeader(answer)!
    writeDnsHeader(b, h)
    expect(b).toEqual(answer.subarray(0, DNS_HEADER_LEN))
    setDnsId(b, 0xbeef)
    expect(parseDnsHeader(b)!.id).toBe(0xbeef)
  })

  it("names compare case-insensitively", () => {
    const q = parseDnsQuery(query)!.question
    expect(sameQuestion(q, { ...q, name: "GOLDEN.Test" })).toBe(true)
  })

  it("malformed: short header, no question, truncated question", () => {
    expect(parseDnsHeader(query.subarray(0, 11))).toBeUndefined()
    expect(parseDnsQuery(query.subarray(0, DNS_HEADER_LEN))).toBeUndefined()
    expect(parseDnsQuery(query.subarray(0, query.length - 1))).toBeUndefined()
    const noQ = query.slice(0, DNS_HEADER_LEN)
    noQ[5] = 0
    expect(parseDnsQuery(noQ)).toBeUndefined()
  })
})
