import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../../", import.meta.url))

describe("the README's embedding example", () => {
  it("runs, gets the gateway's ARP reply and exits by itself once the stack is closed", () => {
    const r = spawnSync(`${root}node_modules/.bin/node`, [`${root}test/examples/embed.ts`], { encoding: "utf8", timeout: 20_000 })
    expect(r.status).toBe(0)
    expect(r.stderr).toBe("")
    // Ethernet to the guest, ARP reply (opcode 2) from 10.0.2.2 to 10.0.2.15.
    expect(r.stdout).toMatch(/^to guest: 525400123456[0-9a-f]{12}08060001080006040002[0-9a-f]{12}0a0002025254001234560a00020f/)
    expect(r.stdout.trim().split("\n")).toHaveLength(1)
  })
})
