import { describe, expect, it } from "vitest"
import { addMillis } from "../../../src/effects/instant.ts"
import {
  DECLINE_HOLD_MS,
  LEASE_TIME_S,
  OFFER_HOLD_MS,
  createDhcpServer,
  leaseOf,
  poolAddresses,
} from "../../../src/protocol/dhcp/server.ts"
import {
  BROADCAST_FLAG,
  DHCPACK,
  DHCPDECLINE,
  DHCPDISCOVER,
  DHCPINFORM,
  DHCPNAK,
  DHCPOFFER,
  DHCPRELEASE,
  DHCPREQUEST,
  type DhcpMessage,
} from "../../../src/protocol/dhcp/wire.ts"
import { encodeDomainSearch } from "../../../src/protocol/dns/name.ts"
import type { StackConfig } from "../../../src/protocol/stack/config.ts"
import { get16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC } from "../../../src/protocol/wire/mac.ts"
import { MAC_A, MAC_B, MAC_C, T0, cfg, clientMsg, step } from "./fixture.ts"

const HOST = ipv4(10, 0, 2, 2)
const DNS = ipv4(10, 0, 2, 3)
const IP15 = ipv4(10, 0, 2, 15)
const IP16 = ipv4(10, 0, 2, 16)
const UDHCPC_PRL = [1, 3, 6, 12, 15, 26, 28, 42, 119]

const full: StackConfig = { ...cfg, hostname: "guest", domainName: "example.test", dnsSearch: ["eng.apple.com", "marketing.apple.com"] }
/** 10.0.2.0/28: the pool is .13 and .14 only. */
const tiny: StackConfig = { ...cfg, prefixLength: 28, dhcpStart: ipv4(10, 0, 2, 13) }

const optionList = (m: DhcpMessage): Array<[number, string]> => [...m.options].map(([c, v]) => [c, toHex(v)])

/** DISCOVER -> OFFER -> REQUEST -> ACK for one MAC. */
const bind = (state = createDhcpServer(), mac = MAC_A, config: StackConfig = cfg, now = T0) => {
  const offer = step(state, clientMsg(DHCPDISCOVER, { mac }), { config, now })
  const yiaddr = offer.replies[0]!.yiaddr
  return step(offer.state, clientMsg(DHCPREQUEST, { mac, requested: yiaddr, serverId: config.host }), { config, now })
}

describe("DISCOVER -> OFFER", () => {
  it("offers the first pool address with the options in the client's request order, then the rest", () => {
    const s = step(createDhcpServer(), clientMsg(DHCPDISCOVER, { prl: UDHCPC_PRL }), { config: full })
    expect(s.replies).toHaveLength(1)
    const m = s.replies[0]!
    expect([m.op, m.xid, m.yiaddr, m.siaddr, m.ciaddr, m.giaddr, toHex(m.chaddr)]).toEqual([2, 0x1234, IP15, HOST, 0, 0, "525400123456"])
    expect(optionList(m)).toEqual([
      [53, "02"],
      [54, "0a000202"],
      [51, "00015180"],
      [1, "ffffff00"],
      [3, "0a000202"],
      [6, "0a000203"],
      [12, toHex(new TextEncoder().encode("guest"))],
      [15, toHex(new TextEncoder().encode("example.test"))],
      [26, "05dc"],
      [28, "0a0002ff"],
      [119, toHex(encodeDomainSearch(["eng.apple.com", "marketing.apple.com"])!)],
    ])
  })

  it("without a request list every option goes, in our order", () => {
    const m = step(createDhcpServer(), clientMsg(DHCPDISCOVER), { config: full }).replies[0]!
    expect([...m.options.keys()]).toEqual([53, 54, 51, 1, 3, 6, 12, 15, 26, 28, 119])
  })

  it("the essentials come even when not requested; unset config options never do", () => {
    const m = step(createDhcpServer(), clientMsg(DHCPDISCOVER, { prl: [119, 3] })).replies[0]!
    expect([...m.options.keys()]).toEqual([53, 54, 51, 3, 1, 6, 26, 28])
  })

  it("UDP 67 -> 68 from the host address, unicast to yiaddr and chaddr; checksum left to the IP layer", () => {
    const s = step(createDhcpServer(), clientMsg(DHCPDISCOVER))
    const p = s.packets[0]!
    expect([p.src, p.dst, p.protocol, p.checksumOffset, p.pseudoHeader]).toEqual([HOST, IP15, 17, 6, true])
    expect(toHex(p.dstMac!)).toBe("525400123456")
    expect([get16(p.header, 0), get16(p.header, 2), get16(p.header, 4), get16(p.header, 6)]).toEqual([67, 68, 8 + p.payload!.length, 0])
    expect(p.payload!.length).toBeGreaterThanOrEqual(300)
  })

  it("broadcast flag set -> 255.255.255.255 and the broadcast MAC (RFC 2131 §4.1)", () => {
    const p = step(createDhcpServer(), clientMsg(DHCPDISCOVER, { flags: BROADCAST_FLAG })).packets[0]!
    expect(p.dst).toBe(0xffffffff)
    expect(p.dstMac).toEqual(BROADCAST_MAC)
    expect(step(createDhcpServer(), clientMsg(DHCPDISCOVER, { flags: BROADCAST_FLAG })).replies[0]!.broadcast).toBe(true)
  })

  it("a requested free address is offered (RFC 2131 §4.3.1)", () => {
    expect(step(createDhcpServer(), clientMsg(DHCPDISCOVER, { requested: ipv4(10, 0, 2, 20) })).replies[0]!.yiaddr).toBe(ipv4(10, 0, 2, 20))
  })

  it("a requested address outside the pool is ignored: the next free one is offered", () => {
    expect(step(createDhcpServer(), clientMsg(DHCPDISCOVER, { requested: ipv4(10, 0, 2, 5) })).replies[0]!.yiaddr).toBe(IP15)
  })

  it("an offer holds the address for its client, then lapses", () => {
    const a = step(createDhcpServer(), clientMsg(DHCPDISCOVER))
    expect(step(a.state, clientMsg(DHCPDISCOVER, { mac: MAC_B }), { mac: MAC_B }).replies[0]!.yiaddr).toBe(IP16)
    const later = addMillis(T0, OFFER_HOLD_MS + 1)
    const b = step(a.state, clientMsg(DHCPDISCOVER, { mac: MAC_B }), { now: later, mac: MAC_B })
    expect(b.replies[0]!.yiaddr).toBe(IP16) // never-used addresses are preferred over lapsed ones
    expect(leaseOf(a.state, MAC_A, T0)).toBeUndefined() // an offer is not a lease
  })

  it("pool exhaustion: no offer, one warning", () => {
    const s1 = bind(createDhcpServer(), MAC_A, tiny).state
    const s2 = bind(s1, MAC_B, tiny).state
    const s3 = step(s2, clientMsg(DHCPDISCOVER, { mac: MAC_C }), { config: tiny, mac: MAC_C })
    expect(s3.packets).toEqual([])
    expect(s3.logs).toEqual([{ _tag: "Log", level: "warn", message: "dhcp: no free address for 52:54:00:00:00:cc: pool of 2 exhausted" }])
    expect(s3.state).toBe(s2)
  })
})

describe("REQUEST", () => {
  it("SELECTING: our server id and the offered address -> ACK, lease bound for 24 h, one info log", () => {
    const s = bind()
    const m = s.replies[0]!
    expect(m.opts.messageType).toBe(DHCPACK)
    expect([m.yiaddr, m.opts.leaseTime, m.opts.serverId, m.opts.routers, m.opts.dnsServers]).toEqual([IP15, LEASE_TIME_S, HOST, [HOST], [DNS]])
    expect(s.logs).toEqual([{ _tag: "Log", level: "info", message: "dhcp: lease 10.0.2.15 to 52:54:00:12:34:56" }])
    expect(leaseOf(s.state, "52:54:00:12:34:56", T0)).toBe(IP15)
    expect(leaseOf(s.state, MAC_A, addMillis(T0, LEASE_TIME_S * 1000 - 1))).toBe(IP15)
    expect(leaseOf(s.state, MAC_A, addMillis(T0, LEASE_TIME_S * 1000))).toBeUndefined()
  })

  it("SELECTING another server: no reply, our offer is withdrawn", () => {
    const offer = step(createDhcpServer(), clientMsg(DHCPDISCOVER))
    const s = step(offer.state, clientMsg(DHCPREQUEST, { requested: IP15, serverId: ipv4(10, 0, 2, 99) }))
    expect(s.packets).toEqual([])
    expect(s.state.leases.size).toBe(0)
    expect(step(s.state, clientMsg(DHCPDISCOVER, { mac: MAC_B }), { mac: MAC_B }).replies[0]!.yiaddr).toBe(IP15)
  })

  it("SELECTING an address other than the one offered -> NAK, broadcast, with a message", () => {
    const offer = step(createDhcpServer(), clientMsg(DHCPDISCOVER))
    const s = step(offer.state, clientMsg(DHCPREQUEST, { requested: IP16, serverId: HOST }))
    const m = s.replies[0]!
    expect(m.opts.messageType).toBe(DHCPNAK)
    expect([m.yiaddr, m.siaddr, m.opts.serverId, m.opts.message]).toEqual([0, 0, HOST, "requested address not available"])
    expect(m.opts.leaseTime).toBeUndefined()
    expect([s.packets[0]!.dst, s.packets[0]!.dstMac]).toEqual([0xffffffff, BROADCAST_MAC])
    expect(s.state).toBe(offer.state)
  })

  it("INIT-REBOOT with no record and a free pool address -> ACK (tslirp restarted under the guest)", () => {
    const s = step(createDhcpServer(), clientMsg(DHCPREQUEST, { requested: ipv4(10, 0, 2, 21) }))
    expect([s.replies[0]!.opts.messageType, s.replies[0]!.yiaddr]).toEqual([DHCPACK, ipv4(10, 0, 2, 21)])
    expect(leaseOf(s.state, MAC_A, T0)).toBe(ipv4(10, 0, 2, 21))
  })

  it("INIT-REBOOT for an address outside the pool, outside the subnet, or held by another MAC -> NAK", () => {
    const heldByA = bind().state
    for (const [state, ip] of [
      [createDhcpServer(), ipv4(10, 0, 2, 5)],
      [createDhcpServer(), ipv4(192, 168, 1, 15)],
      [createDhcpServer(), HOST],
      [heldByA, IP15],
    ] as const) {
      const s = step(state, clientMsg(DHCPREQUEST, { mac: MAC_B, requested: ip }), { mac: MAC_B })
      expect(s.replies.map((m) => m.opts.messageType)).toEqual([DHCPNAK])
      expect(s.logs.some((l) => l.level === "info" && l.message.startsWith("dhcp: NAK to 52:54:00:00:00:bb"))).toBe(true)
      expect(s.state).toBe(state)
    }
  })

  it("RENEWING/REBINDING (ciaddr, no option 50): ACK unicast to ciaddr, ciaddr echoed, lease extended", () => {
    const bound = bind().state
    const later = addMillis(T0, 12 * 3600 * 1000)
    const s = step(bound, clientMsg(DHCPREQUEST, { ciaddr: IP15 }), { now: later })
    const m = s.replies[0]!
    expect([m.opts.messageType, m.yiaddr, m.ciaddr]).toEqual([DHCPACK, IP15, IP15])
    expect([s.packets[0]!.dst, toHex(s.packets[0]!.dstMac!)]).toEqual([IP15, "525400123456"])
    expect(leaseOf(s.state, MAC_A, addMillis(later, LEASE_TIME_S * 1000 - 1))).toBe(IP15)
  })

  it("RENEWING an address another MAC holds -> NAK", () => {
    const bound = bind().state
    const s = step(bound, clientMsg(DHCPREQUEST, { mac: MAC_B, ciaddr: IP15 }), { mac: MAC_B })
    expect(s.replies[0]!.opts.messageType).toBe(DHCPNAK)
    expect(s.packets[0]!.dst).toBe(0xffffffff)
  })

  it("a REQUEST that names no address is dropped", () => {
    const s = step(createDhcpServer(), clientMsg(DHCPREQUEST))
    expect(s.packets).toEqual([])
    expect(s.logs[0]!.level).toBe("debug")
  })
})

describe("leases by MAC", () => {
  it("a second MAC gets the next address; the first gets its own back on a new DISCOVER", () => {
    const a = bind()
    const b = bind(a.state, MAC_B)
    expect(b.replies[0]!.yiaddr).toBe(IP16)
    expect(step(b.state, clientMsg(DHCPDISCOVER)).replies[0]!.yiaddr).toBe(IP15)
  })

  it("an expired lease stays with its MAC while other addresses are free", () => {
    const a = bind().state
    const later = addMillis(T0, LEASE_TIME_S * 1000 + 1)
    const b = bind(a, MAC_B, cfg, later)
    expect(b.replies[0]!.yiaddr).toBe(IP16)
    expect(step(b.state, clientMsg(DHCPDISCOVER), { now: later }).replies[0]!.yiaddr).toBe(IP15)
  })

  it("an expired lease is reclaimed for another MAC when the pool is otherwise full", () => {
    const s1 = bind(createDhcpServer(), MAC_A, tiny).state
    const s2 = bind(s1, MAC_B, tiny).state
    const later = addMillis(T0, LEASE_TIME_S * 1000 + 1)
    const c = bind(s2, MAC_C, tiny, later)
    expect(c.replies[0]!.yiaddr).toBe(ipv4(10, 0, 2, 13))
    expect(c.state.leases.has("52:54:00:12:34:56")).toBe(false)
  })

  it("the pool runs from dhcpStart to the broadcast address, skipping host and DNS", () => {
    expect(poolAddresses(tiny)).toEqual([ipv4(10, 0, 2, 13), ipv4(10, 0, 2, 14)])
    const low: StackConfig = { ...cfg, dhcpStart: ipv4(10, 0, 2, 1) }
    expect(poolAddresses(low).slice(0, 3)).toEqual([ipv4(10, 0, 2, 1), ipv4(10, 0, 2, 4), ipv4(10, 0, 2, 5)])
    expect(poolAddresses(cfg)).toHaveLength(240)
    expect(poolAddresses({ ...cfg, network: ipv4(10, 0, 0, 0), prefixLength: 16 })).toHaveLength(256)
  })
})

describe("RELEASE, DECLINE, INFORM", () => {
  it("RELEASE frees the address: another MAC can have it, no reply is sent", () => {
    const s1 = bind(createDhcpServer(), MAC_A, tiny).state
    const s2 = bind(s1, MAC_B, tiny).state
    const r = step(s2, clientMsg(DHCPRELEASE, { ciaddr: ipv4(10, 0, 2, 13), serverId: HOST }), { config: tiny })
    expect(r.packets).toEqual([])
    expect(r.logs[0]!.message).toBe("dhcp: 52:54:00:12:34:56 released 10.0.2.13")
    expect(leaseOf(r.state, MAC_A, T0)).toBeUndefined()
    expect(bind(r.state, MAC_C, tiny).replies[0]!.yiaddr).toBe(ipv4(10, 0, 2, 13))
  })

  it("RELEASE naming another server changes nothing", () => {
    const s = bind().state
    const r = step(s, clientMsg(DHCPRELEASE, { ciaddr: IP15, serverId: ipv4(10, 0, 2, 99) }))
    expect(r.state).toBe(s)
    expect(r.logs.map((l) => l.level)).toEqual(["debug"])
  })

  it("RELEASE of an address the MAC does not hold changes nothing", () => {
    const s = bind().state
    const r = step(s, clientMsg(DHCPRELEASE, { mac: MAC_B, ciaddr: IP15 }), { mac: MAC_B })
    expect(r.state).toBe(s)
    expect(leaseOf(r.state, MAC_A, T0)).toBe(IP15)
  })

  it("DECLINE withholds the address for 10 minutes; the client is offered another", () => {
    const s = bind().state
    const d = step(s, clientMsg(DHCPDECLINE, { requested: IP15, serverId: HOST }))
    expect(d.packets).toEqual([])
    expect(d.logs[0]!.level).toBe("warn")
    expect(step(d.state, clientMsg(DHCPDISCOVER)).replies[0]!.yiaddr).toBe(IP16)
    expect(step(d.state, clientMsg(DHCPREQUEST, { requested: IP15 })).replies[0]!.opts.messageType).toBe(DHCPNAK)
    const later = addMillis(T0, DECLINE_HOLD_MS + 1)
    expect(step(d.state, clientMsg(DHCPDISCOVER, { requested: IP15 }), { now: later }).replies[0]!.yiaddr).toBe(IP15)
  })

  it("INFORM -> ACK to ciaddr with the configuration, no lease time, no yiaddr, no state", () => {
    const state = createDhcpServer()
    const s = step(state, clientMsg(DHCPINFORM, { ciaddr: ipv4(10, 0, 2, 50) }), { config: full })
    const m = s.replies[0]!
    expect([m.opts.messageType, m.yiaddr, m.ciaddr, m.opts.leaseTime, m.opts.serverId]).toEqual([DHCPACK, 0, ipv4(10, 0, 2, 50), undefined, HOST])
    expect(m.opts.domainSearch).toEqual(["eng.apple.com", "marketing.apple.com"])
    expect(s.packets[0]!.dst).toBe(ipv4(10, 0, 2, 50))
    expect(s.state).toBe(state)
  })
})

describe("BOOTP, TFTP fields and size limits", () => {
  it("a BOOTP request (no message type) gets a BOOTREPLY with an address and no type option", () => {
    const s = step(createDhcpServer(), clientMsg(undefined))
    const m = s.replies[0]!
    expect([m.op, m.yiaddr, m.opts.messageType, m.opts.subnetMask]).toEqual([2, IP15, undefined, 0xffffff00])
    expect(leaseOf(s.state, MAC_A, T0)).toBe(IP15)
  })

  it("tftpServerName and bootfile go to sname/file and options 66/67", () => {
    const m = step(createDhcpServer(), clientMsg(DHCPDISCOVER, { prl: [66, 67] }), {
      config: { ...cfg, tftpServerName: "10.0.2.2", bootfile: "pxelinux.0" },
    }).replies[0]!
    expect([m.sname, m.file, m.opts.tftpServerName, m.opts.bootfileName]).toEqual(["10.0.2.2", "pxelinux.0", "10.0.2.2", "pxelinux.0"])
    expect([...m.options.keys()].slice(3, 5)).toEqual([66, 67])
  })

  it("next server (siaddr) is the gateway, where the TFTP server answers; without the fields sname, file and 66/67 are absent", () => {
    const withBoot = step(createDhcpServer(), clientMsg(DHCPDISCOVER), { config: { ...cfg, bootfile: "boot/vmlinuz" } }).replies[0]!
    expect([withBoot.siaddr, withBoot.file, withBoot.opts.bootfileName, withBoot.opts.tftpServerName]).toEqual([cfg.host, "boot/vmlinuz", "boot/vmlinuz", undefined])
    const plain = step(createDhcpServer(), clientMsg(DHCPDISCOVER)).replies[0]!
    expect([plain.siaddr, plain.sname, plain.file, plain.options.has(66), plain.options.has(67)]).toEqual([cfg.host, "", "", false, false])
  })

  it("a reply larger than the client's limit drops unrequested options last-first, with a warning", () => {
    const search = Array.from({ length: 40 }, (_, i) => `d${i}.example${i}.test`)
    const config: StackConfig = { ...cfg, dnsSearch: search }
    const small = step(createDhcpServer(), clientMsg(DHCPDISCOVER, { prl: [1, 3, 6] }), { config })
    expect(small.packets[0]!.payload!.length).toBeLessThanOrEqual(548)
    expect([...small.replies[0]!.options.keys()]).toEqual([53, 54, 51, 1, 3, 6, 26, 28])
    expect(small.logs.some((l) => l.level === "warn" && l.message.includes("left out 119"))).toBe(true)
    const big = step(createDhcpServer(), clientMsg(DHCPDISCOVER, { prl: [1, 3, 6], maxSize: 1500 }), { config })
    expect(big.replies[0]!.opts.domainSearch).toEqual(search)
  })
})

describe("dropped input: a debug log, no reply, state unchanged", () => {
  const state = createDhcpServer()
  const cases: Array<[string, Uint8Array]> = [
    ["truncated", clientMsg(DHCPDISCOVER).subarray(0, 200)],
    ["a BOOTREPLY", clientMsg(DHCPDISCOVER, { op: 2 })],
    ["a relayed message", clientMsg(DHCPDISCOVER, { giaddr: ipv4(10, 9, 9, 1) })],
    ["a server message type", clientMsg(DHCPOFFER)],
    ["an unknown message type", clientMsg(42)],
  ]
  for (const [what, payload] of cases) {
    it(what, () => {
      const s = step(state, payload)
      expect(s.packets).toEqual([])
      expect(s.logs.map((l) => l.level)).toEqual(["debug"])
      expect(s.state).toBe(state)
    })
  }
  it("not Ethernet (htype 6)", () => {
    const p = clientMsg(DHCPDISCOVER)
    p[1] = 6
    const s = step(state, p)
    expect(s.packets).toEqual([])
    expect(s.logs[0]!.message).toContain("htype 6")
  })
})
