/**
 * The test DNS server (test/support/dns-server.ts) that the guest runs depend on, checked with
 * Node's own resolver (c-ares) over UDP and with hand-framed DNS over TCP, on 127.0.0.1 only.
 */
import { Resolver } from "node:dns/promises"
import { connect } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { answerQuery, startDnsServer, type DnsQueryEvent, type DnsServer } from "../../support/dns-server.ts"

const RECORDS = { "e2e.tslirp.test": ["192.0.2.77"], "two.tslirp.test": ["192.0.2.1", "192.0.2.2"], "big.tslirp.test": ["192.0.2.9"], "six.tslirp.test": ["2001:db8::77", "192.0.2.6"] }

/** A query for `name` (type A, RD set) with id 0x1234. */
const query = (name: string, qtype = 1): Uint8Array => {
  const labels = name.split(".").flatMap((l) => [l.length, ...Buffer.from(l)])
  return Uint8Array.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, qtype, 0, 1])
}

describe("test DNS server", () => {
  let server: DnsServer
  const seen: DnsQueryEvent[] = []
  const resolver = new Resolver({ timeout: 2_000, tries: 1 })

  beforeAll(async () => {
    server = await startDnsServer({ records: RECORDS, truncateOverUdp: ["big.tslirp.test"], onQuery: (e) => seen.push(e) })
    resolver.setServers([`127.0.0.1:${server.port}`])
  })
  afterAll(async () => {
    await server.close()
  })

  it("answers A records for its names over UDP, case-insensitively", async () => {
    expect(await resolver.resolve4("e2e.tslirp.test")).toEqual(["192.0.2.77"])
    expect((await resolver.resolve4("TWO.tslirp.TEST")).sort()).toEqual(["192.0.2.1", "192.0.2.2"])
    expect(seen.some((e) => e.name === "two.tslirp.test" && e.transport === "udp" && e.answers === 2)).toBe(true)
  })

  it("answers AAAA records with the name's IPv6 addresses, A records with its IPv4 ones", async () => {
    expect(await resolver.resolve6("six.tslirp.test")).toEqual(["2001:db8::77"])
    expect(await resolver.resolve4("six.tslirp.test")).toEqual(["192.0.2.6"])
    expect(seen.some((e) => e.name === "six.tslirp.test" && e.qtype === 28 && e.answers === 1)).toBe(true)
  })

  it("answers NXDOMAIN for other names", async () => {
    await expect(resolver.resolve4("absent.tslirp.test")).rejects.toMatchObject({ code: "ENOTFOUND" })
    expect(seen.some((e) => e.name === "absent.tslirp.test" && e.rcode === 3)).toBe(true)
  })

  it("answers NODATA for other types of a known name (AAAA of a name with only IPv4 addresses)", async () => {
    await expect(resolver.resolve6("e2e.tslirp.test")).rejects.toMatchObject({ code: "ENODATA" })
  })

  it("sets TC over UDP for a truncate-listed name, so the client retries over TCP and gets the answer", async () => {
    expect(await resolver.resolve4("big.tslirp.test")).toEqual(["192.0.2.9"])
    expect(seen.some((e) => e.name === "big.tslirp.test" && e.transport === "udp" && e.truncated)).toBe(true)
    expect(seen.some((e) => e.name === "big.tslirp.test" && e.transport === "tcp" && e.answers === 1)).toBe(true)
  })

  it("serves several length-framed queries on one TCP connection", async () => {
    const socket = connect(server.port, "127.0.0.1")
    const frames = [query("e2e.tslirp.test"), query("absent.tslirp.test")].map((q) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]))
    socket.write(Buffer.concat(frames))
    let received = Buffer.alloc(0)
    const replies = await new Promise<Buffer[]>((resolve, reject) => {
      socket.on("error", reject)
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk])
        const out: Buffer[] = []
        let o = 0
        while (o + 2 <= received.length && o + 2 + received.readUInt16BE(o) <= received.length) {
          out.push(received.subarray(o + 2, o + 2 + received.readUInt16BE(o)))
          o += 2 + received.readUInt16BE(o)
        }
        if (out.length === 2) resolve(out)
      })
    })
    socket.destroy()
    expect(replies.map((r) => r[3]! & 0x0f)).toEqual([0, 3])
    expect([...replies[0]!.subarray(replies[0]!.length - 4)]).toEqual([192, 0, 2, 77])
  })

  it("echoes id, question and RD; sets QR and AA; one answer pointing at the question name", () => {
    const q = query("e2e.tslirp.test")
    const a = answerQuery(q, RECORDS)!
    const r = a.response
    expect([r[0], r[1]]).toEqual([0x12, 0x34])
    expect(r[2]).toBe(0x80 | 0x04 | 0x01)
    expect([r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11]]).toEqual([0, 1, 0, 1, 0, 0, 0, 0])
    expect([...r.subarray(12, q.length)]).toEqual([...q.subarray(12)])
    expect([...r.subarray(q.length, q.length + 2)]).toEqual([0xc0, 0x0c])
  })

  it("drops responses and runts, and answers FORMERR to a truncated question", () => {
    const q = query("e2e.tslirp.test")
    expect(answerQuery(q.subarray(0, 11), RECORDS)).toBeUndefined()
    const response = Uint8Array.from(q)
    response[2] = 0x81
    expect(answerQuery(response, RECORDS)).toBeUndefined()
    const formerr = answerQuery(q.subarray(0, 20), RECORDS)!
    expect(formerr.rcode).toBe(1)
    expect(formerr.response.length).toBe(12)
  })
})
