/**
 * A tiny authoritative DNS server for tests, over UDP and TCP (RFC 1035 §4.2), so that no test
 * ever asks the nameserver of /etc/resolv.conf.
 *
 * It answers class-IN questions for the names it is given: A records (the table's IPv4
 * addresses) and AAAA records (its IPv6 addresses) from the table, NOERROR with no answer
 * (NODATA) for other types of a known name, NXDOMAIN for unknown names, FORMERR
 * for anything it cannot parse (when at least a header is there), and nothing at all for
 * shorter junk. Names compare case-insensitively. A name listed in `truncateOverUdp` gets an
 * empty answer with TC set over UDP, so the client retries over TCP (RFC 7766), which is how a
 * test checks the TCP path. Every query is reported through `onQuery`.
 *
 * Written for tests: the parser checks every length, but the server makes no attempt at
 * anything a real nameserver needs (compression on input, EDNS, rate limits).
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram"
import { createServer, isIPv4, isIPv6, type Server, type Socket as TcpSocket } from "node:net"

/** The 16 bytes of an IPv6 address in text (test input: `::` expanded, no IPv4 tail). */
const ipv6Bytes = (text: string): Uint8Array => {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined]
  const words = (part: string | undefined) => (part === undefined || part === "" ? [] : part.split(":").map((w) => parseInt(w, 16)))
  const h = words(head)
  const t = words(tail)
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t]
  return Uint8Array.from(all.flatMap((w) => [w >> 8, w & 0xff]))
}

export interface DnsRecords {
  /** Lower-case name without the final dot -> addresses: dotted quads for A queries, IPv6 text for AAAA queries. */
  readonly [name: string]: ReadonlyArray<string>
}

export interface DnsQueryEvent {
  readonly transport: "udp" | "tcp"
  readonly from: string
  readonly name: string
  readonly qtype: number
  readonly rcode: number
  readonly answers: number
  readonly truncated: boolean
}

export interface DnsServerOptions {
  readonly host?: string
  /** 0 (the default) picks a free port; UDP and TCP always share the port. */
  readonly port?: number
  readonly records: DnsRecords
  readonly truncateOverUdp?: ReadonlyArray<string>
  readonly onQuery?: (event: DnsQueryEvent) => void
}

export interface DnsServer {
  readonly host: string
  readonly port: number
  readonly close: () => Promise<void>
}

export const DNS_TYPE_A = 1
export const DNS_TYPE_AAAA = 28
const CLASS_IN = 1
const RCODE_NOERROR = 0
const RCODE_FORMERR = 1
const RCODE_NXDOMAIN = 3
const HEADER_LEN = 12
const TTL_S = 60

export interface DnsAnswer {
  readonly response: Uint8Array
  readonly name: string
  readonly qtype: number
  readonly rcode: number
  readonly answers: number
  readonly truncated: boolean
}

interface Question {
  readonly name: string
  readonly qtype: number
  readonly qclass: number
  /** Offset just past the question in the query. */
  readonly end: number
}

/** The first question of a query, or undefined if it is malformed (labels only, no pointers). */
const parseQuestion = (q: Uint8Array): Question | undefined => {
  const labels: string[] = []
  let o = HEADER_LEN
  for (;;) {
    if (o >= q.length) return undefined
    const len = q[o]!
    o += 1
    if (len === 0) break
    if (len > 63 || o + len > q.length) return undefined
    labels.push(Buffer.from(q.subarray(o, o + len)).toString("latin1").toLowerCase())
    o += len
  }
  if (o + 4 > q.length) return undefined
  const qtype = (q[o]! << 8) | q[o + 1]!
  const qclass = (q[o + 2]! << 8) | q[o + 3]!
  return { name: labels.join("."), qtype, qclass, end: o + 4 }
}

/**
 * The response to one query message, or undefined when it is not worth answering (shorter
 * than a header, or itself a response). Pure: the same bytes give the same answer.
 */
export const answerQuery = (
  query: Uint8Array,
  records: DnsRecords,
  options: { readonly truncate?: boolean } = {},
): DnsAnswer | undefined => {
  if (query.length < HEADER_LEN) return undefined
  if ((query[2]! & 0x80) !== 0) return undefined
  const qdcount = (query[4]! << 8) | query[5]!
  const question = qdcount === 1 ? parseQuestion(query) : undefined
  const rd = query[2]! & 0x01
  const opcode = (query[2]! >> 3) & 0x0f
  if (question === undefined || opcode !== 0) {
    const response = new Uint8Array(HEADER_LEN)
    response.set(query.subarray(0, 2), 0)
    response[2] = 0x80 | (opcode << 3) | rd
    response[3] = RCODE_FORMERR
    return { response, name: question?.name ?? "", qtype: question?.qtype ?? 0, rcode: RCODE_FORMERR, answers: 0, truncated: false }
  }
  const addresses = Object.hasOwn(records, question.name) ? records[question.name]! : undefined
  const rcode = addresses === undefined ? RCODE_NXDOMAIN : RCODE_NOERROR
  const truncated = options.truncate === true && addresses !== undefined
  const answerable = question.qclass === CLASS_IN && (question.qtype === DNS_TYPE_A || question.qtype === DNS_TYPE_AAAA) && !truncated
  const wanted = (a: string) => (question.qtype === DNS_TYPE_AAAA ? isIPv6(a) : isIPv4(a))
  const answers = answerable && addresses !== undefined ? addresses.filter(wanted) : []
  const rdata = answers.map((a) => (isIPv6(a) ? ipv6Bytes(a) : Uint8Array.from(a.split(".").map(Number))))

  const questionBytes = query.subarray(HEADER_LEN, question.end)
  const response = new Uint8Array(HEADER_LEN + questionBytes.length + rdata.reduce((n, r) => n + 12 + r.length, 0))
  response.set(query.subarray(0, 2), 0) // id
  response[2] = 0x80 | 0x04 | (truncated ? 0x02 : 0) | rd // QR, AA, TC, RD echoed
  response[3] = rcode // RA = 0: we are authoritative, not recursive
  response[5] = 1 // qdcount
  response[7] = answers.length // ancount (tests use a handful)
  response.set(questionBytes, HEADER_LEN)
  let o = HEADER_LEN + questionBytes.length
  for (const r of rdata) {
    response.set([0xc0, HEADER_LEN, 0, question.qtype, 0, CLASS_IN, 0, 0, 0, TTL_S, 0, r.length], o) // name = pointer to the question
    response.set(r, o + 12)
    o += 12 + r.length
  }
  return { response, name: question.name, qtype: question.qtype, rcode, answers: answers.length, truncated }
}

const normalise = (records: DnsRecords): DnsRecords =>
  Object.fromEntries(Object.entries(records).map(([name, a]) => [name.toLowerCase().replace(/\.$/, ""), a]))

const listenUdp = (host: string, port: number): Promise<UdpSocket> =>
  new Promise((resolve, reject) => {
    const socket = createSocket("udp4")
    socket.once("error", reject)
    socket.bind(port, host, () => {
      socket.off("error", reject)
      resolve(socket)
    })
  })

const listenTcp = (host: string, port: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve(server)
    })
  })

/** Serve DNS-over-TCP framing (2-byte length, then the message) on one connection. */
const serveTcpConnection = (socket: TcpSocket, respond: (q: Uint8Array, from: string) => Uint8Array | undefined): void => {
  let pending: Buffer = Buffer.alloc(0)
  const from = `${socket.remoteAddress}:${socket.remotePort}`
  socket.on("error", () => socket.destroy())
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk])
    while (pending.length >= 2) {
      const len = pending.readUInt16BE(0)
      if (pending.length < 2 + len) break
      const message = pending.subarray(2, 2 + len)
      pending = pending.subarray(2 + len)
      const response = respond(message, from)
      if (response === undefined) continue
      const framed = Buffer.alloc(2 + response.length)
      framed.writeUInt16BE(response.length, 0)
      framed.set(response, 2)
      socket.write(framed)
    }
  })
}

export const startDnsServer = async (options: DnsServerOptions): Promise<DnsServer> => {
  const host = options.host ?? "127.0.0.1"
  const records = normalise(options.records)
  const truncate = new Set((options.truncateOverUdp ?? []).map((n) => n.toLowerCase().replace(/\.$/, "")))

  const respond = (transport: "udp" | "tcp") => (query: Uint8Array, from: string): Uint8Array | undefined => {
    const name = query.length >= HEADER_LEN ? parseQuestion(query)?.name : undefined
    const answer = answerQuery(query, records, { truncate: transport === "udp" && name !== undefined && truncate.has(name) })
    if (answer === undefined) return undefined
    options.onQuery?.({ transport, from, name: answer.name, qtype: answer.qtype, rcode: answer.rcode, answers: answer.answers, truncated: answer.truncated })
    return answer.response
  }

  // UDP first (port 0 picks one), then TCP on the same number; retry if TCP finds it taken.
  for (let attempt = 0; ; attempt++) {
    const udp = await listenUdp(host, options.port ?? 0)
    const port = udp.address().port
    let tcp: Server
    try {
      tcp = await listenTcp(host, port)
    } catch (error) {
      udp.close()
      if ((options.port ?? 0) !== 0 || attempt >= 5) throw error
      continue
    }
    const udpRespond = respond("udp")
    udp.on("message", (message, rinfo) => {
      const response = udpRespond(message, `${rinfo.address}:${rinfo.port}`)
      if (response !== undefined) udp.send(response, rinfo.port, rinfo.address)
    })
    const connections = new Set<TcpSocket>()
    tcp.on("connection", (socket) => {
      connections.add(socket)
      socket.on("close", () => connections.delete(socket))
      serveTcpConnection(socket, respond("tcp"))
    })
    const close = (): Promise<void> =>
      new Promise((resolve) => {
        for (const socket of connections) socket.destroy()
        udp.close(() => tcp.close(() => resolve()))
      })
    return { host, port, close }
  }
}
