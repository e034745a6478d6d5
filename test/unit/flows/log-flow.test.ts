/** The one way a flow is named on a log line (src/protocol/flows/log-flow.ts). */
import { describe, expect, it } from "vitest"
import { echoFlow, logLine, portFlow } from "../../../src/protocol/flows/log-flow.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"

describe("log flows", () => {
  it("TCP and UDP ends are address:port, IPv6 in brackets; the far end only when given", () => {
    expect(portFlow("tcp", ipv4(10, 0, 2, 15), 40000, ipv4(10, 0, 2, 2), 80)).toEqual({ protocol: "tcp", guest: "10.0.2.15:40000", host: "10.0.2.2:80" })
    expect(portFlow("udp", parseIpv6("fec0::15")!, 5353, parseIpv6("fec0::3")!, 53)).toEqual({ protocol: "udp", guest: "[fec0::15]:5353", host: "[fec0::3]:53" })
    expect(portFlow("udp", ipv4(10, 0, 2, 15), 41000)).toEqual({ protocol: "udp", guest: "10.0.2.15:41000" })
  })

  it("an echo flow's guest end names its identifier", () => {
    expect(echoFlow(ipv4(10, 0, 2, 15), 7, ipv4(192, 0, 2, 5))).toEqual({ protocol: "icmp", guest: "10.0.2.15 id 7", host: "192.0.2.5" })
    expect(echoFlow(ipv4(10, 0, 2, 15), 7)).toEqual({ protocol: "icmp", guest: "10.0.2.15 id 7" })
  })

  it("logLine carries the flow only when there is one", () => {
    expect(logLine("debug", "x")).toStrictEqual({ _tag: "Log", level: "debug", message: "x" })
    expect(logLine("info", "y", { protocol: "udp", guest: "10.0.2.15:1" })).toStrictEqual({ _tag: "Log", level: "info", message: "y", flow: { protocol: "udp", guest: "10.0.2.15:1" } })
  })
})
