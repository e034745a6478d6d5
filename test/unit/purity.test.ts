/**
 * The pure core stays pure: nothing under src/protocol, src/device or src/effects touches the
 * world (DESIGN.md: "Only src/runtime may touch the world"). A grep, cheap and blunt on purpose;
 * comments are stripped first so a contract comment may name what the code must not do. Nor
 * does it keep module-level mutable state (issue 7): no top-level `let`/`var`, no top-level
 * Map/Set/WeakMap/WeakSet/ArrayBuffer (a pooled allocator is created by the runtime and passed in).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"

const ROOT = new URL("../../", import.meta.url).pathname
const PURE_DIRS = ["src/protocol", "src/device", "src/effects"]

const FORBIDDEN: ReadonlyArray<readonly [string, RegExp]> = [
  ["node: import", /\bfrom\s*["']node:|\bimport\s*\(\s*["']node:|\bimport\s+["']node:/],
  ["bare Node builtin import", /\bfrom\s*["'](fs|net|dgram|os|path|child_process|crypto|timers|perf_hooks|process|dns|http|https|worker_threads)(\/[^"']*)?["']/],
  ["Date.now", /\bDate\s*\.\s*now\b/],
  ["new Date(", /\bnew\s+Date\s*\(/],
  ["Math.random", /\bMath\s*\.\s*random\b/],
  ["setTimeout", /\bsetTimeout\b/],
  ["setInterval", /\bsetInterval\b/],
  ["setImmediate", /\bsetImmediate\b/],
  ["queueMicrotask", /\bqueueMicrotask\b/],
  ["process.", /\bprocess\s*\./],
  ["performance.now", /\bperformance\s*\.\s*now\b/],
  ["require(", /\brequire\s*\(/],
  ["crypto.getRandomValues", /\bcrypto\s*\.\s*(getRandomValues|randomUUID)\b/],
  // Top level is column 0 in our formatting; nested declarations are indented.
  ["module-level let/var", /^(export\s+)?(let|var)\s/],
  ["module-level mutable collection", /^(export\s+)?const\s+\w+(\s*:[^=]+)?\s*=\s*new\s+(Map|Set|WeakMap|WeakSet|ArrayBuffer)\b/],
]

/** Removes // and /* *\/ comments, keeping strings and line numbers (good enough for our code). */
const stripComments = (src: string): string => {
  let out = ""
  let i = 0
  let quote: string | undefined
  while (i < src.length) {
    const c = src[i]!
    const n = src[i + 1]
    if (quote !== undefined) {
      out += c
      if (c === "\\") {
        out += n ?? ""
        i += 2
        continue
      }
      if (c === quote) quote = undefined
      i++
    } else if (c === '"' || c === "'" || c === "`") {
      quote = c
      out += c
      i++
    } else if (c === "/" && n === "/") {
      while (i < src.length && src[i] !== "\n") i++
    } else if (c === "/" && n === "*") {
      i += 2
      while (i < src.length && !(src[i] === "*" && src[i + 1] === "/")) {
        if (src[i] === "\n") out += "\n"
        i++
      }
      i += 2
    } else {
      out += c
      i++
    }
  }
  return out
}

const sourceFiles = (dir: string): Array<string> => {
  if (!existsSync(dir)) return []
  const out: Array<string> = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p))
    else if (/\.(ts|mts|cts|js|mjs)$/.test(name)) out.push(p)
  }
  return out
}

const violations = (files: ReadonlyArray<string>, read: (f: string) => string = (f) => readFileSync(f, "utf8")): Array<string> => {
  const found: Array<string> = []
  for (const file of files) {
    const lines = stripComments(read(file)).split("\n")
    lines.forEach((line, i) => {
      for (const [what, re] of FORBIDDEN) if (re.test(line)) found.push(`${relative(ROOT, file)}:${i + 1}: [${what}] ${line.trim()}`)
    })
  }
  return found
}

describe("purity", () => {
  it("purity: src/protocol, src/device and src/effects never touch the world nor keep module-level mutable state", () => {
    const files = PURE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d)))
    expect(files.length).toBeGreaterThan(10) // the scan really ran over the tree
    const found = violations(files)
    expect(found, `forbidden in pure code:\n${found.join("\n")}`).toEqual([])
  })

  it("purity: the scan catches each forbidden form and ignores comments", () => {
    const sample = [
      `import { readFileSync } from "node:fs"`,
      `import * as net from 'net'`,
      `const t = Date.now()`,
      `const d = new Date()`,
      `const r = Math.random()`,
      `setTimeout(f, 1)`,
      `setInterval(f, 1)`,
      `if (process.env.X) {}`,
      `const p = performance.now()`,
      `const m = require("x")`,
      `const m2 = await import("node:os")`,
      `// Date.now() in a comment is fine`,
      `/* Math.random() too,`,
      `   and setTimeout */ const ok = 1`,
      `const s = "a // not a comment"; Math.random()`,
      `let cursor = 0`,
      `export let x = 1`,
      `const slabs = new WeakSet<ArrayBuffer>()`,
      `export const cache: Map<string, number> = new Map()`,
      `  let inside = 0 // nested: fine`,
      `const table = [1, 2, 3] // a constant: fine`,
    ].join("\n")
    const found = violations(["/virtual/sample.ts"], () => sample)
    expect(found.map((f) => /\[(.*?)\]/.exec(f)?.[1])).toEqual([
      "node: import",
      "bare Node builtin import",
      "Date.now",
      "new Date(",
      "Math.random",
      "setTimeout",
      "setInterval",
      "process.",
      "performance.now",
      "require(",
      "node: import",
      "Math.random",
      "module-level let/var",
      "module-level let/var",
      "module-level mutable collection",
      "module-level mutable collection",
    ])
  })
})
