/**
 * Reads the e2e guest's serial console (the protocol is described in scripts/guest/init):
 * markers "@@tslirp ..." may follow other text on a line (kernel messages, output without a
 * final newline); that text still belongs to the check being printed. Pure.
 */

export interface GuestCheckResult {
  readonly name: string
  /** undefined: the check began but never ended (guest hung, crashed or was killed). */
  readonly rc: number | undefined
  readonly output: string
}

export interface GuestConsole {
  readonly booted: boolean
  readonly kernel: string | undefined
  /** undefined: the script never finished. */
  readonly endRc: number | undefined
  readonly errors: ReadonlyArray<string>
  readonly checks: ReadonlyMap<string, GuestCheckResult>
  /** Every "@@tslirp lease ..." line, KEY=VALUE pairs. */
  readonly leases: ReadonlyArray<Readonly<Record<string, string>>>
}

const MARK = "@@tslirp "

export const parseKeyValues = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const word of text.trim().split(/\s+/)) {
    const eq = word.indexOf("=")
    if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1)
  }
  return out
}

export const parseGuestConsole = (log: string): GuestConsole => {
  let booted = false
  let kernel: string | undefined
  let endRc: number | undefined
  const errors: string[] = []
  const checks = new Map<string, GuestCheckResult>()
  const leases: Array<Record<string, string>> = []
  let current: { name: string; lines: string[] } | undefined

  const closeCurrent = (rc: number | undefined): void => {
    if (current === undefined) return
    const lines = [...current.lines]
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") lines.pop()
    checks.set(current.name, { name: current.name, rc, output: lines.join("\n") })
    current = undefined
  }

  for (const rawLine of log.split(/\r?\n/)) {
    const line = rawLine.replace(/\r/g, "")
    const at = line.indexOf(MARK)
    const before = at < 0 ? line : line.slice(0, at)
    if (current !== undefined && (at < 0 || before !== "")) current.lines.push(before)
    if (at < 0) continue
    const marker = line.slice(at + MARK.length)
    const [word = "", ...rest] = marker.split(" ")
    const args = rest.join(" ")
    switch (word) {
      case "boot":
        booted = true
        kernel = parseKeyValues(args)["kernel"]
        break
      case "error":
        errors.push(args)
        break
      case "check-begin":
        closeCurrent(undefined)
        current = { name: args.trim(), lines: [] }
        break
      case "check-end": {
        const [name = "", rcText = ""] = args.split(" ")
        const rc = Number(rcText.replace(/^rc=/, ""))
        if (current?.name === name) closeCurrent(Number.isInteger(rc) ? rc : undefined)
        break
      }
      case "lease":
        leases.push(parseKeyValues(args))
        current?.lines.push(line.slice(at))
        break
      case "end": {
        closeCurrent(undefined)
        const rc = Number(parseKeyValues(args)["rc"])
        endRc = Number.isInteger(rc) ? rc : undefined
        break
      }
      default:
        current?.lines.push(line.slice(at))
    }
  }
  closeCurrent(undefined)
  return { booted, kernel, endRc, errors, checks, leases }
}
