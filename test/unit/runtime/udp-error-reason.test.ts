/**
 * How a failed host UDP send reads to the guest (`udpErrorReason`, shared by the native and
 * the node:dgram implementation of the UDP port).
 */
import { describe, expect, it } from "vitest"
import { udpErrorReason } from "../../../src/runtime/node/udp.ts"

describe("udpErrorReason", () => {
  it.each([
    ["ECONNREFUSED", "port"],
    ["EHOSTUNREACH", "host"],
    ["ENETUNREACH", "net"],
    ["EACCES", "admin"],
    ["EPERM", "admin"],
    ["EMSGSIZE", "fragmentation-needed"],
  ])("%s -> %s", (code, reason) => {
    expect(udpErrorReason(code)).toBe(reason)
  })

  it.each(["EINVAL", "ENOBUFS", "EAGAIN", "EBADF", "EIO", ""])("%s is not an unreachability", (code) => {
    expect(udpErrorReason(code)).toBeUndefined()
  })
})
