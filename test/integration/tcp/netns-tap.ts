/**
 * A network namespace with a TAP device bridged to us over stdio by tap-bridge.py: the "guest"
 * is Linux's own network stack. Frames are delivered to `onFrame`; `send` writes one.
 * Needs root and python3: throws a clear error without them.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"

export interface NetnsTap {
  readonly ns: string
  readonly send: (frame: Uint8Array) => void
  readonly exec: (argv: ReadonlyArray<string>, timeoutMs?: number) => Promise<{ code: number | null; stdout: string; stderr: string }>
  readonly close: () => Promise<void>
}

const run = (argv: ReadonlyArray<string>): void => {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" })
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr || r.error?.message}`)
}

/** `setup` runs inside the namespace after the TAP device exists (addresses, routes, MTU). */
export const startNetnsTap = async (setup: ReadonlyArray<ReadonlyArray<string>>, onFrame: (frame: Uint8Array) => void): Promise<NetnsTap> => {
  if (process.getuid?.() !== 0) throw new Error("this test needs root (network namespaces, /dev/net/tun)")
  if (spawnSync("python3", ["--version"]).status !== 0) throw new Error("this test needs python3")
  const ns = `tslirp-tcp-${process.pid}-${Math.floor(Math.random() * 1e6)}`
  run(["ip", "netns", "add", ns])
  const bridge: ChildProcess = spawn("ip", ["netns", "exec", ns, "python3", new URL("./tap-bridge.py", import.meta.url).pathname, "tap0"], {
    stdio: ["pipe", "pipe", "pipe"],
  })
  await new Promise<void>((resolve, reject) => {
    bridge.stderr!.once("data", (d: Buffer) => (d.toString().includes("ready") ? resolve() : reject(new Error(d.toString()))))
    bridge.once("exit", (c) => reject(new Error(`tap bridge exited ${c}`)))
  })
  for (const cmd of setup) run(["ip", "netns", "exec", ns, ...cmd])
  let pending: Buffer = Buffer.alloc(0)
  bridge.stdout!.on("data", (d: Buffer) => {
    pending = pending.length === 0 ? d : Buffer.concat([pending, d])
    while (pending.length >= 4) {
      const n = pending.readUInt32BE(0)
      if (pending.length < 4 + n) break
      onFrame(new Uint8Array(pending.subarray(4, 4 + n)))
      pending = pending.subarray(4 + n)
    }
  })
  const send = (frame: Uint8Array): void => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(frame.length)
    bridge.stdin!.write(Buffer.concat([len, frame]))
  }
  const exec = (argv: ReadonlyArray<string>, timeoutMs = 60_000) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
      child.on("close", (code) => {
        clearTimeout(t)
        resolve({ code, stdout, stderr })
      })
    })
  const close = async (): Promise<void> => {
    bridge.kill("SIGKILL")
    await new Promise((r) => setTimeout(r, 50))
    spawnSync("ip", ["netns", "del", ns])
  }
  return { ns, send, exec, close }
}
