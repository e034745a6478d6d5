import { describe, expect, it } from "vitest"
import {
  classifyIcmpError,
  classifySendError,
  SO_EE_ORIGIN_ICMP,
  SO_EE_ORIGIN_ICMP6,
  SO_EE_ORIGIN_LOCAL,
} from "../../../src/runtime/node/icmp/icmp-error.ts"

// errno values as Linux reports them in sock_extended_err.ee_errno.
const EHOSTUNREACH = 113
const ENETUNREACH = 101
const ECONNREFUSED = 111
const EPROTO = 71
const EMSGSIZE = 90
const EACCES = 13

describe("classifyIcmpError: ICMPv4 (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1)", () => {
  const v4 = (type: number, code: number, errno: number, info = 0) =>
    classifyIcmpError(SO_EE_ORIGIN_ICMP, type, code, errno, info)

  it.each([
    [0, "net"],
    [1, "host"],
    [2, "protocol"],
    [3, "port"],
    [5, "host"],
    [6, "net"],
    [7, "host"],
    [8, "host"],
    [9, "admin"],
    [10, "admin"],
    [11, "net"],
    [12, "host"],
    [13, "admin"],
    [14, "admin"],
    [15, "admin"],
  ] as const)("destination unreachable code %i -> %s", (code, reason) => {
    expect(v4(3, code, EHOSTUNREACH)).toEqual({ _tag: "Unreachable", reason })
  })

  it("fragmentation needed carries the next-hop MTU (RFC 1191)", () => {
    expect(v4(3, 4, EMSGSIZE, 1400)).toEqual({ _tag: "Unreachable", reason: "fragmentation-needed", mtu: 1400 })
  })

  it("fragmentation needed from an old router (MTU 0) has no MTU", () => {
    expect(v4(3, 4, EMSGSIZE, 0)).toEqual({ _tag: "Unreachable", reason: "fragmentation-needed" })
  })

  it("an unassigned unreachable code is treated as host unreachable", () => {
    expect(v4(3, 200, EHOSTUNREACH)).toEqual({ _tag: "Unreachable", reason: "host" })
  })

  it("time exceeded in transit and in reassembly -> ttl-exceeded", () => {
    expect(v4(11, 0, EHOSTUNREACH)).toEqual({ _tag: "Unreachable", reason: "ttl-exceeded" })
    expect(v4(11, 1, EHOSTUNREACH)).toEqual({ _tag: "Unreachable", reason: "ttl-exceeded" })
  })

  it("parameter problem is an error, not an unreachability", () => {
    expect(v4(12, 0, EPROTO)).toEqual({ _tag: "Error", errno: EPROTO })
  })
})

describe("classifyIcmpError: ICMPv6 (RFC 4443)", () => {
  const v6 = (type: number, code: number, errno: number, info = 0) =>
    classifyIcmpError(SO_EE_ORIGIN_ICMP6, type, code, errno, info)

  it.each([
    [0, "net"],
    [1, "admin"],
    [2, "host"],
    [3, "host"],
    [4, "port"],
    [5, "admin"],
    [6, "admin"],
  ] as const)("destination unreachable code %i -> %s", (code, reason) => {
    expect(v6(1, code, ENETUNREACH)).toEqual({ _tag: "Unreachable", reason })
  })

  it("packet too big carries the MTU (§3.2)", () => {
    expect(v6(2, 0, EMSGSIZE, 1280)).toEqual({ _tag: "Unreachable", reason: "fragmentation-needed", mtu: 1280 })
  })

  it("time exceeded -> ttl-exceeded (§3.3)", () => {
    expect(v6(3, 0, EHOSTUNREACH)).toEqual({ _tag: "Unreachable", reason: "ttl-exceeded" })
  })

  it("parameter problem is an error (§3.4)", () => {
    expect(v6(4, 1, EPROTO)).toEqual({ _tag: "Error", errno: EPROTO })
  })
})

describe("classifyIcmpError: errors raised by the local host", () => {
  it("local EMSGSIZE is fragmentation-needed with the path MTU", () => {
    expect(classifyIcmpError(SO_EE_ORIGIN_LOCAL, 0, 0, EMSGSIZE, 1500)).toEqual({
      _tag: "Unreachable",
      reason: "fragmentation-needed",
      mtu: 1500,
    })
  })

  it("any other local error is passed through as its errno", () => {
    expect(classifyIcmpError(SO_EE_ORIGIN_LOCAL, 0, 0, ECONNREFUSED, 0)).toEqual({ _tag: "Error", errno: ECONNREFUSED })
    expect(classifyIcmpError(0, 0, 0, EACCES, 0)).toEqual({ _tag: "Error", errno: EACCES })
  })
})

describe("classifySendError", () => {
  it.each([
    ["EHOSTUNREACH", "host"],
    ["ENETUNREACH", "net"],
    ["EACCES", "admin"],
    ["EPERM", "admin"],
  ] as const)("%s -> unreachable %s", (code, reason) => {
    expect(classifySendError(code)).toEqual({ _tag: "Unreachable", reason })
  })

  it.each(["EAGAIN", "ENOBUFS", "EINVAL", "EMSGSIZE"])("%s -> plain error", (code) => {
    expect(classifySendError(code)).toEqual({ _tag: "Error", code })
  })
})
