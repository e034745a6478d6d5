/**
 * What each test file needs beyond Node and npm, and whether this machine has it.
 *
 * `npm test` on a machine with only Node and npm runs every file whose needs are met; the
 * others are left out of the run (vitest.config.ts) and named in one closing line with what to
 * install (`notRunLine`). With CI=true nothing is left out: a missing need fails the run before
 * any test starts (ci-requirements.ts), so CI can never pass by not running something.
 *
 * Contract: decisions are per file, from the table below (a file not listed needs nothing).
 * Checks only look (PATH lookups, uid, files); they install and build nothing.
 */
import { accessSync, constants, existsSync, readdirSync, statSync } from "node:fs"
import { delimiter, join, relative } from "node:path"

export type Need = "root" | "ip" | "qemu" | "qtest" | "guest" | "tshark" | "python3" | "dhclient" | "busybox" | "slirp4netns" | "addon"

const onPath = (command: string): boolean =>
  (process.env["PATH"] ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK)
      return true
    } catch {
      return false
    }
  })

const ROOT = new URL("../../", import.meta.url).pathname

interface NeedInfo {
  readonly present: () => boolean
  /** Debian packages that provide it, for the closing line's `apt-get install`. */
  readonly packages: ReadonlyArray<string>
  /** What else it takes, when a package is not the whole answer. */
  readonly note?: string
}

export const NEEDS: Readonly<Record<Need, NeedInfo>> = {
  root: { present: () => process.getuid?.() === 0, packages: [], note: "root (network namespaces)" },
  ip: { present: () => onPath("ip"), packages: ["iproute2"] },
  qemu: { present: () => onPath("qemu-system-x86_64"), packages: ["qemu-system-x86"] },
  // scripts/e1000/build-qtest.sh builds QEMU's qtest module with gcc and binutils.
  qtest: { present: () => onPath("gcc") && onPath("nm"), packages: ["gcc", "binutils"] },
  // scripts/guest/build.sh fetches Debian's kernel with apt-get and packs busybox with cpio.
  guest: {
    present: () => ["apt-get", "dpkg-deb", "cpio", "gzip"].every(onPath) && existsSync("/bin/busybox"),
    packages: ["cpio", "busybox-static"],
    note: "a Debian host (apt-get) for the guest kernel",
  },
  tshark: { present: () => onPath("tshark"), packages: ["tshark"] },
  python3: { present: () => onPath("python3"), packages: ["python3"] },
  dhclient: { present: () => onPath("dhclient"), packages: ["isc-dhcp-client"] },
  busybox: { present: () => onPath("busybox"), packages: ["busybox-static"] },
  slirp4netns: { present: () => onPath("slirp4netns"), packages: ["slirp4netns"] },
  // The addon is built at install (native/build.sh) when a compiler is there, else lazily.
  addon: {
    present: () => existsSync(join(ROOT, "native/build/Release/ping_socket.node")) || onPath("cc") || onPath("gcc"),
    packages: ["gcc", "libc6-dev"],
  },
}

/** Path prefixes (relative to the repository) and what the files under them need. */
export const FILE_NEEDS: ReadonlyArray<readonly [string, ReadonlyArray<Need>]> = [
  ["test/e2e/guest-", ["root", "ip", "qemu", "guest"]],
  ["test/e2e/netns-dns-tcp.test.ts", ["root", "ip", "qemu"]],
  ["test/e2e/netns-hostile.test.ts", ["root", "ip"]],
  ["test/e2e/netns-ipv4.test.ts", ["root", "ip", "qemu", "dhclient", "busybox", "slirp4netns"]],
  ["test/e2e/netns-ipv6", ["root", "ip", "qemu", "dhclient", "busybox", "python3"]],
  ["test/e1000/diff.test.ts", ["qemu", "qtest"]],
  ["test/e1000/generate.test.ts", ["qemu", "qtest"]],
  ["test/e1000/qemu.test.ts", ["qemu", "qtest"]],
  ["test/integration/icmp/ping-socket.test.ts", ["root", "ip", "addon"]],
  ["test/integration/runtime/qemu-links.test.ts", ["qemu"]],
  ["test/unit/cli/qemu-paste.test.ts", ["qemu"]],
  ["test/integration/runtime/cli.test.ts", ["tshark"]],
  // Its ping case assumes root's gid 0 against ping_group_range.
  ["test/integration/runtime/node-host.test.ts", ["root", "addon"]],
  ["test/integration/tcp/linux-", ["root", "ip", "python3"]],
  ["test/integration/udp-recverr/loopback.test.ts", ["addon"]],
  ["test/integration/udp-recverr/netns-", ["root", "ip", "addon"]],
  ["test/unit/runtime/pcap.test.ts", ["tshark"]],
]

export const needsOf = (file: string): ReadonlyArray<Need> => {
  const rel = file.startsWith("/") ? relative(ROOT, file) : file
  const out = new Set<Need>()
  for (const [prefix, needs] of FILE_NEEDS) if (rel.startsWith(prefix)) for (const n of needs) out.add(n)
  return [...out]
}

/** Every test file (vitest's own include pattern: test/** /*.test.ts), relative to the root. */
export const testFiles = (dir = join(ROOT, "test")): Array<string> => {
  const out: Array<string> = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...testFiles(p))
    else if (name.endsWith(".test.ts")) out.push(relative(ROOT, p))
  }
  return out.sort()
}

export interface Plan {
  /** Files left out, each with what it lacks. */
  readonly notRun: ReadonlyArray<{ readonly file: string; readonly missing: ReadonlyArray<Need> }>
}

/** Which files this machine cannot run; `present` is injectable for tests of this module. */
export const plan = (files: ReadonlyArray<string> = testFiles(), present: (n: Need) => boolean = (n) => NEEDS[n].present()): Plan => {
  const known = new Map<Need, boolean>()
  const has = (n: Need): boolean => {
    if (!known.has(n)) known.set(n, present(n))
    return known.get(n)!
  }
  const notRun = files.map((file) => ({ file, missing: needsOf(file).filter((n) => !has(n)) })).filter((f) => f.missing.length > 0)
  return { notRun }
}

/** The one closing line: how many files were not run, which, and what to install. */
export const notRunLine = (p: Plan): string | undefined => {
  if (p.notRun.length === 0) return undefined
  const missing = [...new Set(p.notRun.flatMap((f) => f.missing))]
  const notes = missing.flatMap((n) => NEEDS[n].note ?? [])
  const packages = [...new Set(missing.flatMap((n) => NEEDS[n].packages))]
  const needs = [...notes, ...(packages.length > 0 ? [`apt-get install -y ${packages.join(" ")}`] : [])]
  return (
    `not run (${p.notRun.length} test files; they need ${needs.join(", ")}; ` +
    `CI=true runs them and fails if anything is missing): ${p.notRun.map((f) => f.file).join(" ")}`
  )
}

export const isCi = (): boolean => {
  const ci = process.env["CI"]
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false"
}
