/**
 * Real clients' messages (captured by test/golden/dhcp/capture.sh) through our server, with our
 * replies compared field by field with what dnsmasq answered the same messages. The config
 * mirrors the capture's dnsmasq setup; only the DNS address differs (dnsmasq is its own DNS at
 * .1, our config needs a separate one) and dnsmasq's extra T1/T2 and echoed hostname.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { createDhcpServer, leaseOf } from "../../../src/protocol/dhcp/server.ts"
import { DHCPACK, DHCPOFFER, type DhcpMessage, parseDhcp } from "../../../src/protocol/dhcp/wire.ts"
import type { StackConfig } from "../../../src/protocol/stack/config.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { fromHex, toHex } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { MAC_A, T0, step } from "./fixture.ts"

const golden = (name: string): Uint8Array => fromHex(readFileSync(new URL(`../../golden/dhcp/${name}.hex`, import.meta.url), "utf8"))
const parsed = (name: string): DhcpMessage => {
  const r = parseDhcp(golden(name))
  if (!r.ok) throw new Error(r.reason)
  return r.msg
}

const captureConfig: StackConfig = {
  ...defaultConfig,
  network: ipv4(10, 77, 0, 0),
  host: ipv4(10, 77, 0, 1),
  dns: ipv4(10, 77, 0, 3),
  dhcpStart: ipv4(10, 77, 0, 21),
  domainName: "example.test",
  dnsSearch: ["eng.apple.com", "marketing.apple.com"],
  tftpServerName: "bootserver",
  bootfile: "pxelinux.0",
}

/** What a client acts on; dnsmasq's reply and ours must agree on all of it. */
const essentials = (m: DhcpMessage) => ({
  op: m.op,
  xid: m.xid,
  flags: m.flags,
  chaddr: toHex(m.chaddr),
  ciaddr: m.ciaddr,
  yiaddr: m.yiaddr,
  siaddr: m.siaddr,
  giaddr: m.giaddr,
  sname: m.sname,
  file: m.file,
  messageType: m.opts.messageType,
  serverId: m.opts.serverId,
  leaseTime: m.opts.leaseTime,
  subnetMask: m.opts.subnetMask,
  routers: m.opts.routers,
  broadcastAddress: m.opts.broadcastAddress,
  domainName: m.opts.domainName,
  interfaceMtu: m.opts.interfaceMtu,
  domainSearch: m.opts.domainSearch,
})

const exchange = (pairs: ReadonlyArray<readonly [string, string, number]>) => {
  let state = createDhcpServer()
  for (const [request, dnsmasqReply, type] of pairs) {
    const s = step(state, golden(request), { config: captureConfig, mac: MAC_A })
    expect(s.replies, request).toHaveLength(1)
    const ours = s.replies[0]!
    expect(ours.opts.messageType).toBe(type)
    expect(essentials(ours)).toEqual(essentials(parsed(dnsmasqReply)))
    expect(ours.opts.dnsServers).toEqual([captureConfig.dns])
    state = s.state
  }
  return state
}

describe("real clients against our server, answers compared with dnsmasq's", () => {
  it("busybox udhcpc: DISCOVER -> OFFER, REQUEST (selecting) -> ACK", () => {
    const state = exchange([
      ["udhcpc-01-discover", "udhcpc-03-offer", DHCPOFFER],
      ["udhcpc-05-request", "udhcpc-06-ack", DHCPACK],
    ])
    expect(leaseOf(state, MAC_A, T0)).toBe(ipv4(10, 77, 0, 21))
    // udhcpc's RELEASE (SIGUSR2): no reply, the lease is gone.
    const r = step(state, golden("udhcpc-07-release"), { config: captureConfig })
    expect(r.packets).toEqual([])
    expect(leaseOf(r.state, MAC_A, T0)).toBeUndefined()
  })

  it("ISC dhclient: DISCOVER -> OFFER, REQUEST -> ACK, then INIT-REBOOT REQUEST -> ACK", () => {
    exchange([
      ["dhclient-01-discover", "dhclient-02-offer", DHCPOFFER],
      ["dhclient-03-request", "dhclient-04-ack", DHCPACK],
      ["dhclient-05-request", "dhclient-06-ack", DHCPACK],
    ])
  })

  it("dhclient's INIT-REBOOT on a server without its record (tslirp restarted) is ACKed", () => {
    const s = step(createDhcpServer(), golden("dhclient-05-request"), { config: captureConfig })
    expect(essentials(s.replies[0]!)).toEqual(essentials(parsed("dhclient-06-ack")))
  })

  it("our replies honour udhcpc's 576-octet limit (option 57)", () => {
    const s = step(createDhcpServer(), golden("udhcpc-01-discover"), { config: captureConfig })
    expect(s.packets[0]!.payload!.length + 28).toBeLessThanOrEqual(576)
  })
})
