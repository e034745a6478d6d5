#!/usr/bin/env node
// The `tslirp` command. Installed from the package it runs the compiled dist/runtime/cli/main.js
// on the Node running this file (22.19 or later, else one line and exit 1). In a git checkout (src/ present) it runs src/runtime/cli/main.ts,
// which needs a Node that strips TypeScript types (>= 22.19); on an older Node it re-runs main.ts
// with the Node 24 of the package's `node` devDependency, passing arguments, stdio, signals and
// the exit code. That child has an IPC channel to this process and stops when it closes, so it
// never outlives the wrapper, even one killed with SIGKILL (src/runtime/cli/main.ts).
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const source = fileURLToPath(new URL("../src/runtime/cli/main.ts", import.meta.url))
const built = fileURLToPath(new URL("../dist/runtime/cli/main.js", import.meta.url))
const [major, minor] = process.versions.node.split(".").map(Number)
const stripsTypes = major > 22 || (major === 22 && minor >= 19)
const fromSource = existsSync(source)

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

const forceSpawn = process.env.TSLIRP_FORCE_SPAWN !== undefined
if (!fromSource && !forceSpawn) {
  // Installed: the package's dependencies (effect 4) need Node 22.19 or later, as `engines` says.
  if (!stripsTypes) {
    process.stderr.write(`tslirp: needs Node >= 22.19 (this is ${process.versions.node}); https://nodejs.org or \`nvm install 24\`\n`)
    process.exit(1)
  }
  await import(built)
} else if (fromSource && stripsTypes && !forceSpawn) {
  await import(source)
} else {
  const node = fromSource ? newerNode() : process.execPath
  if (node === undefined) {
    process.stderr.write(`tslirp: needs Node >= 22.19 (this is ${process.versions.node}); run npm install to get the node package\n`)
    process.exit(1)
  }
  const child = spawn(node, [fromSource ? source : built, ...process.argv.slice(2)], { stdio: ["inherit", "inherit", "inherit", "ipc"] })
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => {
    if (signal !== null) {
      // Die of the same signal: drop our forwarding handler first, or it would swallow it.
      process.removeAllListeners(signal)
      process.kill(process.pid, signal)
    } else process.exit(code ?? 1)
  })
}
