/**
 * Network namespaces for the end-to-end guest runs: each run gets one with only loopback, so
 * every host socket the backend opens (libslirp inside QEMU, or tslirp) can reach nothing but
 * the services the test starts in the same namespace, and a forgotten nameserver cannot leak.
 *
 * `ip netns exec` bind-mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf; we write
 * `nameserver 127.0.0.1` there, because libslirp forwards the guest's DNS to the first
 * nameserver of resolv.conf, and it must be the test's DNS server.
 *
 * Names are `tse2e<pid>-<label>`; creating one also deletes namespaces left behind by test
 * processes that no longer exist. Needs root (fails with a clear message otherwise).
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"

export interface Netns {
  readonly name: string
  readonly destroy: () => void
}

const PREFIX = "tse2e"

const ip = (...args: string[]): string => execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

export const requireRoot = (what: string): void => {
  if (process.getuid?.() !== 0) throw new Error(`${what} needs root (network namespaces); run the tests as root`)
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const removeNetns = (name: string): void => {
  try {
    ip("netns", "del", name)
  } catch {
    // already gone
  }
  rmSync(`/etc/netns/${name}`, { recursive: true, force: true })
}

const sweepStale = (): void => {
  let listing = ""
  try {
    listing = ip("netns", "list")
  } catch {
    return
  }
  for (const line of listing.split("\n")) {
    const name = line.split(" ")[0] ?? ""
    const match = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)
    if (match !== null && !alive(Number(match[1]))) removeNetns(name)
  }
}

export const createNetns = (label: string): Netns => {
  requireRoot("the guest end-to-end test")
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" })
  } catch {
    throw new Error("the guest end-to-end test needs `ip` (Debian: apt-get install -y iproute2)")
  }
  sweepStale()
  const name = `${PREFIX}${process.pid}-${label}`
  removeNetns(name)
  mkdirSync(`/etc/netns/${name}`, { recursive: true })
  writeFileSync(`/etc/netns/${name}/resolv.conf`, "nameserver 127.0.0.1\n")
  try {
    ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")
  } catch (error) {
    removeNetns(name)
    throw new Error(`cannot create network namespace ${name}: ${(error as Error).message}`)
  }
  return { name, destroy: () => removeNetns(name) }
}
