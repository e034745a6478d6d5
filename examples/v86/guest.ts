/**
 * Where the i386 guest comes from: scripts/guest-i386/build.sh, which builds it once from
 * Debian packages into a cache outside the repository ($TSLIRP_CACHE, default
 * ~/.cache/tslirp/guest-i386) and prints that directory; later calls return at once.
 * Contract: returns the four files' paths or throws one Error saying what failed.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export interface I386Guest {
  readonly kernel: string
  readonly initrd: string
  readonly bios: string
  readonly vgaBios: string
}

const BUILD = fileURLToPath(new URL("../../scripts/guest-i386/build.sh", import.meta.url))

export const i386Guest = (): I386Guest => {
  let out: string
  try {
    // The first build downloads about 55 MB of Debian packages: allow it a while.
    out = execFileSync("sh", [BUILD], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 600_000 })
  } catch (error) {
    const e = error as { stderr?: string; message: string }
    throw new Error(`scripts/guest-i386/build.sh failed: ${e.message}\n${e.stderr ?? ""}`)
  }
  const dir = out.trim().split("\n").at(-1) ?? ""
  const guest = {
    kernel: join(dir, "vmlinuz"),
    initrd: join(dir, "initramfs.cpio.gz"),
    bios: join(dir, "bios.bin"),
    vgaBios: join(dir, "vgabios.bin"),
  }
  const missing = Object.values(guest).filter((f) => !existsSync(f))
  if (missing.length > 0) throw new Error(`scripts/guest-i386/build.sh printed ${dir}, which lacks ${missing.join(", ")}`)
  return guest
}
