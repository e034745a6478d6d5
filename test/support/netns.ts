/**
 * A Linux network namespace as the guest of a user-mode network backend.
 *
 *   namespace NS: lo + TAP (MTU n) ── QEMU `-M none`: tap t0 ─ hub 0 ─ backend b0 ── tslirp / libslirp
 *
 * QEMU emulates no CPU here: it only relays frames between its tap and the backend through a
 * hub, so the namespace's own kernel (its TCP, its DHCP client, ping, iperf3) is the guest.
 * slirp4netns is the one backend without QEMU: it opens the tap inside the namespace itself.
 *
 * Contract: `createNetnsGuest` returns a guest whose TAP is up with the chosen MTU and lo up,
 * with no address (call `configureStatic`, or run a DHCP client). Every name (namespace, tap,
 * temp dir) is unique to this process and call. `destroy` (idempotent) kills, by pid, every
 * process the guest started and every process still inside the namespace, deletes the
 * namespace, `/etc/netns/NS` and the temp dir; a failed `createNetnsGuest` cleans up what it
 * made before throwing, and a process exit hook removes whatever is still alive. Needs root,
 * `ip`, `qemu-system-x86_64` and, per backend, `node`/`slirp4netns`/`unshare`: a missing tool
 * is an error with its name, never a silent pass.
 */
import { execFileSync } from "node:child_process"
import { createSocket } from "node:dgram"
import { createServer } from "node:net"
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { absurd } from "../../src/effects/absurd.ts"
import { Background, describeResult, mustRun, runCommand, type CommandResult, type RunOptions } from "./netns-process.ts"

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url))
export const NODE = join(REPO_ROOT, "node_modules/.bin/node")
export const TSLIRP_MAIN = join(REPO_ROOT, "src/runtime/cli/main.ts")
export const QEMU = "qemu-system-x86_64"

export interface UdpEndpoint {
  readonly host: string
  readonly port: number
}

/** Where the hub's second port leads. */
export type Backend =
  /** tslirp listening on a unix socket, QEMU `-netdev stream,server=off`. */
  | { readonly _tag: "TslirpStream"; readonly extraArgs?: ReadonlyArray<string>; readonly main?: string }
  /** tslirp on UDP (`--udp LOCAL,REMOTE`), QEMU `-netdev dgram`: one frame per datagram. */
  | { readonly _tag: "TslirpDgram"; readonly extraArgs?: ReadonlyArray<string>; readonly main?: string }
  /**
   * QEMU's own libslirp (`-netdev user`), the reference. libslirp forwards DNS to the first
   * `nameserver` of /etc/resolv.conf; with `nameserver` set, QEMU runs in a private mount
   * namespace where /etc/resolv.conf holds only that line (the host's file is never used).
   */
  | { readonly _tag: "Libslirp"; readonly nameserver?: string; /** appended to `user,id=b0` (",hostfwd=..."). */ readonly netdevOptions?: string }
  /** slirp4netns (libslirp inside its own process), tap opened by it in the namespace. */
  | { readonly _tag: "Slirp4netns" }
  /** QEMU `-netdev stream` to a stream server the caller runs at `path` (a relay, say). */
  | { readonly _tag: "QemuStream"; readonly path: string }
  /** QEMU `-netdev dgram` between `local` (QEMU's socket) and `remote` (the caller's). */
  | { readonly _tag: "QemuDgram"; readonly local: UdpEndpoint; readonly remote: UdpEndpoint }

export interface NetnsGuestOptions {
  readonly backend: Backend
  /** MTU of the guest's interface and, for tslirp/slirp4netns, of the backend. Default 1500. */
  readonly mtu?: number
  /** tslirp `--dns-upstream`. */
  readonly dnsUpstream?: string
  /** Written to /etc/netns/NS/resolv.conf, which `ip netns exec` shows as /etc/resolv.conf. */
  readonly guestResolvConf?: string
  /** Extra arguments for the node running tslirp (e.g. `--cpu-prof`, `--cpu-prof-dir=DIR`). */
  readonly tslirpNodeArgs?: ReadonlyArray<string>
  /** Bound on backend start-up (tslirp's ready line, QEMU's tap). Default 20 s. */
  readonly startTimeoutMs?: number
}

export interface NetnsGuest {
  readonly ns: string
  /** The guest's interface name (same inside the namespace as the tap had on the host). */
  readonly ifname: string
  readonly tmp: string
  readonly mtu: number
  readonly backend: Backend
  /** Run argv inside the namespace; never throws for a non-zero exit. */
  exec(argv: ReadonlyArray<string>, options?: RunOptions): Promise<CommandResult>
  /** Run argv inside the namespace; throws (with stderr) unless it exits 0. */
  run(argv: ReadonlyArray<string>, options?: RunOptions): Promise<string>
  /** Start argv inside the namespace in the background; stopped by `destroy`. */
  spawn(name: string, argv: ReadonlyArray<string>): Background
  /** Static IPv4 address and default route, as a DHCP client would set them. */
  configureStatic(cidr?: string, gateway?: string): Promise<void>
  /** Output of the backend processes (tslirp, QEMU, slirp4netns), for failure messages. */
  diagnostics(): string
  /** Whether every backend process is still running. */
  backendAlive(): boolean
  destroy(): Promise<void>
}

let counter = 0
const live = new Set<GuestImpl>()
let exitHookInstalled = false

const installExitHook = (): void => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on("exit", () => {
    for (const g of live) g.destroySync()
  })
}

/** A UDP port on 127.0.0.1 that was free a moment ago. */
export const freeUdpPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createSocket("udp4")
    s.on("error", reject)
    s.bind(0, "127.0.0.1", () => {
      const port = s.address().port
      s.close(() => resolve(port))
    })
  })

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export const freeTcpPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Fail with a clear message when a tool the harness needs is absent. */
export const requireTools = async (tools: ReadonlyArray<string>): Promise<void> => {
  const missing: string[] = []
  for (const tool of tools) {
    const r = await runCommand(["sh", "-c", `command -v "$0"`, tool], { timeoutMs: 5_000 })
    if (r.code !== 0) missing.push(tool)
  }
  if (missing.length > 0) throw new Error(`netns harness: missing tool(s): ${missing.join(", ")}`)
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new Error("netns harness: needs root (network namespaces, taps)")
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

class GuestImpl implements NetnsGuest {
  readonly ns: string
  readonly ifname: string
  readonly tmp: string
  readonly mtu: number
  readonly backend: Backend
  private readonly backendProcs: Background[] = []
  private readonly spawned: Background[] = []
  private destroyed = false
  private nsCreated = false
  private etcNetnsCreated = false

  constructor(options: NetnsGuestOptions) {
    counter += 1
    this.ns = `tsn${process.pid.toString(36)}x${counter}`
    this.ifname = `${this.ns}t`
    if (this.ifname.length > 15) throw new Error(`netns harness: interface name ${this.ifname} too long`)
    this.tmp = mkdtempSync(join(tmpdir(), "tslirp-netns-"))
    this.mtu = options.mtu ?? 1500
    this.backend = options.backend
    live.add(this)
    installExitHook()
  }

  async start(options: NetnsGuestOptions): Promise<void> {
    const timeoutMs = options.startTimeoutMs ?? 20_000
    await mustRun(["ip", "netns", "add", this.ns])
    this.nsCreated = true
    if (options.guestResolvConf !== undefined) {
      mkdirSync(`/etc/netns/${this.ns}`, { recursive: true })
      this.etcNetnsCreated = true
      writeFileSync(`/etc/netns/${this.ns}/resolv.conf`, options.guestResolvConf)
    }
    await mustRun(["ip", "-n", this.ns, "link", "set", "lo", "up"])
    const b = this.backend
    switch (b._tag) {
      case "Slirp4netns":
        await this.startSlirp4netns(timeoutMs)
        break
      case "TslirpStream": {
        const sock = join(this.tmp, "tslirp.sock")
        await this.startTslirp(["--socket", sock, ...(b.extraArgs ?? [])], options, timeoutMs, b.main)
        await this.startQemu([`stream,id=b0,server=off,addr.type=unix,addr.path=${sock}`], undefined, timeoutMs)
        break
      }
      case "TslirpDgram": {
        const qemuPort = await freeUdpPort()
        const tslirpPort = await freeUdpPort()
        await this.startTslirp(
          ["--udp", `127.0.0.1:${tslirpPort},127.0.0.1:${qemuPort}`, ...(b.extraArgs ?? [])],
          options,
          timeoutMs,
          b.main,
        )
        await this.startQemu([dgramNetdev({ host: "127.0.0.1", port: qemuPort }, { host: "127.0.0.1", port: tslirpPort })], undefined, timeoutMs)
        break
      }
      case "Libslirp":
        await this.startQemu([`user,id=b0${b.netdevOptions ?? ""}`], b.nameserver, timeoutMs)
        break
      case "QemuStream":
        await this.startQemu([`stream,id=b0,server=off,addr.type=unix,addr.path=${b.path}`], undefined, timeoutMs)
        break
      case "QemuDgram":
        await this.startQemu([dgramNetdev(b.local, b.remote)], undefined, timeoutMs)
        break
      default:
        return absurd(b)
    }
    await mustRun(["ip", "-n", this.ns, "link", "set", "dev", this.ifname, "mtu", String(this.mtu), "up"])
  }

  /** `main`: the CLI entry of another checkout (the benchmark's baseline build); default this one's. */
  private async startTslirp(args: ReadonlyArray<string>, options: NetnsGuestOptions, timeoutMs: number, main = TSLIRP_MAIN): Promise<void> {
    const argv = [NODE, ...(options.tslirpNodeArgs ?? []), main, ...args, "--mtu", String(this.mtu)]
    if (options.dnsUpstream !== undefined) argv.push("--dns-upstream", options.dnsUpstream)
    const p = new Background("tslirp", argv)
    this.backendProcs.push(p)
    await p.waitFor(/ready/i, timeoutMs)
  }

  private async startQemu(netdev: ReadonlyArray<string>, nameserver: string | undefined, timeoutMs: number): Promise<void> {
    const qemu = [
      QEMU,
      "-M",
      "none",
      "-accel",
      "tcg",
      "-nographic",
      "-nodefaults",
      "-netdev",
      `tap,id=t0,ifname=${this.ifname},script=no,downscript=no`,
      ...netdev.flatMap((n) => ["-netdev", n]),
      "-netdev",
      "hubport,id=h0,hubid=0,netdev=t0",
      "-netdev",
      "hubport,id=h1,hubid=0,netdev=b0",
    ]
    let argv: string[] = qemu
    if (nameserver !== undefined) {
      // libslirp reads /etc/resolv.conf for its DNS forwarder: give this QEMU a private one.
      const resolv = join(this.tmp, "resolv.conf")
      writeFileSync(resolv, `nameserver ${nameserver}\n`)
      argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv, ...qemu]
    }
    const p = new Background("qemu", argv)
    this.backendProcs.push(p)
    // QEMU creates the tap on the host at start-up; move it into the namespace once it exists.
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const r = await runCommand(["ip", "link", "show", "dev", this.ifname], { timeoutMs: 5_000 })
      if (r.code === 0) break
      if (p.hasExited) throw new Error(`QEMU ${p.describeExit()} before creating ${this.ifname}`)
      if (Date.now() > deadline) throw new Error(`QEMU did not create ${this.ifname} within ${timeoutMs} ms`)
      await sleep(50)
    }
    await mustRun(["ip", "link", "set", "dev", this.ifname, "netns", this.ns])
  }

  private async startSlirp4netns(timeoutMs: number): Promise<void> {
    // fd 3 is the ready pipe: slirp4netns writes "1" to it once the tap exists in the namespace.
    const p = new Background(
      "slirp4netns",
      ["slirp4netns", `--mtu=${this.mtu}`, "--netns-type=path", "--ready-fd=3", `/run/netns/${this.ns}`, this.ifname],
      1,
    )
    this.backendProcs.push(p)
    const ready = p.child.stdio[3]
    if (ready === null || ready === undefined || !("on" in ready)) throw new Error("slirp4netns: no ready pipe")
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`slirp4netns not ready within ${timeoutMs} ms`)), timeoutMs)
      ready.on("data", () => {
        clearTimeout(timer)
        resolve()
      })
      void p.wait().then(() => {
        clearTimeout(timer)
        reject(new Error(`slirp4netns ${p.describeExit()} before ready`))
      })
    })
  }

  exec(argv: ReadonlyArray<string>, options: RunOptions = {}): Promise<CommandResult> {
    return runCommand(["ip", "netns", "exec", this.ns, ...argv], { timeoutMs: 60_000, ...options })
  }

  async run(argv: ReadonlyArray<string>, options: RunOptions = {}): Promise<string> {
    const r = await this.exec(argv, options)
    if (r.code !== 0 || r.timedOut) throw new Error(describeResult(r))
    return r.stdout
  }

  spawn(name: string, argv: ReadonlyArray<string>): Background {
    const p = new Background(name, ["ip", "netns", "exec", this.ns, ...argv])
    this.spawned.push(p)
    return p
  }

  async configureStatic(cidr: string = "10.0.2.15/24", gateway: string = "10.0.2.2"): Promise<void> {
    await mustRun(["ip", "-n", this.ns, "addr", "add", cidr, "dev", this.ifname])
    await mustRun(["ip", "-n", this.ns, "route", "add", "default", "via", gateway])
  }

  diagnostics(): string {
    return this.backendProcs
      .map((p) => `--- ${p.name} (pid ${p.pid}, ${p.hasExited ? p.describeExit() : "running"}) ---\n${p.log()}`)
      .join("\n")
  }

  backendAlive(): boolean {
    return this.backendProcs.every((p) => !p.hasExited)
  }

  private async nsPids(): Promise<number[]> {
    if (!this.nsCreated) return []
    const r = await runCommand(["ip", "netns", "pids", this.ns], { timeoutMs: 5_000 })
    return r.stdout
      .split("\n")
      .map((s) => Number.parseInt(s, 10))
      .filter((n) => Number.isInteger(n) && n > 0)
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    for (const p of this.spawned) await p.stop(1_000)
    // Daemons the guest started (dhclient forks) are still in the namespace: end them by pid.
    for (const pid of await this.nsPids()) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
    for (const p of [...this.backendProcs].reverse()) await p.stop(2_000)
    if (this.nsCreated) await runCommand(["ip", "netns", "del", this.ns], { timeoutMs: 10_000 })
    // A tap QEMU made but we never moved disappears with QEMU; this covers a QEMU that hung.
    const stray = await runCommand(["ip", "link", "show", "dev", this.ifname], { timeoutMs: 5_000 })
    if (stray.code === 0) await runCommand(["ip", "link", "del", "dev", this.ifname], { timeoutMs: 5_000 })
    this.removeFiles()
    live.delete(this)
  }

  /** For the process exit hook: no awaiting possible, so SIGKILL and synchronous commands. */
  destroySync(): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const p of [...this.spawned, ...this.backendProcs]) p.killNow()
    if (this.nsCreated) {
      try {
        const pids = execFileSync("ip", ["netns", "pids", this.ns], { encoding: "utf8" })
        for (const s of pids.split("\n")) {
          const pid = Number.parseInt(s, 10)
          if (pid > 0) {
            try {
              process.kill(pid, "SIGKILL")
            } catch {
              // already gone
            }
          }
        }
        execFileSync("ip", ["netns", "del", this.ns], { stdio: "ignore" })
      } catch {
        // best effort at exit
      }
    }
    this.removeFiles()
    live.delete(this)
  }

  private removeFiles(): void {
    if (this.etcNetnsCreated) rmSync(`/etc/netns/${this.ns}`, { recursive: true, force: true })
    rmSync(this.tmp, { recursive: true, force: true })
  }
}

const dgramNetdev = (local: UdpEndpoint, remote: UdpEndpoint): string =>
  `dgram,id=b0,local.type=inet,local.host=${local.host},local.port=${local.port},` +
  `remote.type=inet,remote.host=${remote.host},remote.port=${remote.port}`

const toolsFor = (backend: Backend): string[] => {
  switch (backend._tag) {
    case "Slirp4netns":
      return ["ip", "slirp4netns"]
    case "Libslirp":
      return backend.nameserver === undefined ? ["ip", QEMU] : ["ip", QEMU, "unshare", "mount"]
    case "TslirpStream":
    case "TslirpDgram":
    case "QemuStream":
    case "QemuDgram":
      return ["ip", QEMU]
    default:
      return absurd(backend)
  }
}

/** Create the namespace guest; on any failure everything made so far is removed. */
export const createNetnsGuest = async (options: NetnsGuestOptions): Promise<NetnsGuest> => {
  await requireTools(toolsFor(options.backend))
  const guest = new GuestImpl(options)
  try {
    await guest.start(options)
    return guest
  } catch (err) {
    const detail = guest.diagnostics()
    await guest.destroy()
    const message = err instanceof Error ? err.message : String(err)
    throw new Error(`netns guest (${options.backend._tag}) failed to start: ${message}${detail === "" ? "" : `\n${detail}`}`)
  }
}

/** Create a guest, run `body`, and always destroy it. */
export const withNetnsGuest = async <A>(options: NetnsGuestOptions, body: (guest: NetnsGuest) => Promise<A>): Promise<A> => {
  const guest = await createNetnsGuest(options)
  try {
    return await body(guest)
  } finally {
    await guest.destroy()
  }
}
