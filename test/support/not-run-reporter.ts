/**
 * A vitest reporter that ends the run with the one line naming the test files left out
 * because this machine lacks what they need (requirements.ts), and what to install. It adds
 * to the default reporter; it prints nothing when everything ran.
 */
import type { Reporter } from "vitest/node"

export const notRunReporter = (line: string | undefined): Reporter => {
  let printed = false
  const print = (): void => {
    if (printed || line === undefined) return
    printed = true
    process.stdout.write(`\n${line}\n`)
  }
  return { onTestRunEnd: print }
}
