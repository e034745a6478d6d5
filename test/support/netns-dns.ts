/**
 * A tiny authoritative DNS responder over UDP for the end-to-end tests, so that no test ever
 * uses the host's resolver. It answers A queries for the names in its table (one record each),
 * NOERROR with no answer for other types of a known name (busybox nslookup also asks AAAA),
 * and NXDOMAIN otherwise. Every query it receives is recorded, so a test can prove that a
 * guest's query reached this server on the host.
 *
 * Contract: malformed datagrams are recorded as `malformed` and not answered; the responder
 * never throws on input. `close` releases every socket.
 */
import { createSocket, type Socket } from "node:dgram"

export interface DnsQuerySeen {
  readonly name: string
  readonly qtype: number
  readonly from: string
  readonly local: string
}

export interface DnsResponder {
  /** The bound endpoints as "address:port". */
  readonly endpoints: ReadonlyArray<string>
  readonly queries: ReadonlyArray<DnsQuerySeen>
  readonly malformed: number
  close(): Promise<void>
}

const TYPE_A = 1
const CLASS_IN = 1

/** Read a question name (no compression pointers: questions from stub resolvers have none). */
const readName = (buf: Buffer, start: number): { name: string; end: number } | null => {
  const labels: string[] = []
  let at = start
  for (;;) {
    if (at >= buf.length) return null
    const len = buf[at] ?? 0
    if (len === 0) return { name: labels.join("."), end: at + 1 }
    if (len > 63 || at + 1 + len > buf.length) return null
    labels.push(buf.subarray(at + 1, at + 1 + len).toString("latin1"))
    at += 1 + len
  }
}

const answer = (query: Buffer, qEnd: number, rcode: number, address: string | null): Buffer => {
  const question = query.subarray(12, qEnd)
  const header = Buffer.alloc(12)
  header.writeUInt16BE(query.readUInt16BE(0), 0) // ID
  const rd = query.readUInt16BE(2) & 0x0100
  header.writeUInt16BE(0x8000 | 0x0400 | rd | rcode, 2) // QR, AA, RD copied, RCODE
  header.writeUInt16BE(1, 4) // QDCOUNT
  header.writeUInt16BE(address === null ? 0 : 1, 6) // ANCOUNT
  if (address === null) return Buffer.concat([header, question])
  const rr = Buffer.alloc(16)
  rr.writeUInt16BE(0xc00c, 0) // name: pointer to the question's name at offset 12
  rr.writeUInt16BE(TYPE_A, 2)
  rr.writeUInt16BE(CLASS_IN, 4)
  rr.writeUInt32BE(60, 6) // TTL
  rr.writeUInt16BE(4, 10)
  address.split(".").forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i))
  return Buffer.concat([header, question, rr])
}

/** Bind one UDP socket per `bind` entry ({host, port}; port 0 picks one). */
export const startDnsResponder = async (
  records: Readonly<Record<string, string>>,
  binds: ReadonlyArray<{ readonly host: string; readonly port: number }>,
): Promise<DnsResponder> => {
  const queries: DnsQuerySeen[] = []
  let malformed = 0
  const sockets: Socket[] = []
  const endpoints: string[] = []
  const table = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v]))
  for (const bind of binds) {
    const socket = createSocket("udp4")
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject)
      socket.bind(bind.port, bind.host, () => {
        socket.off("error", reject)
        resolve()
      })
    })
    const local = `${socket.address().address}:${socket.address().port}`
    endpoints.push(local)
    sockets.push(socket)
    socket.on("message", (msg, rinfo) => {
      const from = `${rinfo.address}:${rinfo.port}`
      if (msg.length < 12 || (msg.readUInt16BE(2) & 0x8000) !== 0 || msg.readUInt16BE(4) !== 1) {
        malformed += 1
        return
      }
      const q = readName(msg, 12)
      if (q === null || q.end + 4 > msg.length) {
        malformed += 1
        return
      }
      const qtype = msg.readUInt16BE(q.end)
      queries.push({ name: q.name, qtype, from, local })
      const address = table.get(q.name.toLowerCase())
      const reply =
        address === undefined
          ? answer(msg, q.end + 4, 3, null) // NXDOMAIN
          : answer(msg, q.end + 4, 0, qtype === TYPE_A ? address : null)
      socket.send(reply, rinfo.port, rinfo.address)
    })
  }
  return {
    endpoints,
    queries,
    get malformed() {
      return malformed
    },
    close: async () => {
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    },
  }
}
