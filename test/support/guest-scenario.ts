/**
 * One guest run, end to end: a fresh network namespace with only loopback, the host services
 * (DNS on 127.0.0.1:53, TFTP, ...) inside it, the backend (QEMU's own libslirp, or tslirp's CLI
 * on a unix socket) inside it, then QEMU booting the e2e guest with the given checks. Returns
 * everything a test needs to assert each check and to explain a failure; cleans up whatever
 * happens.
 *
 *   backend "libslirp": -netdev user,id=n0 (QEMU's libslirp; its DNS forwarder reads the
 *                       namespace's resolv.conf, which points at our DNS server)
 *   backend "tslirp":   -netdev stream,id=n0,server=off,addr.type=unix,addr.path=SOCK to
 *                       `tslirp --socket SOCK --dns-upstream 127.0.0.1:53 ...`
 *
 * `hostClient`: steps a host client runs (in the namespace, guest-host-client.ts) while the
 * guest runs, e.g. reaching a server in the guest through hostfwd; results in `hostResults`.
 *
 * With TSLIRP_E2E_ARTIFACTS=DIR in the environment, each run also keeps DIR/LABEL-BACKEND-TIME/
 * with console.txt, backend.log, services.log, events.json and guest.pcap (every frame on the
 * guest's NIC, recorded by QEMU, so both backends are captured the same way).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expect } from "vitest"
import { guestBudgetMs, guestImage, renderGuestScript, type GuestCheck } from "./guest.ts"
import { parseGuestConsole, type GuestCheckResult, type GuestConsole } from "./guest-console.ts"
import { createNetns } from "./guest-netns.ts"
import { tail, type ManagedProcess } from "./guest-process.ts"
import { startGuestServices, type GuestServices, type GuestServicesConfig, type ServiceEvent } from "./guest-services.ts"
import { startTslirp } from "./guest-tslirp.ts"
import { qemuGuestArgs, requireQemu, runQemu } from "./qemu.ts"
import { startHostClient, type HostClientResult, type HostClientStep } from "./guest-host-client.ts"

export type GuestBackend = "libslirp" | "tslirp"

export interface GuestScenario {
  /** Names the artifacts directory (TSLIRP_E2E_ARTIFACTS); one word. */
  readonly label?: string
  readonly backend: GuestBackend
  readonly services: GuestServicesConfig
  readonly checks: ReadonlyArray<GuestCheck>
  /** Extra tslirp CLI arguments (after --socket and --dns-upstream). */
  readonly tslirpArgs?: ReadonlyArray<string>
  /** Extra -netdev user options for the libslirp reference, e.g. ",mtu=...". */
  readonly libslirpOptions?: string
  /** Host-side actions while the guest runs (started once the backend is up). */
  readonly hostClient?: ReadonlyArray<HostClientStep>
}

export interface GuestRunResult {
  readonly backend: GuestBackend
  /** Set when the run could not happen at all (no tslirp CLI, services failed, ...). */
  readonly setupError: string | undefined
  readonly console: string
  readonly parsed: GuestConsole
  readonly qemuExit: number | null
  readonly timedOut: boolean
  readonly backendLog: string
  readonly servicesLog: string
  readonly events: ReadonlyArray<ServiceEvent>
  /** What the host client's steps got, in step order. */
  readonly hostResults: ReadonlyArray<HostClientResult>
  readonly hostClientLog: string
  /** Where this run's logs and pcap were kept, if TSLIRP_E2E_ARTIFACTS asked for it. */
  readonly artifacts: string | undefined
}

const artifactsDir = (scenario: GuestScenario): string | undefined => {
  const root = process.env["TSLIRP_E2E_ARTIFACTS"]
  if (root === undefined || root === "") return undefined
  const stamp = new Date().toISOString().replace(/[:.]/g, "-")
  const dir = join(root, `${scenario.label ?? "guest"}-${scenario.backend}-${stamp}`)
  mkdirSync(dir, { recursive: true })
  return dir
}

export const runGuestScenario = async (scenario: GuestScenario): Promise<GuestRunResult> => {
  requireQemu()
  const image = guestImage()
  const dir = mkdtempSync(join(tmpdir(), `tslirp-e2e-${scenario.backend}-`))
  const scriptFile = join(dir, "script.sh")
  writeFileSync(scriptFile, renderGuestScript(scenario.checks))
  const artifacts = artifactsDir(scenario)
  const netns = createNetns(scenario.backend)
  let services: GuestServices | undefined
  let backend: ManagedProcess | undefined
  let hostClient: ManagedProcess | undefined
  const hostResults: Array<HostClientResult> = []
  let setupError: string | undefined
  let consoleText = ""
  let qemuExit: number | null = null
  let timedOut = false
  try {
    services = await startGuestServices(scenario.services, netns.name)
    let netdev: string
    if (scenario.backend === "tslirp") {
      const socket = join(dir, "tslirp.sock")
      const dnsPort = scenario.services.dns?.port ?? 53
      backend = await startTslirp({ socket, args: ["--dns-upstream", `127.0.0.1:${dnsPort}`, ...(scenario.tslirpArgs ?? [])], netns: netns.name })
      netdev = `stream,id=n0,server=off,addr.type=unix,addr.path=${socket}`
    } else {
      netdev = `user,id=n0${scenario.libslirpOptions ?? ""}`
    }
    if (scenario.hostClient !== undefined) hostClient = startHostClient(scenario.hostClient, netns.name, hostResults)
    const run = await runQemu(qemuGuestArgs({ image, netdev, scriptFile, ...(artifacts === undefined ? {} : { pcapFile: join(artifacts, "guest.pcap") }) }), { netns: netns.name, budgetMs: guestBudgetMs(scenario.checks) })
    consoleText = run.console
    qemuExit = run.exitCode
    timedOut = run.timedOut
  } catch (error) {
    setupError = (error as Error).message
  } finally {
    await hostClient?.stop()
    await backend?.stop()
    await services?.stop()
    netns.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
  if (artifacts !== undefined) {
    writeFileSync(join(artifacts, "console.txt"), consoleText)
    writeFileSync(join(artifacts, "backend.log"), `${setupError ?? ""}\n${backend?.output() ?? ""}`)
    writeFileSync(join(artifacts, "services.log"), services?.log() ?? "")
    writeFileSync(join(artifacts, "events.json"), JSON.stringify(services?.events() ?? [], null, 1))
  }
  return {
    backend: scenario.backend,
    setupError,
    console: consoleText,
    parsed: parseGuestConsole(consoleText),
    qemuExit,
    timedOut,
    backendLog: backend === undefined ? "" : tail(backend.output()),
    servicesLog: services?.log() ?? "",
    events: services?.events() ?? [],
    hostResults,
    hostClientLog: hostClient === undefined ? "" : tail(hostClient.output()),
    artifacts,
  }
}

/** The text attached to a failed assertion: the check's output, then the whole picture. */
export const explain = (run: GuestRunResult, checkName?: string): string => {
  const parts = [`[${run.backend} run]`]
  if (run.setupError !== undefined) parts.push(`setup failed: ${run.setupError}`)
  parts.push(run.artifacts === undefined ? "(set TSLIRP_E2E_ARTIFACTS=DIR to keep logs and a pcap of the guest's NIC)" : `logs and pcap: ${run.artifacts}`)
  if (checkName !== undefined) {
    const check = run.parsed.checks.get(checkName)
    parts.push(check === undefined ? `check ${checkName}: never ran` : `check ${checkName} rc=${check.rc ?? "none (unfinished)"}:\n${check.output}`)
  }
  parts.push(`--- guest console (QEMU exit ${run.qemuExit}${run.timedOut ? ", killed: over budget" : ""}) ---\n${tail(run.console, 150)}`)
  if (run.backendLog !== "") parts.push(`--- ${run.backend} log ---\n${run.backendLog}`)
  parts.push(`--- host services log ---\n${run.servicesLog}`)
  if (run.hostClientLog !== "") parts.push(`--- host client log ---\n${run.hostClientLog}`)
  return parts.join("\n")
}

/** The result of check `name`; fails the calling test, with `explain`'s account, when it did not finish. */
export const finishedCheck = (run: GuestRunResult, name: string): GuestCheckResult => {
  const result = run.parsed.checks.get(name)
  expect(result, `check ${name} did not finish\n${explain(run, name)}`).toBeDefined()
  return result!
}
