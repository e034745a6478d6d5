/**
 * vitest globalSetup: with CI=true, every test file runs, so every need of every file must be
 * met; a missing one fails the run here, before any test starts, naming what to install.
 * Without CI it does nothing (vitest.config.ts leaves out what cannot run and says so).
 */
import { isCi, NEEDS, plan } from "./requirements.ts"

export default function setup(): void {
  if (!isCi()) return
  const p = plan()
  if (p.notRun.length === 0) return
  const missing = [...new Set(p.notRun.flatMap((f) => f.missing))]
  throw new Error(
    `CI=true: this machine lacks ${missing.map((n) => `${n} (${NEEDS[n].note ?? NEEDS[n].packages.join(" ")})`).join(", ")}, needed by ${p.notRun.map((f) => f.file).join(", ")}. ` +
      "Install them (.ci/run does) rather than skipping the tests.",
  )
}
