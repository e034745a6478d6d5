/**
 * Test helpers: the real `tslirp` CLI as a child process, and a guest that speaks QEMU's
 * stream framing (or one-frame datagrams) to it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createSocket, type Socket as UdpSocket } from "node:dgram"
import { connect, type Socket } from "node:net"
import { fileURLToPath } from "node:url"
import { encodeFrame, StreamDecoder } from "../../../src/runtime/link/stream-framing.ts"

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url))
export const NODE = `${ROOT}node_modules/.bin/node`
export const MAIN = `${ROOT}src/runtime/cli/main.ts`

export class CliProcess {
  readonly child: ChildProcess
  stdout = ""
  stderr = ""
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(args: ReadonlyArray<string>, command: ReadonlyArray<string> = [NODE, MAIN]) {
    this.child = spawn(command[0]!, [...command.slice(1), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    this.child.stdout!.on("data", (d: Buffer) => (this.stdout += d.toString()))
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()))
    this.exited = new Promise((resolve) => this.child.on("exit", (code, signal) => resolve({ code, signal })))
  }

  /** Resolves with the first match of `re` in stdout (or stderr), or fails after `ms`. */
  waitFor(re: RegExp, stream: "stdout" | "stderr" = "stdout", ms = 20_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let done = false
      const finish = (m: RegExpMatchArray | undefined, why: string): void => {
        if (done) return
        done = true
        clearInterval(timer)
        clearTimeout(deadline)
        if (m !== undefined) resolve(m)
        else reject(new Error(`${why}; stdout: ${this.stdout}; stderr: ${this.stderr}`))
      }
      const check = (): void => {
        const m = this[stream].match(re)
        if (m !== null) finish(m, "")
      }
      const timer = setInterval(check, 20)
      const deadline = setTimeout(() => finish(undefined, `no ${re} on ${stream} within ${ms} ms`), ms)
      // Output may still be in the pipe when the process exits: look once more, then give up.
      void this.exited.then(() => setTimeout(() => (check(), finish(undefined, `tslirp exited before ${re}`)), 100))
      check()
    })
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    return this.exited
  }
}

/** Collects frames from the guest side and waits for one that matches. */
class FrameInbox {
  readonly frames: Array<Uint8Array> = []
  private waiters: Array<() => void> = []
  push(frame: Uint8Array): void {
    this.frames.push(frame.slice())
    for (const w of this.waiters.splice(0)) w()
  }
  next<T>(pick: (f: Uint8Array) => T | undefined, ms = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      let seen = 0
      const look = (): boolean => {
        for (; seen < this.frames.length; seen++) {
          const v = pick(this.frames[seen]!)
          if (v !== undefined) {
            this.frames.splice(seen, 1)
            resolve(v)
            return true
          }
        }
        return false
      }
      const deadline = setTimeout(() => reject(new Error(`no matching frame within ${ms} ms (${this.frames.length} others)`)), ms)
      const wait = (): void => {
        if (look()) clearTimeout(deadline)
        else this.waiters.push(wait)
      }
      wait()
    })
  }
}

export class StreamGuest extends FrameInbox {
  readonly socket: Socket
  readonly closed: Promise<void>
  private readonly decoder = new StreamDecoder()

  private constructor(socket: Socket) {
    super()
    this.socket = socket
    socket.on("data", (chunk: Buffer) => void this.decoder.push(chunk, (f) => this.push(f)))
    this.closed = new Promise((resolve) => socket.on("close", () => resolve()))
    socket.on("error", () => undefined)
  }

  static open(target: { path: string } | { host: string; port: number }): Promise<StreamGuest> {
    return new Promise((resolve, reject) => {
      const socket = connect(target as never, () => resolve(new StreamGuest(socket)))
      socket.once("error", reject)
    })
  }

  send(...frames: ReadonlyArray<Uint8Array>): void {
    for (const f of frames) this.socket.write(encodeFrame(f))
  }
  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes)
  }
  close(): void {
    this.socket.destroy()
  }
}

export class DatagramGuest extends FrameInbox {
  readonly socket: UdpSocket
  private readonly remote: { host: string; port: number }
  private constructor(socket: UdpSocket, remote: { host: string; port: number }) {
    super()
    this.socket = socket
    this.remote = remote
    socket.on("message", (m) => this.push(m))
  }
  static open(localPort: number, remote: { host: string; port: number }): Promise<DatagramGuest> {
    return new Promise((resolve) => {
      const s = createSocket("udp4")
      s.bind(localPort, "127.0.0.1", () => resolve(new DatagramGuest(s, remote)))
    })
  }
  get port(): number {
    return this.socket.address().port
  }
  send(frame: Uint8Array): void {
    this.socket.send(frame, this.remote.port, this.remote.host)
  }
  close(): void {
    this.socket.close()
  }
}
