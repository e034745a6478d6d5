/**
 * Child processes for the end-to-end harness: spawned (optionally inside a network namespace
 * with `ip netns exec`, which execs the command, so the pid is the command's own), their stdout
 * and stderr kept line by line for failure messages, a wait for a line that says "ready", and a
 * stop that always ends them (SIGTERM, then SIGKILL). Tests never leave one of these running.
 */
import { spawn, type ChildProcess } from "node:child_process"

export interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface ManagedProcess {
  readonly name: string
  readonly child: ChildProcess
  /** Everything the process printed so far, stderr lines prefixed with "! ". */
  readonly output: () => string
  /** Resolves with the first line (either stream) that matches; rejects on exit or timeout. */
  readonly waitForLine: (match: (line: string) => boolean, timeoutMs: number) => Promise<string>
  readonly exited: Promise<ProcessExit>
  readonly stop: () => Promise<ProcessExit>
}

export const inNetns = (netns: string | undefined, argv: ReadonlyArray<string>): string[] =>
  netns === undefined ? [...argv] : ["ip", "netns", "exec", netns, ...argv]

/** Keep failure messages readable: the last `max` lines of a log. */
export const tail = (text: string, max = 80): string => {
  const lines = text.split("\n")
  return lines.length <= max ? text : [`... (${lines.length - max} earlier lines)`, ...lines.slice(-max)].join("\n")
}

export const startProcess = (
  name: string,
  argv: ReadonlyArray<string>,
  options: { readonly netns?: string; readonly cwd?: string; readonly onLine?: (line: string, stream: "stdout" | "stderr") => void } = {},
): ManagedProcess => {
  const [command, ...args] = inNetns(options.netns, argv)
  // stdin stays a pipe: helpers written for this harness exit when it closes, so they cannot
  // outlive a test process that dies without cleaning up.
  const child = spawn(command!, args, { cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] })
  const lines: string[] = []
  const waiters = new Set<(line: string) => void>()
  const partial = { stdout: "", stderr: "" }

  const feed = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
    const text = partial[stream] + chunk.toString("utf8")
    const parts = text.split("\n")
    partial[stream] = parts.pop() ?? ""
    for (const line of parts) {
      lines.push(stream === "stderr" ? `! ${line}` : line)
      options.onLine?.(line, stream)
      for (const waiter of waiters) waiter(line)
    }
  }
  child.stdout.on("data", feed("stdout"))
  child.stderr.on("data", feed("stderr"))
  child.stdin.on("error", () => {}) // EPIPE when the child is gone: nothing to do

  const exited = new Promise<ProcessExit>((resolve) => {
    child.on("error", (error) => {
      lines.push(`! spawn error: ${error.message}`)
      resolve({ code: null, signal: null })
    })
    child.on("exit", (code, signal) => resolve({ code, signal }))
  })
  let exit: ProcessExit | undefined
  void exited.then((e) => {
    exit = e
  })

  const output = (): string => [...lines, ...(partial.stdout === "" ? [] : [partial.stdout]), ...(partial.stderr === "" ? [] : [`! ${partial.stderr}`])].join("\n")

  const waitForLine = (match: (line: string) => boolean, timeoutMs: number): Promise<string> => {
    const seen = lines.find((l) => match(l.startsWith("! ") ? l.slice(2) : l))
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer)
        waiters.delete(onLine)
      }
      const onLine = (line: string): void => {
        if (!match(line)) return
        finish()
        resolve(line)
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`${name}: no ready line within ${timeoutMs} ms\n${tail(output())}`))
      }, timeoutMs)
      waiters.add(onLine)
      void exited.then((e) => {
        if (!waiters.has(onLine)) return
        finish()
        reject(new Error(`${name} exited (code ${e.code}, signal ${e.signal}) before it was ready\n${tail(output())}`))
      })
    })
  }

  const stop = async (): Promise<ProcessExit> => {
    if (exit !== undefined) return exit
    child.stdin.end()
    child.kill("SIGTERM")
    const killer = setTimeout(() => child.kill("SIGKILL"), 3_000)
    const e = await exited
    clearTimeout(killer)
    return e
  }

  return { name, child, output, waitForLine, exited, stop }
}
