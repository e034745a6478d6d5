/**
 * BOOTP/DHCP messages (RFC 951, RFC 2131 §2, RFC 2132 options). `parseDhcp` checks the fixed
 * part once, walks the options (field, then `file`, then `sname` when option 52 overloads them,
 * RFC 2131 §4.1), joins repeated instances of a code (RFC 3396 §7) and decodes every option the
 * server reads or sends, checking its length. It never throws: malformed input gives
 * `{ok:false, reason}`. Values seen once stay views into the input; only joined ones are copied.
 *
 * `emitDhcp` builds a message from a small record: options longer than 255 octets are split
 * into consecutive instances (RFC 3396 §5); options that would push the message past
 * `maxLength` are left out and reported, never truncated.
 */
import { decodeDomainSearch } from "../dns/name.ts"
import { get16, get32, put16, put32 } from "../wire/bytes.ts"
import type { Ipv4 } from "../wire/ipv4-address.ts"

export const DHCP_SERVER_PORT = 67
export const DHCP_CLIENT_PORT = 68

export const BOOTREQUEST = 1
export const BOOTREPLY = 2
export const HTYPE_ETHERNET = 1

/** RFC 2131 §2: the fixed part is 236 octets, then the 4-octet magic cookie. */
export const DHCP_FIXED_LEN = 236
export const DHCP_OPTIONS_OFFSET = 240
export const DHCP_MAGIC_COOKIE = 0x63825363
/** RFC 951 (vend is 64 octets): old BOOTP relays and clients drop shorter messages. */
export const BOOTP_MIN_LEN = 300
/** RFC 2131 §2: a client must accept a 576-octet datagram, i.e. 548 octets of DHCP message. */
export const DHCP_DEFAULT_MAX_LEN = 576 - 28
export const BROADCAST_FLAG = 0x8000

const O = {
  op: 0,
  htype: 1,
  hlen: 2,
  hops: 3,
  xid: 4,
  secs: 8,
  flags: 10,
  ciaddr: 12,
  yiaddr: 16,
  siaddr: 20,
  giaddr: 24,
  chaddr: 28,
  sname: 44,
  file: 108,
  cookie: 236,
} as const
const CHADDR_LEN = 16
export const SNAME_LEN = 64
export const FILE_LEN = 128

/** RFC 2132 option codes we read or send. */
export const OPT = {
  pad: 0,
  subnetMask: 1,
  router: 3,
  dnsServer: 6,
  hostname: 12,
  domainName: 15,
  interfaceMtu: 26,
  broadcastAddress: 28,
  requestedIp: 50,
  leaseTime: 51,
  overload: 52,
  messageType: 53,
  serverId: 54,
  parameterRequestList: 55,
  message: 56,
  maxMessageSize: 57,
  renewalTime: 58,
  rebindingTime: 59,
  clientId: 61,
  tftpServerName: 66,
  bootfileName: 67,
  domainSearch: 119,
  end: 255,
} as const

/** RFC 2132 §9.6 message types. */
export const DHCPDISCOVER = 1
export const DHCPOFFER = 2
export const DHCPREQUEST = 3
export const DHCPDECLINE = 4
export const DHCPACK = 5
export const DHCPNAK = 6
export const DHCPRELEASE = 7
export const DHCPINFORM = 8

export const messageTypeName = (t: number | undefined): string =>
  t === undefined
    ? "BOOTP"
    : (["?", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"][t] ?? `type ${t}`)

/** The options the stack understands, decoded; anything else stays in `DhcpMessage.options` only. */
export interface DhcpOptions {
  readonly messageType?: number
  readonly requestedIp?: Ipv4
  readonly serverId?: Ipv4
  readonly leaseTime?: number
  readonly renewalTime?: number
  readonly rebindingTime?: number
  readonly subnetMask?: Ipv4
  readonly routers?: ReadonlyArray<Ipv4>
  readonly dnsServers?: ReadonlyArray<Ipv4>
  readonly hostname?: string
  readonly domainName?: string
  readonly domainSearch?: ReadonlyArray<string>
  readonly interfaceMtu?: number
  readonly broadcastAddress?: Ipv4
  readonly parameterRequestList?: ReadonlyArray<number>
  readonly message?: string
  readonly maxMessageSize?: number
  readonly clientId?: Uint8Array
  readonly tftpServerName?: string
  readonly bootfileName?: string
  /** 1 file, 2 sname, 3 both (RFC 2132 §9.3). */
  readonly overload?: number
}

export interface DhcpMessage {
  readonly op: number
  readonly htype: number
  readonly hlen: number
  readonly hops: number
  readonly xid: number
  readonly secs: number
  readonly flags: number
  /** RFC 2131 §4.1: the client cannot receive unicast before it has an address. */
  readonly broadcast: boolean
  readonly ciaddr: Ipv4
  readonly yiaddr: Ipv4
  readonly siaddr: Ipv4
  readonly giaddr: Ipv4
  /** The first `hlen` (at most 16) octets of chaddr: a view. */
  readonly chaddr: Uint8Array
  /** The NUL-terminated strings of sname/file, undefined when option 52 uses the field for options. */
  readonly sname: string | undefined
  readonly file: string | undefined
  /** False for a plain BOOTP message without the RFC 1497 magic cookie (it then has no options). */
  readonly hasCookie: boolean
  /** Every option by code, repeated instances joined (RFC 3396). */
  readonly options: ReadonlyMap<number, Uint8Array>
  readonly opts: DhcpOptions
}

export type DhcpParse = { readonly ok: true; readonly msg: DhcpMessage } | { readonly ok: false; readonly reason: string }

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason: `dhcp: ${reason}` })

/** A NUL-terminated (or field-filling) string; bytes are taken as UTF-8, invalid ones replaced. */
const cString = (b: Uint8Array): string => {
  const nul = b.indexOf(0)
  return new TextDecoder().decode(nul === -1 ? b : b.subarray(0, nul))
}

/** Walks one options area; appends instances to `acc` in order. Returns an error reason or undefined. */
const walkOptions = (b: Uint8Array, where: string, acc: Array<readonly [number, Uint8Array]>): string | undefined => {
  let p = 0
  while (p < b.length) {
    const code = b[p]!
    if (code === OPT.pad) {
      p++
      continue
    }
    if (code === OPT.end) return undefined
    if (p + 1 >= b.length) return `option ${code} in ${where} has no length`
    const len = b[p + 1]!
    if (p + 2 + len > b.length) return `option ${code} in ${where} runs past the end (${len} octets)`
    acc.push([code, b.subarray(p + 2, p + 2 + len)])
    p += 2 + len
  }
  // A missing END is tolerated: the area's end closes it.
  return undefined
}

/** RFC 3396 §7: instances of one code are concatenated in the order they appear. */
const joinInstances = (instances: ReadonlyArray<readonly [number, Uint8Array]>): Map<number, Uint8Array> => {
  const parts = new Map<number, Array<Uint8Array>>()
  for (const [code, v] of instances) {
    const list = parts.get(code)
    if (list === undefined) parts.set(code, [v])
    else list.push(v)
  }
  const out = new Map<number, Uint8Array>()
  for (const [code, list] of parts) {
    if (list.length === 1) {
      out.set(code, list[0]!)
      continue
    }
    const joined = new Uint8Array(list.reduce((n, v) => n + v.length, 0))
    let o = 0
    for (const v of list) {
      joined.set(v, o)
      o += v.length
    }
    out.set(code, joined)
  }
  return out
}

type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string }

const decodeOptions = (options: ReadonlyMap<number, Uint8Array>): Decoded<DhcpOptions> => {
  const out: { -readonly [K in keyof DhcpOptions]: DhcpOptions[K] } = {}
  for (const [code, v] of options) {
    const bad = (what: string): Decoded<DhcpOptions> => ({ ok: false, reason: `option ${code}: ${what} (${v.length} octets)` })
    switch (code) {
      case OPT.messageType:
      case OPT.overload:
        if (v.length !== 1) return bad("length must be 1")
        if (code === OPT.messageType) out.messageType = v[0]!
        else out.overload = v[0]!
        break
      case OPT.interfaceMtu:
      case OPT.maxMessageSize:
        if (v.length !== 2) return bad("length must be 2")
        if (code === OPT.interfaceMtu) out.interfaceMtu = get16(v, 0)
        else out.maxMessageSize = get16(v, 0)
        break
      case OPT.requestedIp:
      case OPT.serverId:
      case OPT.subnetMask:
      case OPT.broadcastAddress:
      case OPT.leaseTime:
      case OPT.renewalTime:
      case OPT.rebindingTime: {
        if (v.length !== 4) return bad("length must be 4")
        const x = get32(v, 0)
        if (code === OPT.requestedIp) out.requestedIp = x
        else if (code === OPT.serverId) out.serverId = x
        else if (code === OPT.subnetMask) out.subnetMask = x
        else if (code === OPT.broadcastAddress) out.broadcastAddress = x
        else if (code === OPT.leaseTime) out.leaseTime = x
        else if (code === OPT.renewalTime) out.renewalTime = x
        else out.rebindingTime = x
        break
      }
      case OPT.router:
      case OPT.dnsServer: {
        if (v.length === 0 || v.length % 4 !== 0) return bad("length must be a positive multiple of 4")
        const list: Array<Ipv4> = []
        for (let i = 0; i < v.length; i += 4) list.push(get32(v, i))
        if (code === OPT.router) out.routers = list
        else out.dnsServers = list
        break
      }
      case OPT.hostname:
      case OPT.domainName:
      case OPT.message:
      case OPT.tftpServerName:
      case OPT.bootfileName: {
        if (v.length === 0) return bad("must not be empty")
        const s = cString(v)
        if (code === OPT.hostname) out.hostname = s
        else if (code === OPT.domainName) out.domainName = s
        else if (code === OPT.message) out.message = s
        else if (code === OPT.tftpServerName) out.tftpServerName = s
        else out.bootfileName = s
        break
      }
      case OPT.parameterRequestList:
        if (v.length === 0) return bad("must not be empty")
        out.parameterRequestList = Array.from(v)
        break
      case OPT.clientId:
        if (v.length < 2) return bad("must be at least 2 octets")
        out.clientId = v
        break
      case OPT.domainSearch: {
        const names = decodeDomainSearch(v)
        if (names === undefined) return bad("bad RFC 3397 name list")
        out.domainSearch = names
        break
      }
      default:
        break
    }
  }
  return { ok: true, value: out }
}

/** Parses the UDP payload of a BOOTP/DHCP message. */
export const parseDhcp = (b: Uint8Array): DhcpParse => {
  if (b.length < DHCP_FIXED_LEN) return fail(`truncated (${b.length} octets)`)
  const hlen = b[O.hlen]!
  if (hlen > CHADDR_LEN) return fail(`hlen ${hlen} exceeds chaddr`)
  const hasCookie = b.length >= DHCP_OPTIONS_OFFSET && get32(b, O.cookie) === DHCP_MAGIC_COOKIE
  const instances: Array<readonly [number, Uint8Array]> = []
  let overload = 0
  if (hasCookie) {
    const err = walkOptions(b.subarray(DHCP_OPTIONS_OFFSET), "options", instances)
    if (err !== undefined) return fail(err)
    // RFC 2131 §4.1: option 52 only counts in the options field; file is read before sname.
    const ov = instances.find(([c]) => c === OPT.overload)
    if (ov !== undefined) {
      if (ov[1].length !== 1 || ov[1][0]! < 1 || ov[1][0]! > 3) return fail("option 52 must be 1, 2 or 3")
      overload = ov[1][0]!
      const more: Array<readonly [number, Uint8Array]> = []
      if (overload & 1) {
        const e = walkOptions(b.subarray(O.file, O.file + FILE_LEN), "file", more)
        if (e !== undefined) return fail(e)
      }
      if (overload & 2) {
        const e = walkOptions(b.subarray(O.sname, O.sname + SNAME_LEN), "sname", more)
        if (e !== undefined) return fail(e)
      }
      for (const m of more) if (m[0] !== OPT.overload) instances.push(m)
    }
  }
  const options = joinInstances(instances)
  const decoded = decodeOptions(options)
  if (!decoded.ok) return fail(decoded.reason)
  const flags = get16(b, O.flags)
  return {
    ok: true,
    msg: {
      op: b[O.op]!,
      htype: b[O.htype]!,
      hlen,
      hops: b[O.hops]!,
      xid: get32(b, O.xid),
      secs: get16(b, O.secs),
      flags,
      broadcast: (flags & BROADCAST_FLAG) !== 0,
      ciaddr: get32(b, O.ciaddr),
      yiaddr: get32(b, O.yiaddr),
      siaddr: get32(b, O.siaddr),
      giaddr: get32(b, O.giaddr),
      chaddr: b.subarray(O.chaddr, O.chaddr + hlen),
      sname: overload & 2 ? undefined : cString(b.subarray(O.sname, O.sname + SNAME_LEN)),
      file: overload & 1 ? undefined : cString(b.subarray(O.file, O.file + FILE_LEN)),
      hasCookie,
      options,
      opts: decoded.value,
    },
  }
}

// ---- emitting ----

/** Option value encoders, so every option is built the same way. */
export const optU8 = (x: number): Uint8Array => new Uint8Array([x & 0xff])
export const optU16 = (x: number): Uint8Array => {
  const v = new Uint8Array(2)
  put16(v, 0, x)
  return v
}
export const optU32 = (x: number): Uint8Array => {
  const v = new Uint8Array(4)
  put32(v, 0, x)
  return v
}
export const optIpv4 = optU32
export const optIpv4List = (xs: ReadonlyArray<Ipv4>): Uint8Array => {
  const v = new Uint8Array(4 * xs.length)
  xs.forEach((x, i) => put32(v, 4 * i, x))
  return v
}
export const optString = (s: string): Uint8Array => new TextEncoder().encode(s)

export interface DhcpEmit {
  readonly op: number
  readonly xid: number
  readonly secs?: number
  readonly flags?: number
  readonly hops?: number
  readonly ciaddr?: Ipv4
  readonly yiaddr?: Ipv4
  readonly siaddr?: Ipv4
  readonly giaddr?: Ipv4
  readonly htype?: number
  /** Hardware address; `hlen` is its length (at most 16). */
  readonly chaddr: Uint8Array
  /** Written NUL-terminated if it fits (63 / 127 octets), else left empty and reported. */
  readonly sname?: string
  readonly file?: string
  /** In the order to send; message type first by convention (RFC 2131 §4.1 needs no order, some clients do). */
  readonly options: ReadonlyArray<readonly [number, Uint8Array]>
  /** Upper bound of the whole message; default 548 (RFC 2131 §2). */
  readonly maxLength?: number
  /** Zero padding up to this size; default 300 (RFC 951). */
  readonly minLength?: number
}

export interface DhcpEmitted {
  readonly bytes: Uint8Array
  /** Option codes (and "sname"/"file") that did not fit and were left out. */
  readonly omitted: ReadonlyArray<number | "sname" | "file">
}

/** Octets an option occupies after RFC 3396 splitting. */
const encodedLength = (v: Uint8Array): number => v.length + 2 * Math.max(1, Math.ceil(v.length / 255))

export const emitDhcp = (m: DhcpEmit): DhcpEmitted => {
  const maxLength = Math.max(m.maxLength ?? DHCP_DEFAULT_MAX_LEN, DHCP_OPTIONS_OFFSET + 1)
  const omitted: Array<number | "sname" | "file"> = []
  const kept: Array<readonly [number, Uint8Array]> = []
  let used = DHCP_OPTIONS_OFFSET + 1 // the END option
  for (const [code, v] of m.options) {
    const n = encodedLength(v)
    if (used + n > maxLength) omitted.push(code)
    else {
      kept.push([code, v])
      used += n
    }
  }
  const b = new Uint8Array(Math.max(used, m.minLength ?? BOOTP_MIN_LEN))
  const hlen = Math.min(m.chaddr.length, CHADDR_LEN)
  b[O.op] = m.op
  b[O.htype] = m.htype ?? HTYPE_ETHERNET
  b[O.hlen] = hlen
  b[O.hops] = m.hops ?? 0
  put32(b, O.xid, m.xid)
  put16(b, O.secs, m.secs ?? 0)
  put16(b, O.flags, m.flags ?? 0)
  put32(b, O.ciaddr, m.ciaddr ?? 0)
  put32(b, O.yiaddr, m.yiaddr ?? 0)
  put32(b, O.siaddr, m.siaddr ?? 0)
  put32(b, O.giaddr, m.giaddr ?? 0)
  b.set(m.chaddr.subarray(0, hlen), O.chaddr)
  for (const [field, s, at, len] of [["sname", m.sname, O.sname, SNAME_LEN], ["file", m.file, O.file, FILE_LEN]] as const) {
    if (s === undefined) continue
    const bytes = optString(s)
    if (bytes.length < len) b.set(bytes, at)
    else omitted.push(field)
  }
  put32(b, O.cookie, DHCP_MAGIC_COOKIE)
  let p = DHCP_OPTIONS_OFFSET
  for (const [code, v] of kept) {
    // RFC 3396 §5: split into consecutive instances of at most 255 octets each.
    let o = 0
    do {
      const n = Math.min(255, v.length - o)
      b[p] = code
      b[p + 1] = n
      b.set(v.subarray(o, o + n), p + 2)
      p += 2 + n
      o += n
    } while (o < v.length)
  }
  b[p] = OPT.end
  return { bytes: b, omitted }
}
