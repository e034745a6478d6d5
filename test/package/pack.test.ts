/**
 * The package as a user gets it: `npm pack` (which builds dist/ in `prepack`), the tarball
 * installed into a fresh project outside the repository, and used from there: both entries
 * imported from JavaScript, the README's examples run, a strict TypeScript consumer
 * type-checked against the shipped declarations (module nodenext, skipLibCheck off, no
 * allowImportingTsExtensions), `npx tslirp --help`, and `tslirp --socket` up to its ready line.
 * The tarball's file list is printed; it holds no tests, traces, CI scripts or sources.
 *
 * Needs the npm registry (the tarball's dependencies are installed as a user's would be).
 */
import { type ChildProcess, spawn, spawnSync, type SpawnSyncReturns } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readmeBlock } from "../support/readme.ts"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const BIN = join(ROOT, "node_modules/.bin")
// The repository's Node 24 and tsc first, as `npm test` has them.
const env = { ...process.env, PATH: `${BIN}${delimiter}${process.env["PATH"] ?? ""}`, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" }
const dir = mkdtempSync(join(tmpdir(), "tslirp-package-"))
const project = join(dir, "consumer")

const run = (cmd: string, args: ReadonlyArray<string>, cwd: string, timeout = 240_000): SpawnSyncReturns<string> => {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} in ${cwd} failed (${r.status ?? r.signal}): ${r.error?.message ?? ""}\n${r.stdout}\n${r.stderr}`)
  return r
}

let files: Array<string> = []

beforeAll(() => {
  // --json: the last thing on stdout is the JSON report; prepack's output comes before it.
  const packed = run("npm", ["pack", "--json", "--pack-destination", dir], ROOT)
  const report = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m))) as Array<{ filename: string; files: Array<{ path: string }> }>
  const tarball = join(dir, report[0]!.filename)
  files = report[0]!.files.map((f) => f.path).sort()
  console.log(`tarball ${report[0]!.filename}, ${files.length} files:\n  ${files.join("\n  ")}`)
  const typesNode = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> }).devDependencies["@types/node"]!
  mkdirSync(project, { recursive: true })
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "tslirp-consumer", private: true, type: "module" }, null, 2))
  run("npm", ["install", tarball, `@types/node@${typesNode}`], project)
}, 600_000)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

const ARP_REPLY_TO_GUEST = /^to guest: 525400123456[0-9a-f]{12}08060001080006040002[0-9a-f]{12}0a0002025254001234560a00020f/

describe("the packed tslirp, installed into a project outside the repository", () => {
  it("the tarball holds the build, the command, the addon's sources and the README; no tests, traces or CI", () => {
    expect(files).toContain("dist/index.js")
    expect(files).toContain("dist/index.d.ts")
    expect(files).toContain("dist/node.js")
    expect(files).toContain("dist/runtime/cli/main.js")
    expect(files).toContain("dist/index.js.map")
    expect(files).toContain("bin/tslirp.js")
    expect(files).toContain("native/build.sh")
    const unexpected = files.filter((f) => !/^(dist\/|bin\/|native\/[^/]+\.(c|h|gyp|sh)$|README\.md$|package\.json$)/.test(f))
    expect(unexpected).toEqual([])
    expect(files.filter((f) => /(^|\/)(test|tests|traces|\.ci|scripts|src)\//.test(f) || /\.test\.(ts|js)$/.test(f))).toEqual([])
  })

  it("imports tslirp and tslirp/node from JavaScript; the core has no Node runtime in it", () => {
    writeFileSync(
      join(project, "imports.mjs"),
      [
        'import * as core from "tslirp"',
        'import * as node from "tslirp/node"',
        "console.log(JSON.stringify({",
        "  core: ['createStack', 'reduce', 'stackConfig', 'EmbeddedStack', 'openSession', 'createMockHost', 'attachE1000', 'createSyncE1000', 'StreamDecoder', 'pcapGlobalHeader'].filter((n) => core[n] === undefined),",
        "  node: ['NodeStack', 'nodeHostDeps', 'nodeHostLayer', 'serveGuests', 'listenUnix', 'connectStreamLink', 'openPcapFile', 'parseCli', 'loadAddon'].filter((n) => node[n] === undefined),",
        "  coreHasNode: 'NodeStack' in core,",
        "}))",
      ].join("\n"),
    )
    const r = run("node", ["imports.mjs"], project)
    expect(JSON.parse(r.stdout)).toEqual({ core: [], node: [], coreHasNode: false })
  })

  it("runs the README's Node example (tslirp/node) and its any-runtime example (tslirp)", () => {
    writeFileSync(join(project, "embed.mjs"), readmeBlock("js", 'from "tslirp/node"'))
    const embed = run("node", ["embed.mjs"], project, 30_000)
    expect(embed.stdout).toMatch(ARP_REPLY_TO_GUEST)
    expect(embed.stderr).toBe("")
    // Node strips the types of a .ts file outside node_modules: the README's block as written.
    writeFileSync(join(project, "any-runtime.ts"), readmeBlock("ts", "EmbeddedStack("))
    const any = run("node", ["any-runtime.ts"], project, 30_000)
    expect(any.stdout).toBe("to guest: 60 bytes, ethertype 0x806\n")
  })

  it("type-checks a strict TypeScript consumer against the shipped declarations (nodenext, skipLibCheck off)", () => {
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", skipLibCheck: false, noEmit: true, types: ["node"] },
        include: ["consumer.ts", "any-runtime.ts"],
      }),
    )
    writeFileSync(
      join(project, "consumer.ts"),
      [
        'import { attachE1000, ConfigError, stackConfig, type FrameLink, type StackConfig } from "tslirp"',
        'import { NodeStack, parseCli, type NodeStackOptions } from "tslirp/node"',
        'const config: StackConfig = stackConfig({ net: "10.0.2.0/24", dnsUpstream: "127.0.0.1:5353" })',
        "const options: NodeStackOptions = { logLevel: \"warn\" }",
        "const stack = new NodeStack({ mtu: config.mtu }, options)",
        "const off: () => void = stack.onFrameToGuest((frame: Uint8Array) => void frame.length)",
        "const ram = new Uint8Array(1 << 20)",
        "const nic = attachE1000({ memory: { read: (a, n) => ram.subarray(a, a + n), write: (a, d) => ram.set(d, a) }, onIrq: (level: boolean) => void level, link: stack })",
        "const link: FrameLink = { send: () => undefined, onFrame: () => () => undefined, close: () => undefined }",
        "const parsed = parseCli([\"--socket\", \"/tmp/x.sock\"], () => undefined)",
        "if (parsed._tag === \"Run\") console.log(parsed.options.links.length)",
        "console.log(new ConfigError(\"x\").message, nic.irq, link, off)",
        "// @ts-expect-error the address is text or a number",
        "stackConfig({ host: true })",
        "nic.close()",
      ].join("\n"),
    )
    const r = spawnSync(join(BIN, "tsc"), ["-p", project], { cwd: project, env, encoding: "utf8", timeout: 120_000 })
    expect(`${r.stdout}${r.stderr}`).toBe("")
    expect(r.status).toBe(0)
  })

  it("type-checks a browser consumer of tslirp without Node's types (lib dom, types [], bundler resolution)", () => {
    const web = join(project, "web")
    mkdirSync(web, { recursive: true })
    writeFileSync(
      join(web, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { strict: true, module: "esnext", moduleResolution: "bundler", target: "es2022", lib: ["es2022", "dom"], types: [], skipLibCheck: false, noEmit: true },
        include: ["web.ts"],
      }),
    )
    writeFileSync(
      join(web, "web.ts"),
      [
        'import { attachE1000, createMockHost, EmbeddedStack, makeLogger, type FrameLink } from "tslirp"',
        "const host = createMockHost()",
        'const stack = new EmbeddedStack({ dnsUpstream: "none" }, host.deps(makeLogger("warn", (line) => console.warn(line))), 1)',
        "const ram = new Uint8Array(1 << 20)",
        "const nic = attachE1000({ memory: { read: (a, n) => ram.subarray(a, a + n), write: (a, d) => ram.set(d, a) }, onIrq: () => undefined, link: stack, nowNs: () => performance.now() * 1e6 })",
        "const link: FrameLink = { send: () => undefined, onFrame: () => () => undefined, close: () => undefined }",
        "console.log(nic.irq, link)",
      ].join("\n"),
    )
    const r = spawnSync(join(BIN, "tsc"), ["-p", web], { cwd: web, env, encoding: "utf8", timeout: 120_000 })
    expect(`${r.stdout}${r.stderr}`).toBe("")
    expect(r.status).toBe(0)
  })

  it("npx tslirp --help, and tslirp --socket up to its ready line, then a clean exit on SIGTERM", async () => {
    const help = run("npx", ["--no-install", "tslirp", "--help"], project, 60_000)
    expect(help.stdout).toMatch(/^Usage: tslirp \[options\]/)
    const sock = join(dir, "t.sock")
    const child: ChildProcess = spawn(join(project, "node_modules/.bin/tslirp"), ["--socket", sock, "--dns-upstream", "none"], { cwd: project, env, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on("data", () => out.includes("\n") && resolve())
        void exited.then(() => reject(new Error(`tslirp exited before its ready line: ${out} ${err}`)))
      })
      expect(out).toBe(`tslirp: ready on unix:${sock} (QEMU: -netdev stream,id=n0,server=off,addr.type=unix,addr.path=${sock} -device e1000,netdev=n0)\n`)
      child.kill("SIGTERM")
      expect(await exited).toBe(0)
    } finally {
      child.kill("SIGKILL")
    }
  })
})
