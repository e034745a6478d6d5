/**
 * The neutral core in a browser: `tslirp` (src/index.ts) bundles with esbuild for
 * `--platform=browser` (which refuses any Node builtin it cannot resolve), the bundle names no
 * Node module, and the pure stack on the mocked host runs from that bundle inside a bare
 * JavaScript context that has only web-platform globals (no process, Buffer, require).
 */
import { fileURLToPath } from "node:url"
import { runInNewContext } from "node:vm"
import { build } from "esbuild"
import { describe, expect, it } from "vitest"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))

const bundle = async (): Promise<{ code: string; inputs: Array<string> }> => {
  const r = await build({
    entryPoints: [`${ROOT}src/index.ts`],
    bundle: true,
    platform: "browser",
    format: "iife",
    globalName: "tslirp",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
  })
  return { code: r.outputFiles[0]!.text, inputs: Object.keys(r.metafile.inputs) }
}

/** What a browser (or a worker) offers; deliberately nothing Node-specific. */
const webGlobals = () => ({
  console,
  performance,
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval,
  queueMicrotask,
  TextEncoder,
  TextDecoder,
  URL,
  crypto: globalThis.crypto,
})

const ARP_WHO_HAS_GATEWAY =
  "ffffffffffff" + "525400123456" + "0806" + "0001080006040001" + "525400123456" + "0a00020f" + "000000000000" + "0a000202"

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
const fromHex = (s: string): Uint8Array => new Uint8Array(s.match(/../g)!.map((x) => parseInt(x, 16)))

describe("tslirp in a browser", () => {
  it("bundles for --platform=browser with no Node module, and runs the stack on the mocked host in a bare context", async () => {
    const { code, inputs } = await bundle()
    expect(inputs.some((i) => i.endsWith("src/protocol/stack/stack.ts"))).toBe(true)
    expect(inputs.filter((i) => i.startsWith("node:") || i.includes("src/runtime/node/") || i.includes("platform-node"))).toEqual([])
    expect(code).not.toMatch(/\brequire\(\s*["'](node:)?(fs|net|dgram|os|path|child_process|crypto|module|url|util)["']\s*\)/)

    const sandbox: Record<string, unknown> = { ...webGlobals(), ARP: fromHex(ARP_WHO_HAS_GATEWAY) }
    sandbox["globalThis"] = sandbox
    const script = `${code}
      ;(() => {
        const host = tslirp.createMockHost()
        const guest = host.attach(tslirp.stackConfig({ net: "10.0.2.0/24", dnsUpstream: "none" }))
        // The ARP reply comes inside fromGuest; guest.send would also settle the host (an Effect).
        guest.session.fromGuest(ARP)
        const viaMock = guest.take()
        const out = []
        const logs = { enabled: () => false, log: () => undefined }
        const stack = new tslirp.EmbeddedStack({}, host.deps(logs), 7)
        stack.onFrameToGuest((f) => out.push(f.slice()))
        stack.fromGuest(ARP)
        stack.close()
        return { viaMock, viaEmbedded: out, hasProcess: typeof process !== "undefined", hasBuffer: typeof Buffer !== "undefined" }
      })()`
    const r = runInNewContext(script, sandbox) as { viaMock: Array<Uint8Array>; viaEmbedded: Array<Uint8Array>; hasProcess: boolean; hasBuffer: boolean }
    expect([r.hasProcess, r.hasBuffer]).toEqual([false, false])
    for (const frames of [r.viaMock, r.viaEmbedded]) {
      expect(frames).toHaveLength(1)
      // An ARP reply (opcode 2) from 10.0.2.2 to the guest at 10.0.2.15.
      expect(hex(frames[0]!)).toMatch(/^525400123456[0-9a-f]{12}08060001080006040002[0-9a-f]{12}0a0002025254001234560a00020f/)
    }
  })
})
