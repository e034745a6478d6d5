/**
 * A baseline build for the benchmark: the tree of an earlier commit, unpacked outside the repo
 * (`git archive`, no worktree metadata), sharing this checkout's node_modules, with its own
 * native addon. `npm run bench -- --baseline REF` runs it as more configurations in the same
 * run, so a change's cost is measured against the commit before it on the same machine and load.
 *
 * Contract: `prepareBaseline(ref)` returns the commit's short hash and the path of its CLI entry,
 * or throws with one line (unknown ref, no CLI in that tree). The unpacked tree is cached by hash
 * under the OS temp directory and reused.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, rmSync, symlinkSync, cpSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { REPO_ROOT } from "../support/netns.ts"

export interface Baseline {
  readonly short: string
  readonly main: string
}

const git = (args: ReadonlyArray<string>): string => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim()

export const prepareBaseline = (ref: string): Baseline => {
  let sha: string
  try {
    sha = git(["rev-parse", "--verify", `${ref}^{commit}`])
  } catch {
    throw new Error(`--baseline ${ref}: not a commit of this repository`)
  }
  const short = sha.slice(0, 7)
  const dir = join(tmpdir(), `tslirp-baseline-${short}`)
  const main = join(dir, "src/runtime/cli/main.ts")
  if (!existsSync(join(dir, ".complete"))) {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    execFileSync("sh", ["-c", `git archive ${sha} | tar -x -C "${dir}"`], { cwd: REPO_ROOT, stdio: "inherit" })
    symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"))
    // The addon of that commit (its sources may differ): build it, else fall back to ours.
    const built = (() => {
      try {
        execFileSync("sh", [join(dir, "native/build.sh")], { cwd: dir, stdio: "ignore", env: { ...process.env, PATH: `${join(REPO_ROOT, "node_modules/.bin")}:${process.env["PATH"] ?? ""}` } })
        return true
      } catch {
        return false
      }
    })()
    if (!built && existsSync(join(REPO_ROOT, "native/build"))) cpSync(join(REPO_ROOT, "native/build"), join(dir, "native/build"), { recursive: true })
    execFileSync("touch", [join(dir, ".complete")])
  }
  if (!existsSync(main)) throw new Error(`--baseline ${ref}: no src/runtime/cli/main.ts in that commit`)
  return { short, main }
}
