/**
 * One run of the i386 guest in the v86 emulator with tslirp as its network, in this process
 * (examples/v86/machine.ts is the machine; this adds the test's host services and budget).
 *
 * The host services (DNS, HTTP of generated files, a TCP sink; guest-services-main.ts) run as
 * a child process on 127.0.0.1 with ports the kernel picks, so nothing collides with other
 * tests; their ports are known only once they are up, so the checks are a function of them.
 * The stack's DNS upstream is the test's DNS server, given explicitly. Everything is stopped
 * whatever happens; a run over budget is stopped and reported as timed out.
 */
import { bootV86Guest, type V86Guest } from "../../examples/v86/machine.ts"
import { i386Guest } from "../../examples/v86/guest.ts"
import { makeLogger } from "../../src/index.ts"
import { NodeStack } from "../../src/node.ts"
import { parseGuestConsole, type GuestConsole } from "./guest-console.ts"
import { guestBudgetMs, renderGuestScript, type GuestCheck } from "./guest.ts"
import { tail } from "./guest-process.ts"
import { startGuestServices, type GuestServices, type GuestServicesConfig, type ServiceEvent } from "./guest-services.ts"

/**
 * Power-on to the script's first line took 28 to 40 s on a 2-CPU machine at load 7 to 9 (most
 * of it the kernel decompressing and starting in the emulator); allow about 6 times that.
 */
export const V86_BOOT_BUDGET_MS = 240_000

export interface V86RunResult {
  readonly setupError: string | undefined
  readonly console: string
  readonly parsed: GuestConsole
  /** The script's status from /init's end marker; undefined when it never came. */
  readonly endRc: number | undefined
  readonly timedOut: boolean
  readonly events: ReadonlyArray<ServiceEvent>
  readonly servicesLog: string
  readonly stackLog: string
  readonly traffic: V86Guest["traffic"] | undefined
}

export const v86RunBudgetMs = (checks: ReadonlyArray<GuestCheck>): number => V86_BOOT_BUDGET_MS + guestBudgetMs(checks)

export const runV86Guest = async (options: {
  readonly services: GuestServicesConfig
  readonly checks: (ports: Readonly<Record<string, number>>) => ReadonlyArray<GuestCheck>
}): Promise<V86RunResult> => {
  const stackLines: string[] = []
  let services: GuestServices | undefined
  let stack: NodeStack | undefined
  let machine: V86Guest | undefined
  let setupError: string | undefined
  let endRc: number | undefined
  let timedOut = false
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    const guest = i386Guest()
    services = await startGuestServices(options.services, undefined)
    const ready = services.events().find((e) => e.type === "ready")
    const ports = ready?.type === "ready" ? ready.ports : {}
    const checks = options.checks(ports)
    // Never the default upstream: tests ask only the DNS server they started.
    const dnsPort = ports["dns"]
    if (dnsPort === undefined) throw new Error("the host services started no DNS server (services.dns is required)")
    stack = new NodeStack(
      { dnsUpstream: { family: 4, address: "127.0.0.1", port: dnsPort } },
      { logger: makeLogger("info", (line) => void stackLines.push(line)) },
    )
    machine = await bootV86Guest({ guest, script: renderGuestScript(checks), stack })
    const overBudget = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), v86RunBudgetMs(checks))
    })
    const outcome = await Promise.race([machine.ended, overBudget])
    if (outcome === "timeout") timedOut = true
    else endRc = outcome
  } catch (error) {
    setupError = (error as Error).message
  } finally {
    clearTimeout(timer)
    await machine?.stop()
    stack?.close()
    await services?.stop()
  }
  const consoleText = machine?.console() ?? ""
  return {
    setupError,
    console: consoleText,
    parsed: parseGuestConsole(consoleText),
    endRc,
    timedOut,
    events: services?.events() ?? [],
    servicesLog: services?.log() ?? "",
    stackLog: tail(stackLines.join("\n")),
    traffic: machine?.traffic,
  }
}

/** The text attached to a failed assertion: the check's output, then the whole picture. */
export const explainV86 = (run: V86RunResult, checkName?: string): string => {
  const parts = ["[v86 run]"]
  if (run.setupError !== undefined) parts.push(`setup failed: ${run.setupError}`)
  if (checkName !== undefined) {
    const check = run.parsed.checks.get(checkName)
    parts.push(check === undefined ? `check ${checkName}: never ran` : `check ${checkName} rc=${check.rc ?? "none (unfinished)"}:\n${check.output}`)
  }
  parts.push(`--- guest console (end rc ${run.endRc ?? "none"}${run.timedOut ? ", stopped: over budget" : ""}) ---\n${tail(run.console, 150)}`)
  if (run.traffic !== undefined) parts.push(`--- link: ${JSON.stringify(run.traffic)}`)
  parts.push(`--- tslirp log ---\n${run.stackLog}`)
  parts.push(`--- host services log ---\n${run.servicesLog}`)
  return parts.join("\n")
}
