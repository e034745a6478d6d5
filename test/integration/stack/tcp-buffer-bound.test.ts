import { describe, expect, it } from "vitest"
import { createStack } from "../../../src/protocol/stack/stack.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { defaultTcpConfig } from "../../../src/protocol/tcp/config.ts"

describe("stack: TCP buffer bound per connection", () => {
  it("is the TCP default (256 KiB) at MTU 1500 and 8000 (32 segments fit in it)", () => {
    for (const mtu of [1500, 8000]) {
      expect(createStack({ ...defaultConfig, mtu }).tcp.config.bufferBytes, `mtu ${mtu}`).toBe(defaultTcpConfig.bufferBytes)
    }
    expect(defaultTcpConfig.bufferBytes).toBe(256 * 1024)
  })

  it("holds 32 full segments at a jumbo MTU (32000: 1,024,000 bytes; 65000: 2,080,000 bytes)", () => {
    expect(createStack({ ...defaultConfig, mtu: 32000 }).tcp.config.bufferBytes).toBe(1_024_000)
    expect(createStack({ ...defaultConfig, mtu: 65000 }).tcp.config.bufferBytes).toBe(2_080_000)
  })
})
