import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { readmeBlock } from "../support/readme.ts"

const root = fileURLToPath(new URL("../../", import.meta.url))
const node = `${root}node_modules/.bin/node`

describe("the README's embedding examples", () => {
  it("on Node: runs, gets the gateway's ARP reply and exits by itself once the stack is closed", () => {
    const r = spawnSync(node, [`${root}test/examples/embed.ts`], { encoding: "utf8", timeout: 20_000 })
    expect(r.status).toBe(0)
    expect(r.stderr).toBe("")
    // Ethernet to the guest, ARP reply (opcode 2) from 10.0.2.2 to 10.0.2.15.
    expect(r.stdout).toMatch(/^to guest: 525400123456[0-9a-f]{12}08060001080006040002[0-9a-f]{12}0a0002025254001234560a00020f/)
    expect(r.stdout.trim().split("\n")).toHaveLength(1)
  })

  it("on any runtime: the mocked host's ports give the same ARP reply", () => {
    const r = spawnSync(node, [`${root}test/examples/any-runtime.ts`], { encoding: "utf8", timeout: 20_000 })
    expect(r.status).toBe(0)
    expect(r.stderr).toBe("")
    expect(r.stdout).toBe("to guest: 60 bytes, ethertype 0x806\n")
  })

  it("the README shows these files as they are, importing from the package", () => {
    const embed = readFileSync(`${root}test/examples/embed.ts`, "utf8").replace('"../../src/node.ts"', '"tslirp/node"')
    expect(readmeBlock("js", 'from "tslirp/node"')).toBe(embed)
    const any = readFileSync(`${root}test/examples/any-runtime.ts`, "utf8").replace('"../../src/index.ts"', '"tslirp"')
    expect(readmeBlock("ts", "EmbeddedStack(")).toBe(any)
  })
})
