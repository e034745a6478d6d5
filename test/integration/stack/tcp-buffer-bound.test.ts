import { describe, expect, it } from "vitest"
import { createStack } from "../../../src/protocol/stack/stack.ts"
import { defaultConfig, validateConfig } from "../../../src/protocol/stack/config.ts"
import { defaultTcpConfig } from "../../../src/protocol/tcp/config.ts"

describe("stack: TCP buffer bound per connection", () => {
  it("is the TCP default (512 KiB) at MTU 1500 and 8000 (32 segments fit in it)", () => {
    for (const mtu of [1500, 8000]) {
      expect(createStack({ ...defaultConfig, mtu }).tcp.config.bufferBytes, `mtu ${mtu}`).toBe(defaultTcpConfig.bufferBytes)
    }
    expect(defaultTcpConfig.bufferBytes).toBe(512 * 1024)
  })

  it("holds 32 full segments at a jumbo MTU (32000: 1,024,000 bytes; 65000: 2,080,000 bytes)", () => {
    expect(createStack({ ...defaultConfig, mtu: 32000 }).tcp.config.bufferBytes).toBe(1_024_000)
    expect(createStack({ ...defaultConfig, mtu: 65000 }).tcp.config.bufferBytes).toBe(2_080_000)
  })

  it("a configured bound wins over the MTU rule (datagram links set 256 KiB at MTU 65000); out-of-range bounds are refused", () => {
    expect(createStack({ ...defaultConfig, mtu: 65000, tcpBufferBytes: 256 * 1024 }).tcp.config.bufferBytes).toBe(256 * 1024)
    expect(createStack({ ...defaultConfig, tcpBufferBytes: 64 * 1024 }).tcp.config.bufferBytes).toBe(64 * 1024)
    expect(validateConfig({ ...defaultConfig, tcpBufferBytes: 1000 })).toContainEqual(expect.stringContaining("tcpBufferBytes 1000"))
    expect(validateConfig({ ...defaultConfig, tcpBufferBytes: 1024 * 1024 })).toEqual([])
  })
})
