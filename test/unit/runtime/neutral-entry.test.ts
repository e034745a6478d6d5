/**
 * The neutral core stays neutral: the import graph under `tslirp` (src/index.ts) reaches no
 * `node:*` module, no bare Node builtin, no Node-only package and not the native addon, so the
 * core runs in a browser or any other runtime (test/browser bundles it for one). Walks the
 * static and dynamic imports of every reachable file (comments stripped first).
 */
import { readFileSync } from "node:fs"
import { builtinModules } from "node:module"
import { dirname, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const ROOT = fileURLToPath(new URL("../../../", import.meta.url))

const stripComments = (src: string): string => src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1")

const SPECIFIER = /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\brequire\s*\(\s*["']([^"']+)["']\s*\)/g

/** Every file reachable from `entry` by relative imports, and every non-relative specifier. */
const walk = (entry: string): { files: Array<string>; external: Map<string, string> } => {
  const files: Array<string> = []
  const external = new Map<string, string>() // specifier -> first importer
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    files.push(file)
    const text = stripComments(readFileSync(file, "utf8"))
    for (const m of text.matchAll(SPECIFIER)) {
      const spec = m[1] ?? m[2] ?? m[3]!
      // `import type` is erased: it cannot load anything at run time.
      if (/^\s*(?:import|export)\s+type\b/.test(m[0])) continue
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec))
      else if (!external.has(spec)) external.set(spec, relative(ROOT, file))
    }
  }
  visit(resolve(ROOT, entry))
  return { files, external }
}

const NODE_ONLY_PACKAGES = ["@effect/platform-node", "@effect/platform-node-shared"]

const violations = (entry: string): Array<string> => {
  const { files, external } = walk(entry)
  const found: Array<string> = []
  for (const [spec, from] of external) {
    const base = spec.replace(/^node:/, "").split("/")[0]!
    if (spec.startsWith("node:") || builtinModules.includes(base)) found.push(`${from}: Node builtin "${spec}"`)
    else if (NODE_ONLY_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) found.push(`${from}: Node-only package "${spec}"`)
  }
  for (const f of files) {
    const r = relative(ROOT, f)
    if (r.startsWith("src/runtime/node/") || r.startsWith("native/") || r.endsWith(".node")) found.push(`${r}: Node runtime or addon`)
    if (/\bprocess\s*\.|\bBuffer\s*\./.test(stripComments(readFileSync(f, "utf8")))) found.push(`${r}: uses process or Buffer`)
  }
  return found
}

describe("the neutral entry (tslirp)", () => {
  it("reaches no node:*, no Node builtin, no Node-only package, no addon, no process or Buffer", () => {
    const { files } = walk("src/index.ts")
    expect(files.length).toBeGreaterThan(40) // the walk really followed the graph
    expect(files.map((f) => relative(ROOT, f))).toContain("src/runtime/e1000/attach.ts")
    expect(violations("src/index.ts")).toEqual([])
  })

  it("the walk catches what it looks for: tslirp/node reaches node:net and the addon, the CLI platform-node", () => {
    const found = violations("src/node.ts")
    expect(found.some((v) => v.includes('Node builtin "node:net"'))).toBe(true)
    expect(violations("src/runtime/cli/main.ts").some((v) => v.includes('Node-only package "@effect/platform-node"'))).toBe(true)
    expect(found.some((v) => v.startsWith("src/runtime/node/addon.ts: Node runtime or addon"))).toBe(true)
  })
})
