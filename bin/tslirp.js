#!/usr/bin/env node
// The `tslirp` command: runs src/runtime/cli/main.ts on a Node that strips TypeScript types
// (>= 22.19). If the Node running this file is older, re-runs main.ts with the Node 24 that the
// package's `node` devDependency installs, passing arguments, stdio, signals and exit code.
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../src/runtime/cli/main.ts", import.meta.url))
const [major, minor] = process.versions.node.split(".").map(Number)
const stripsTypes = major > 22 || (major === 22 && minor >= 19)

const newerNode = () => {
  try {
    const pkg = createRequire(import.meta.url).resolve("node/package.json")
    const bin = join(dirname(pkg), "bin", "node")
    if (existsSync(bin)) return bin
  } catch {
    // Not installed: fall through to the local .bin link.
  }
  const local = fileURLToPath(new URL("../node_modules/.bin/node", import.meta.url))
  return existsSync(local) ? local : undefined
}

if (stripsTypes && process.env.TSLIRP_FORCE_SPAWN === undefined) {
  await import(main)
} else {
  const node = newerNode()
  if (node === undefined) {
    process.stderr.write(`tslirp: needs Node >= 22.19 (this is ${process.versions.node}); run npm install to get the node package\n`)
    process.exit(1)
  }
  const child = spawn(node, [main, ...process.argv.slice(2)], { stdio: "inherit" })
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal)
    else process.exit(code ?? 1)
  })
}
