/**
 * Child processes for the network-namespace harness: run a command to completion with a
 * timeout, or start one in the background and keep its output for error messages.
 *
 * Contract: `runCommand` never throws for a non-zero exit or a timeout (it reports them in the
 * result); `mustRun` throws with the command line and its stderr. A background process keeps at
 * most the last 64 KiB of its stdout+stderr, and `stop` ends it by its own pid (SIGTERM, then
 * SIGKILL after a grace period) and waits for it.
 */
import { spawn, type ChildProcess } from "node:child_process"

export interface CommandResult {
  readonly argv: ReadonlyArray<string>
  /** Exit code, or null when killed by a signal (for example by the timeout). */
  readonly code: number | null
  readonly timedOut: boolean
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly timeoutMs?: number
  readonly input?: string
  readonly env?: Readonly<Record<string, string>>
}

export const describeResult = (r: CommandResult): string =>
  `\`${r.argv.join(" ")}\` ${r.timedOut ? "timed out" : `exited with ${r.code}`}` +
  (r.stderr.trim() === "" ? "" : `\nstderr: ${r.stderr.trim()}`) +
  (r.stdout.trim() === "" ? "" : `\nstdout: ${r.stdout.trim()}`)

/** Run `argv` to completion; a missing executable becomes a result with code 127. */
export const runCommand = (argv: ReadonlyArray<string>, options: RunOptions = {}): Promise<CommandResult> =>
  new Promise((resolve) => {
    const [file, ...args] = argv
    if (file === undefined) throw new Error("runCommand: empty argv")
    const child = spawn(file, args, {
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: options.env === undefined ? process.env : { ...process.env, ...options.env },
    })
    let stdout = ""
    let stderr = ""
    let timedOut = false
    child.stdout?.setEncoding("utf8").on("data", (s: string) => (stdout += s))
    child.stderr?.setEncoding("utf8").on("data", (s: string) => (stderr += s))
    if (options.input !== undefined) child.stdin?.end(options.input)
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            child.kill("SIGKILL")
          }, options.timeoutMs)
    child.on("error", (err) => {
      clearTimeout(timer)
      resolve({ argv, code: 127, timedOut, stdout, stderr: `${stderr}${err.message}` })
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ argv, code, timedOut, stdout, stderr })
    })
  })

export const mustRun = async (argv: ReadonlyArray<string>, options: RunOptions = {}): Promise<string> => {
  const r = await runCommand(argv, { timeoutMs: 30_000, ...options })
  if (r.code !== 0 || r.timedOut) throw new Error(describeResult(r))
  return r.stdout
}

const OUTPUT_LIMIT = 64 * 1024

/** A long-running child whose output is kept (bounded) for diagnostics. */
export class Background {
  readonly name: string
  readonly child: ChildProcess
  private output = ""
  private exited: Promise<void>
  exitCode: number | null = null
  exitSignal: NodeJS.Signals | null = null
  hasExited = false
  private lineWaiters: Array<{ pattern: RegExp; resolve: () => void }> = []

  constructor(name: string, argv: ReadonlyArray<string>, extraFds: number = 0) {
    const [file, ...args] = argv
    if (file === undefined) throw new Error("Background: empty argv")
    this.name = name
    const stdio: Array<"ignore" | "pipe"> = ["ignore", "pipe", "pipe"]
    for (let i = 0; i < extraFds; i++) stdio.push("pipe")
    this.child = spawn(file, args, { stdio })
    const append = (s: string): void => {
      this.output = (this.output + s).slice(-OUTPUT_LIMIT)
      this.lineWaiters = this.lineWaiters.filter((w) => {
        if (!w.pattern.test(this.output)) return true
        w.resolve()
        return false
      })
    }
    this.child.stdout?.setEncoding("utf8").on("data", append)
    this.child.stderr?.setEncoding("utf8").on("data", append)
    this.exited = new Promise((resolve) => {
      this.child.on("error", (err) => {
        append(`\n[spawn error: ${err.message}]`)
        this.hasExited = true
        resolve()
      })
      this.child.on("exit", (code, signal) => {
        this.exitCode = code
        this.exitSignal = signal
        this.hasExited = true
        resolve()
      })
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /** The kept output, for error messages. */
  log(): string {
    return this.output
  }

  describeExit(): string {
    return this.exitSignal !== null ? `killed by ${this.exitSignal}` : `exited with ${this.exitCode}`
  }

  /** Resolve when the output matches `pattern`; reject when the process exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    if (pattern.test(this.output)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.name}: no output matching ${pattern} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.lineWaiters.push({
        pattern,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
      void this.exited.then(() => {
        clearTimeout(timer)
        if (pattern.test(this.output)) resolve()
        else reject(new Error(`${this.name} ${this.describeExit()} before printing ${pattern}`))
      })
    })
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs: number = 2_000): Promise<void> {
    if (this.hasExited || this.child.pid === undefined) return
    this.child.kill("SIGTERM")
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs)
    await this.exited
    clearTimeout(timer)
  }

  /** Synchronous last resort (process exit hooks): SIGKILL by pid. */
  killNow(): void {
    if (!this.hasExited) this.child.kill("SIGKILL")
  }

  wait(): Promise<void> {
    return this.exited
  }
}
