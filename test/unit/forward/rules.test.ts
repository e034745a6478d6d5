/**
 * The control API's plain-data rules (api/forward-control.ts) and the parsed rules: each way
 * and back, IPv6 host addresses without brackets, the default guestfwd server, refusals.
 */
import { describe, expect, it } from "vitest"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { guestFwdFromRule, hostFwdFromRule, parseGuestFwd, parseHostFwd, ruleOfGuestFwd, ruleOfHostFwd, serverOf } from "../../../src/runtime/forward/rules.ts"

describe("forwarding rules: the control API's form and the parsed form", () => {
  it.each([
    [{ proto: "tcp", hostAddr: "", hostPort: 2222, guestAddr: "", guestPort: 22 }, { proto: "tcp", bind: { family: 4, address: "", port: 2222 }, guest: undefined, guestPort: 22 }],
    [{ proto: "udp", hostAddr: "127.0.0.1", hostPort: 5353, guestAddr: "10.0.2.16", guestPort: 53 }, { proto: "udp", bind: { family: 4, address: "127.0.0.1", port: 5353 }, guest: ipv4(10, 0, 2, 16), guestPort: 53 }],
    [{ proto: "tcp", hostAddr: "::1", hostPort: 8080, guestAddr: "", guestPort: 80 }, { proto: "tcp", bind: { family: 6, address: "::1", port: 8080 }, guest: undefined, guestPort: 80 }],
    [{ proto: "tcp", hostAddr: "::", hostPort: 8080, guestAddr: "", guestPort: 80 }, { proto: "tcp", bind: { family: 6, address: "", port: 8080 }, guest: undefined, guestPort: 80 }],
  ] as const)("hostfwd %j <-> parsed", (rule, spec) => {
    expect(hostFwdFromRule(rule)).toEqual(spec)
    expect(ruleOfHostFwd(spec)).toEqual(rule)
  })

  it("hostfwd refusals are one line each", () => {
    expect(hostFwdFromRule({ proto: "sctp" as "tcp", hostAddr: "", hostPort: 1, guestAddr: "", guestPort: 1 })).toBe('proto "sctp" must be tcp or udp')
    expect(hostFwdFromRule({ proto: "tcp", hostAddr: "", hostPort: 70000, guestAddr: "", guestPort: 1 })).toBe("host port 70000 must be 0..65535")
    expect(hostFwdFromRule({ proto: "tcp", hostAddr: "", hostPort: 1, guestAddr: "fe80::1", guestPort: 1 })).toBe('guest address "fe80::1" is not an IPv4 address (hostfwd reaches IPv4 guests)')
    expect(hostFwdFromRule({ proto: "tcp", hostAddr: "", hostPort: 1, guestAddr: "", guestPort: 0 })).toBe("guest port 0 must be 1..65535")
  })

  it("a unix hostfwd shows its path as the host address", () => {
    const spec = parseHostFwd("unix:/run/vm.sock-:22")
    expect(typeof spec === "string" ? spec : ruleOfHostFwd(spec)).toEqual({ proto: "tcp", hostAddr: "unix:/run/vm.sock", hostPort: 0, guestAddr: "", guestPort: 22 })
  })

  it("guestfwd: the default server is the network's .4, shown as such; targets back as written", () => {
    const spec = guestFwdFromRule({ proto: "tcp", serverAddr: "", serverPort: 80, target: "cmd:nc example.org 80" })
    if (typeof spec === "string") throw new Error(spec)
    expect(serverOf(defaultConfig, spec)).toBe(ipv4(10, 0, 2, 4))
    expect(ruleOfGuestFwd(defaultConfig, spec)).toEqual({ proto: "tcp", serverAddr: "10.0.2.4", serverPort: 80, target: "cmd:nc example.org 80" })
    const v6 = parseGuestFwd("tcp:10.0.2.100:81-[::1]:8081")
    expect(typeof v6 === "string" ? v6 : ruleOfGuestFwd(defaultConfig, v6).target).toBe("[::1]:8081")
    expect(guestFwdFromRule({ proto: "udp" as "tcp", serverAddr: "", serverPort: 1, target: "1.2.3.4:5" })).toBe('proto "udp" must be tcp')
    expect(parseGuestFwd("tcp::80-unix:")).toBe("the unix socket path is empty")
    expect(parseGuestFwd(`tcp::80-unix:/${"x".repeat(120)}`)).toMatch(/is longer than 107 bytes$/)
  })
})
