/**
 * The stack's counters (protocol/stack/counters.ts): counted in `reduce` from the event and
 * what the layers returned; drops by reason from the layers' debug lines; kept across Shutdown.
 */
import { describe, expect, it } from "vitest"
import { countEvent, dropReason, emptyCounters } from "../../../src/protocol/stack/counters.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { socketId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { stackCounters } from "../../../src/protocol/stack/stack.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { BROADCAST_MAC, ZERO_MAC } from "../../../src/protocol/wire/mac.ts"
import { StackDriver } from "./driver.ts"
import { EmbeddedStack } from "../../../src/runtime/embed/stack.ts"
import { createMockHost } from "../../../src/runtime/mock/mock-host.ts"
import { silentLogger } from "../../../src/runtime/host/logger.ts"
import { GUEST, GUEST_MAC, HOST, arp, bytes, ether, pingFrame, udpFrame } from "./frames.ts"

describe("stack counters", () => {
  it("drop reasons: the layer and a kind, from the debug line; progress lines are not drops", () => {
    expect(dropReason("udp: bad checksum")).toBe("udp checksum")
    expect(dropReason("ethernet: runt frame of 5 bytes dropped")).toBe("ethernet malformed")
    expect(dropReason("ethernet: ethertype 0x88b5 dropped")).toBe("ethernet unknown-protocol")
    expect(dropReason("ipv4 reassembly: 64 datagrams already in progress, fragment from 10.0.2.15 dropped")).toBe("ipv4 bound")
    expect(dropReason("arp: queue for 10.0.2.15 full, frame dropped")).toBe("arp bound")
    expect(dropReason("tcp 10.0.2.15:1000<->10.0.2.2:80 sock 3 Established: dropped 10 bytes of host data after EOF/close")).toBe("tcp malformed")
    expect(dropReason("HostTcpData for unknown socket 9 ignored")).toBe("HostTcpData unknown-socket")
    expect(dropReason("dhcp: offer 10.0.2.15 to 52:54:00:12:34:56")).toBeUndefined()
    expect(dropReason("udp 10.0.2.15:5000 -> 127.0.0.1:53 expired")).toBeUndefined()
  })

  it("TFTP and forwarding lines: progress is not a drop; refusals, stale packets and unreachable peers have their kinds", () => {
    expect(dropReason('tftp: 10.0.2.15:3069 reads "boot.img" (transfer port 1024)')).toBeUndefined()
    expect(dropReason('tftp: 10.0.2.15:3069 ended the transfer of "boot.img": error 0 "bye"')).toBeUndefined()
    expect(dropReason('tftp: "missing.img" for 10.0.2.15:1070: ENOENT')).toBeUndefined()
    expect(dropReason("hostfwd tcp:0.0.0.0:8080 -> :80: opening")).toBeUndefined()
    expect(dropReason("hostfwd udp:0.0.0.0:5353 -> :53: peer 127.0.0.1:4000 is 10.0.2.2:4000 to the guest")).toBeUndefined()
    expect(dropReason("hostfwd: 192.0.2.7:51000 -> 10.0.2.15:80 as 192.0.2.7:51000 (socket 4)")).toBeUndefined()
    expect(dropReason('tftp: request from 10.0.2.15:3069 refused: mode "netascii"')).toBe("tftp refused")
    expect(dropReason("tftp: ACK 3 from 10.0.2.15:3069 ignored (awaiting ACK 4)")).toBe("tftp stale")
    expect(dropReason("tftp: datagram to port 1024 without a transfer dropped")).toBe("tftp stale")
    expect(dropReason("hostfwd: no rule 9 to remove")).toBe("hostfwd stale")
    expect(dropReason("guestfwd: no rule 9 to remove")).toBe("guestfwd stale")
    expect(dropReason("hostfwd: udp peer 192.0.2.1:53 unreachable (port)")).toBe("hostfwd unreachable")
    // A refused hostfwd client is a drop; an adopted one is a TCP connection.
    const tcp = new StackDriver().state.tcp
    const accepted = { _tag: "HostTcpAccepted", now: instant(1), listener: socketId(1), accepted: 1 } as const
    const refused = countEvent(emptyCounters, defaultConfig, tcp, accepted, [{ _tag: "TcpRefuse", accepted: 1 }, { _tag: "Log", level: "info", message: "hostfwd: client refused: no tcp rule for socket 1" }])
    expect([refused.drops, refused.tcpTotal]).toEqual([{ "hostfwd refused": 1 }, 0])
    // A hostfwd UDP peer mapped is a UDP flow, as a guest's UdpOpen is; later datagrams of it are not.
    const datagram = { _tag: "HostUdpDatagram", now: instant(0), sock: socketId(2), from: { family: 4, address: "127.0.0.1", port: 4000 }, data: bytes("x") } as const
    const mapped = countEvent(emptyCounters, defaultConfig, tcp, datagram, [{ _tag: "Log", level: "debug", message: "hostfwd udp:0.0.0.0:5353 -> :53: peer 127.0.0.1:4000 is 10.0.2.2:4000 to the guest" }], 1)
    expect([mapped.udpFlows, mapped.drops]).toEqual([1, {}])
    expect(countEvent(mapped, defaultConfig, tcp, datagram, []).udpFlows).toBe(1)
    const adopted = countEvent(emptyCounters, defaultConfig, tcp, accepted, [{ _tag: "TcpAdopt", sock: socketId(2), accepted: 1 }])
    expect([adopted.drops, adopted.tcpTotal]).toEqual([{}, 1])
    // Other layers keep their kinds.
    expect(dropReason("icmp: type 13 from the guest ignored")).toBe("icmp unknown-protocol")
  })

  it("frames and bytes each way, flows, drops; Shutdown logs them and keeps them", () => {
    const d = new StackDriver()
    expect(stackCounters(d.state)).toEqual({ ...emptyCounters, tcpOpen: 0 })
    d.frame(ether(BROADCAST_MAC, 0x0806, arp(1, GUEST_MAC, GUEST, ZERO_MAC, HOST)))
    d.frame(pingFrame(HOST, 1, 1, bytes("hi")))
    d.frame(udpFrame(GUEST, HOST, 4000, 5000, bytes("x")))
    d.frame(pingFrame(ipv4(192, 0, 2, 1), 1, 2, bytes("out")))
    d.frame(new Uint8Array(3))
    const out = d.framesOut()
    const c = stackCounters(d.state)
    expect(c.framesFromGuest).toBe(5)
    expect(c.bytesFromGuest).toBe(d.state.counters.bytesFromGuest)
    expect(c.framesToGuest).toBe(out.length)
    expect(c.bytesToGuest).toBe(out.reduce((n, f) => n + f.length, 0))
    expect([c.udpFlows, c.icmpFlows, c.dnsQueries, c.tcpTotal]).toEqual([1, 1, 0, 0])
    expect(c.drops).toEqual({ "ethernet malformed": 1 })
    const fx = d.event({ _tag: "Shutdown" })
    expect(fx.some((e) => e._tag === "Log" && e.level === "info" && e.message.startsWith("stack: counters: from guest 5 frames"))).toBe(true)
    expect(stackCounters(d.state).framesFromGuest).toBe(5)
  })

  it("EmbeddedStack.counters() reads them through the library; undefined once closed", () => {
    const host = createMockHost()
    const stack = new EmbeddedStack({ dnsUpstream: "none" }, host.deps(silentLogger), 1)
    let out = 0
    stack.onFrameToGuest(() => void out++)
    stack.fromGuest(ether(BROADCAST_MAC, 0x0806, arp(1, GUEST_MAC, GUEST, ZERO_MAC, HOST)))
    expect(stack.counters()).toMatchObject({ framesFromGuest: 1, framesToGuest: out, tcpOpen: 0 })
    expect(out).toBe(1)
    stack.close()
    expect(stack.counters()).toBeUndefined()
  })
})
