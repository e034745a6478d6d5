/**
 * The guest's network layer over the test e1000 driver: a DHCP client (DISCOVER, OFFER,
 * REQUEST, ACK), ARP (asking for the gateway, answering for ourselves), ICMP echo, and a hook
 * for the TCP client. Waiting is promise-based with a deadline that fails the test with what
 * was being waited for (a missing answer is a failure, never a hang).
 */
import type { E1000Driver, ReceivedFrame } from "./e1000-driver.ts"
import {
  arpPacket,
  BROADCAST,
  DHCPACK,
  DHCPDISCOVER,
  DHCPOFFER,
  DHCPREQUEST,
  dhcpMessage,
  ether,
  ETH_ARP,
  ETH_IPV4,
  fmtIp,
  icmpEcho,
  ipBytes,
  ipv4Packet,
  optIp,
  parseArp,
  parseDhcp,
  parseEcho,
  parseEther,
  parseIpv4,
  parseUdp,
  PROTO_ICMP,
  PROTO_UDP,
  udpDatagram,
  type DhcpView,
  type Ipv4View,
} from "./packets.ts"

export interface Lease {
  readonly address: number
  readonly server: number
  readonly router: number | undefined
  readonly dns: number | undefined
  readonly mask: number | undefined
}

interface Waiter {
  readonly match: (f: ReceivedFrame) => boolean
  readonly resolve: (f: ReceivedFrame) => void
}

export class GuestNet {
  address = 0
  readonly frames: Array<ReceivedFrame> = []
  private readonly waiters: Array<Waiter> = []
  /** Packets for other protocols (TCP) go here. */
  ipHandler: (ip: Ipv4View, f: ReceivedFrame) => void = () => undefined
  gatewayMac: Uint8Array | undefined

  readonly driver: E1000Driver
  readonly timeoutMs: number

  constructor(driver: E1000Driver, timeoutMs = 10_000) {
    this.driver = driver
    this.timeoutMs = timeoutMs
    driver.onFrame((f) => this.input(f))
  }

  get mac(): Uint8Array {
    return this.driver.mac
  }

  private input(f: ReceivedFrame): void {
    this.frames.push(f)
    const eth = parseEther(f.frame)
    if (eth === undefined) return
    // Answer ARP requests for our address (the stack asks before it sends to us).
    if (eth.type === ETH_ARP && this.address !== 0) {
      const a = parseArp(eth.payload)
      if (a !== undefined && a.op === 1 && a.tpa === this.address) {
        this.driver.send(ether(a.sha, this.mac, ETH_ARP, arpPacket(2, this.mac, this.address, a.sha, a.spa)))
      }
    }
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!
      if (w.match(f)) {
        this.waiters.splice(i, 1)
        w.resolve(f)
        return
      }
    }
    if (eth.type === ETH_IPV4) {
      const ip = parseIpv4(eth.payload)
      if (ip !== undefined) this.ipHandler(ip, f)
    }
  }

  /** The next frame that `match` accepts, or a rejection naming `what` after the timeout. */
  waitFor(what: string, match: (f: ReceivedFrame) => boolean, timeoutMs = this.timeoutMs): Promise<ReceivedFrame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w)
        if (i >= 0) this.waiters.splice(i, 1)
        reject(new Error(`no ${what} within ${timeoutMs} ms (${this.frames.length} frames received so far)`))
      }, timeoutMs)
      const w: Waiter = {
        match,
        resolve: (f) => {
          clearTimeout(timer)
          resolve(f)
        },
      }
      this.waiters.push(w)
    })
  }

  sendIp(dstMac: Uint8Array, src: number, dst: number, protocol: number, payload: Uint8Array): void {
    this.driver.send(ether(dstMac, this.mac, ETH_IPV4, ipv4Packet(src, dst, protocol, payload)))
  }

  // ---- DHCP client (RFC 2131 §3.1: DISCOVER, OFFER, REQUEST, ACK)

  private dhcpReply(xid: number, type: number): (f: ReceivedFrame) => DhcpView | undefined {
    return (f) => {
      const eth = parseEther(f.frame)
      if (eth?.type !== ETH_IPV4) return undefined
      const ip = parseIpv4(eth.payload)
      if (ip?.protocol !== PROTO_UDP) return undefined
      const udp = parseUdp(ip.payload)
      if (udp?.sport !== 67 || udp.dport !== 68) return undefined
      const d = parseDhcp(udp.data)
      return d !== undefined && d.op === 2 && d.xid === xid && d.type === type ? d : undefined
    }
  }

  private sendDhcp(m: Uint8Array): void {
    this.sendIp(BROADCAST, 0, 0xffffffff, PROTO_UDP, udpDatagram(0, 0xffffffff, 68, 67, m))
  }

  async dhcp(xid = 0x1e000a01): Promise<Lease> {
    const isOffer = this.dhcpReply(xid, DHCPOFFER)
    const offerWait = this.waitFor("DHCPOFFER", (f) => isOffer(f) !== undefined)
    this.sendDhcp(dhcpMessage(DHCPDISCOVER, xid, this.mac, []))
    const offer = isOffer(await offerWait)!
    const server = optIp(offer.options.get(54))
    if (server === undefined) throw new Error("DHCPOFFER without a server identifier (option 54)")
    const isAck = this.dhcpReply(xid, DHCPACK)
    const ackWait = this.waitFor("DHCPACK", (f) => isAck(f) !== undefined)
    this.sendDhcp(
      dhcpMessage(DHCPREQUEST, xid, this.mac, [
        [50, ipBytes(offer.yiaddr)],
        [54, ipBytes(server)],
      ]),
    )
    const ack = isAck(await ackWait)!
    this.address = ack.yiaddr
    return { address: ack.yiaddr, server, router: optIp(ack.options.get(3)), dns: optIp(ack.options.get(6)), mask: optIp(ack.options.get(1)) }
  }

  // ---- ARP (RFC 826)

  async arp(target: number): Promise<Uint8Array> {
    const reply = this.waitFor(`ARP reply from ${fmtIp(target)}`, (f) => {
      const eth = parseEther(f.frame)
      if (eth?.type !== ETH_ARP) return false
      const a = parseArp(eth.payload)
      return a !== undefined && a.op === 2 && a.spa === target && a.tpa === this.address
    })
    this.driver.send(ether(BROADCAST, this.mac, ETH_ARP, arpPacket(1, this.mac, this.address, new Uint8Array(6), target)))
    const eth = parseEther((await reply).frame)!
    return parseArp(eth.payload)!.sha
  }

  // ---- ICMP echo (RFC 792)

  async ping(dstMac: Uint8Array, dst: number, ident: number, seq: number, data: Uint8Array): Promise<{ frame: ReceivedFrame; data: Uint8Array }> {
    const reply = this.waitFor(`echo reply from ${fmtIp(dst)} (id ${ident} seq ${seq})`, (f) => {
      const eth = parseEther(f.frame)
      if (eth?.type !== ETH_IPV4) return false
      const ip = parseIpv4(eth.payload)
      if (ip?.protocol !== PROTO_ICMP || ip.src !== dst || ip.dst !== this.address) return false
      const e = parseEcho(ip.payload)
      return e !== undefined && e.type === 0 && e.ident === ident && e.seq === seq && e.checksumOk
    })
    this.sendIp(dstMac, this.address, dst, PROTO_ICMP, icmpEcho(8, ident, seq, data))
    const frame = await reply
    const ip = parseIpv4(parseEther(frame.frame)!.payload)!
    return { frame, data: parseEcho(ip.payload)!.data.slice() }
  }
}
