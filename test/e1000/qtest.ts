/**
 * qtest.ts: a driver for QEMU's qtest protocol, for running QEMU 7.2's e1000 without a guest.
 *
 * Contract:
 * - `Qtest.start()` spawns `qemu-system-x86_64 -accel qtest -qtest stdio` with the qtest
 *   accelerator module built by scripts/e1000/build-qtest.sh, a QMP socket (for `set_link`),
 *   and one `-device e1000` whose network backend is `-netdev dgram` between two loopback UDP
 *   sockets: QEMU's and one owned here. Frames QEMU transmits are collected in `transmitted`;
 *   `sendFrame` puts a frame on the wire towards QEMU.
 * - Commands are sent one at a time, in order; each returns the text after `OK`. A `FAIL` or
 *   `ERR` answer rejects. Asynchronous `IRQ raise|lower N` lines go to `irqEvents` in arrival
 *   order (QEMU prints them before the `OK` of the command that caused them).
 * - `close()` kills QEMU and removes the temporary directory; call it in `finally`.
 * This file touches the world (processes, sockets, files): it lives in test/, never in src/.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process"
import { createSocket, type Socket as UdpSocket } from "node:dgram"
import { connect, type Socket as UnixSocket } from "node:net"
import { mkdtempSync, rmSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, dirname } from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

export interface QtestOptions {
  /** "52:54:00:12:34:56" */
  readonly mac: string
  /** PCI slot of the e1000 on bus 0 (default 3). */
  readonly slot?: number
  /** Extra `-device e1000` properties, e.g. "romfile=" (default "romfile=" : no ROM BAR). */
  readonly deviceProps?: string
  readonly guestMemoryMiB?: number
}

export interface IrqEvent {
  readonly line: number
  readonly level: boolean
}

/** Builds (or finds in the cache) the qtest accelerator module; returns its directory. */
export const buildQtestModule = (): string => {
  const script = join(repoRoot, "scripts", "e1000", "build-qtest.sh")
  try {
    return execFileSync("sh", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim()
  } catch (e) {
    const err = e as { stderr?: string; message: string }
    throw new Error(`cannot build the qtest accelerator module: ${err.stderr ?? err.message}`)
  }
}

/**
 * QEMU must not outlive the process driving it. `setpriv --pdeathsig KILL` (util-linux) makes
 * the kernel kill it when its parent dies, even by SIGKILL; the exit hook covers crashes where
 * setpriv is missing.
 */
const live = new Set<ChildProcess>()
let exitHookInstalled = false
const hasSetpriv = ((): boolean => {
  try {
    execFileSync("setpriv", ["--help"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()
const spawnGuarded = (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): ChildProcess => {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once("exit", () => {
      for (const c of live) c.kill("SIGKILL")
    })
  }
  const child = hasSetpriv
    ? spawn("setpriv", ["--pdeathsig", "KILL", command, ...args], { env, stdio: ["pipe", "pipe", "pipe"] })
    : spawn(command, [...args], { env, stdio: ["pipe", "pipe", "pipe"] })
  live.add(child)
  child.once("exit", () => live.delete(child))
  return child
}

const reservePort = async (): Promise<number> => {
  const s = createSocket("udp4")
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve))
  const port = s.address().port
  await new Promise<void>((resolve) => s.close(resolve))
  return port
}

interface Pending {
  readonly command: string
  resolve(value: string): void
  reject(err: Error): void
}

export class Qtest {
  readonly transmitted: Array<Uint8Array> = []
  readonly irqEvents: Array<IrqEvent> = []
  readonly qemuPort: number
  private readonly child: ChildProcess
  private readonly udp: UdpSocket
  private readonly dir: string
  private readonly pending: Array<Pending> = []
  private buffer = ""
  private stderr = ""
  private exited: string | undefined
  private qmp: UnixSocket | undefined
  private qmpBuffer = ""
  private qmpWaiters: Array<(msg: Record<string, unknown>) => void> = []
  private readonly qmpEvents: Array<string> = []

  private constructor(child: ChildProcess, udp: UdpSocket, dir: string, qemuPort: number) {
    this.child = child
    this.udp = udp
    this.dir = dir
    this.qemuPort = qemuPort
    udp.on("message", (msg) => this.transmitted.push(new Uint8Array(msg)))
    // A dead QEMU shows up through "exit"/"error"; writes to its stdin then fail with EPIPE.
    child.stdin!.on("error", () => {})
    child.stdout!.setEncoding("utf8")
    child.stdout!.on("data", (chunk: string) => this.onData(chunk))
    child.stderr!.setEncoding("utf8")
    child.stderr!.on("data", (chunk: string) => {
      this.stderr += chunk
    })
    child.on("error", (err) => {
      this.exited = `cannot run qemu-system-x86_64 (apt-get install qemu-system-x86): ${err.message}`
      for (const p of this.pending.splice(0)) p.reject(new Error(this.exited))
    })
    child.on("exit", (code, signal) => {
      this.exited = `QEMU exited (code ${code}, signal ${signal}): ${this.stderr.trim()}`
      for (const p of this.pending.splice(0)) p.reject(new Error(this.exited))
    })
  }

  static async start(opts: QtestOptions): Promise<Qtest> {
    const moduleDir = buildQtestModule()
    let lastError: unknown
    // The QEMU-side UDP port is reserved and released before QEMU binds it; another process
    // may take it in between, so a bind failure is retried with a fresh port.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        return await Qtest.tryStart(opts, moduleDir)
      } catch (e) {
        lastError = e
        if (!String(e).includes("ddress already in use")) break
      }
    }
    throw lastError
  }

  private static async tryStart(opts: QtestOptions, moduleDir: string): Promise<Qtest> {
    const udp = createSocket("udp4")
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve))
    const ourPort = udp.address().port
    const qemuPort = await reservePort()
    const dir = mkdtempSync(join(tmpdir(), "tslirp-qtest-"))
    const qmpPath = join(dir, "qmp.sock")
    const slot = opts.slot ?? 3
    const props = opts.deviceProps ?? "romfile="
    const args = [
      "-machine", "pc", "-accel", "qtest",
      "-qtest", "stdio", "-qtest-log", "/dev/null",
      "-display", "none", "-nodefaults",
      "-m", `${opts.guestMemoryMiB ?? 64}`,
      "-qmp", `unix:${qmpPath},server=on,wait=off`,
      "-netdev",
      `dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=${qemuPort},` +
        `remote.type=inet,remote.host=127.0.0.1,remote.port=${ourPort}`,
      "-device", `e1000,netdev=n0,mac=${opts.mac},addr=${slot.toString(16)}.0${props ? "," + props : ""}`,
    ]
    const child = spawnGuarded("qemu-system-x86_64", args, { ...process.env, QEMU_MODULE_DIR: moduleDir })
    const q = new Qtest(child, udp, dir, qemuPort)
    try {
      // The first command proves the accelerator loaded and the machine is up.
      await q.command("endianness")
      await q.connectQmp(qmpPath)
    } catch (e) {
      await q.close()
      throw e
    }
    return q
  }

  private onData(chunk: string): void {
    this.buffer += chunk
    for (;;) {
      const nl = this.buffer.indexOf("\n")
      if (nl < 0) return
      const line = this.buffer.slice(0, nl)
      this.buffer = this.buffer.slice(nl + 1)
      this.onLine(line)
    }
  }

  private onLine(line: string): void {
    const irq = /^IRQ (raise|lower) (\d+)$/.exec(line)
    if (irq) {
      this.irqEvents.push({ line: Number(irq[2]), level: irq[1] === "raise" })
      return
    }
    const p = this.pending.shift()
    if (!p) return
    if (line === "OK" || line.startsWith("OK ")) p.resolve(line.slice(3))
    else p.reject(new Error(`qtest "${p.command}" answered "${line}"`))
  }

  /** Sends one qtest command and resolves with the text after "OK". */
  command(text: string): Promise<string> {
    if (this.exited) return Promise.reject(new Error(this.exited))
    return new Promise((resolve, reject) => {
      this.pending.push({ command: text, resolve, reject })
      this.child.stdin!.write(text + "\n")
    })
  }

  async readl(addr: number): Promise<number> {
    return Number(BigInt((await this.command(`readl 0x${addr.toString(16)}`)).trim()))
  }
  async readw(addr: number): Promise<number> {
    return Number(BigInt((await this.command(`readw 0x${addr.toString(16)}`)).trim()))
  }
  async readb(addr: number): Promise<number> {
    return Number(BigInt((await this.command(`readb 0x${addr.toString(16)}`)).trim()))
  }
  async writel(addr: number, v: number): Promise<void> {
    await this.command(`writel 0x${addr.toString(16)} 0x${(v >>> 0).toString(16)}`)
  }
  async writew(addr: number, v: number): Promise<void> {
    await this.command(`writew 0x${addr.toString(16)} 0x${(v & 0xffff).toString(16)}`)
  }
  async writeb(addr: number, v: number): Promise<void> {
    await this.command(`writeb 0x${addr.toString(16)} 0x${(v & 0xff).toString(16)}`)
  }
  async inl(port: number): Promise<number> {
    return Number(BigInt((await this.command(`inl 0x${port.toString(16)}`)).trim()))
  }
  async inw(port: number): Promise<number> {
    return Number(BigInt((await this.command(`inw 0x${port.toString(16)}`)).trim()))
  }
  async inb(port: number): Promise<number> {
    return Number(BigInt((await this.command(`inb 0x${port.toString(16)}`)).trim()))
  }
  async outl(port: number, v: number): Promise<void> {
    await this.command(`outl 0x${port.toString(16)} 0x${(v >>> 0).toString(16)}`)
  }
  async outw(port: number, v: number): Promise<void> {
    await this.command(`outw 0x${port.toString(16)} 0x${(v & 0xffff).toString(16)}`)
  }
  async outb(port: number, v: number): Promise<void> {
    await this.command(`outb 0x${port.toString(16)} 0x${(v & 0xff).toString(16)}`)
  }

  /** Guest physical memory write. */
  async memWrite(addr: number, data: Uint8Array): Promise<void> {
    if (data.length === 0) return
    await this.command(`b64write 0x${addr.toString(16)} 0x${data.length.toString(16)} ${Buffer.from(data).toString("base64")}`)
  }

  /** Guest physical memory read. */
  async memRead(addr: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0)
    const b64 = (await this.command(`b64read 0x${addr.toString(16)} 0x${length.toString(16)}`)).trim()
    return new Uint8Array(Buffer.from(b64, "base64"))
  }

  /** Advances the virtual clock (running due timers); resolves with the new clock in ns. */
  async clockStep(ns: number): Promise<number> {
    return Number(await this.command(`clock_step ${ns}`))
  }

  /** A command with no side effect, to let QEMU's main loop run one more iteration. */
  async sync(): Promise<void> {
    await this.command("endianness")
  }

  /** PCI configuration mechanism #1 (ports 0xcf8/0xcfc), bus 0. */
  private cfgAddress(slot: number, fn: number, offset: number): number {
    return (0x80000000 | (slot << 11) | (fn << 8) | (offset & 0xfc)) >>> 0
  }
  async cfgRead(slot: number, fn: number, offset: number, size: 1 | 2 | 4): Promise<number> {
    await this.outl(0xcf8, this.cfgAddress(slot, fn, offset))
    const port = 0xcfc + (offset & 3)
    return size === 4 ? this.inl(port) : size === 2 ? this.inw(port) : this.inb(port)
  }
  async cfgWrite(slot: number, fn: number, offset: number, size: 1 | 2 | 4, value: number): Promise<void> {
    await this.outl(0xcf8, this.cfgAddress(slot, fn, offset))
    const port = 0xcfc + (offset & 3)
    if (size === 4) await this.outl(port, value)
    else if (size === 2) await this.outw(port, value)
    else await this.outb(port, value)
  }

  /** Puts one frame on the wire towards QEMU; resolves once the kernel has queued it. */
  sendFrame(frame: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      this.udp.send(frame, this.qemuPort, "127.0.0.1", (err) => (err ? reject(err) : resolve())),
    )
  }

  /**
   * Bytes waiting in QEMU's UDP socket (frames sent here that QEMU has not read yet), from
   * /proc/net/udp. QEMU stops reading while the e1000 cannot receive.
   */
  pendingInQemuSocket(): number {
    const hexPort = this.qemuPort.toString(16).toUpperCase().padStart(4, "0")
    const local = `0100007F:${hexPort}`
    for (const row of readFileSync("/proc/net/udp", "utf8").split("\n").slice(1)) {
      const cols = row.trim().split(/\s+/)
      if (cols[1] === local) return parseInt(cols[4]!.split(":")[1]!, 16)
    }
    return 0
  }

  private async connectQmp(path: string): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        this.qmp = await new Promise<UnixSocket>((resolve, reject) => {
          const s = connect(path)
          s.once("connect", () => resolve(s))
          s.once("error", reject)
        })
        break
      } catch (e) {
        if (i > 50) throw e
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    this.qmp.setEncoding("utf8")
    this.qmp.on("data", (chunk: string) => {
      this.qmpBuffer += chunk
      for (;;) {
        const nl = this.qmpBuffer.indexOf("\n")
        if (nl < 0) return
        const line = this.qmpBuffer.slice(0, nl).trim()
        this.qmpBuffer = this.qmpBuffer.slice(nl + 1)
        if (!line) continue
        const msg = JSON.parse(line) as Record<string, unknown>
        if ("event" in msg) {
          this.qmpEvents.push(String(msg.event))
          continue
        }
        this.qmpWaiters.shift()?.(msg)
      }
    })
    await new Promise<Record<string, unknown>>((resolve) => this.qmpWaiters.push(resolve)) // greeting
    await this.qmpCommand("qmp_capabilities")
  }

  async qmpCommand(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    const qmp = this.qmp
    if (!qmp) throw new Error("QMP not connected")
    const reply = await new Promise<Record<string, unknown>>((resolve) => {
      this.qmpWaiters.push(resolve)
      qmp.write(JSON.stringify(args ? { execute, arguments: args } : { execute }) + "\n")
    })
    if ("error" in reply) throw new Error(`QMP ${execute}: ${JSON.stringify(reply.error)}`)
    return reply.return
  }

  async setLink(up: boolean): Promise<void> {
    await this.qmpCommand("set_link", { name: "n0", up })
  }

  /**
   * Machine reset (QMP system_reset). QEMU only requests it; the main loop performs it later
   * and then emits the RESET event, so wait for that, letting the loop run with no-op commands.
   */
  async systemReset(): Promise<void> {
    const before = this.qmpEvents.filter((e) => e === "RESET").length
    await this.qmpCommand("system_reset")
    for (let i = 0; this.qmpEvents.filter((e) => e === "RESET").length === before; i++) {
      if (i > 1000) throw new Error("QEMU did not report RESET after system_reset")
      await this.sync()
      await new Promise((r) => setTimeout(r, 1))
    }
  }

  async close(): Promise<void> {
    this.qmp?.destroy()
    if (!this.exited) {
      const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()))
      this.child.kill("SIGKILL")
      await gone
    }
    await new Promise<void>((resolve) => this.udp.close(() => resolve()))
    rmSync(this.dir, { recursive: true, force: true })
  }
}
