/**
 * Linux's own DHCP client (ISC `dhclient`) in a namespace guest, with every file of its own in
 * the guest's temp dir: config, lease file, pid file, and a script that applies the lease with
 * `ip` (address, default route) and records the options it was given. The stock
 * `dhclient-script` is not used because it rewrites /etc/resolv.conf, which in a namespace is
 * the host's file.
 *
 * Contract: `runDhclient` asks for one lease (`-1`), returns dhclient's result, the
 * environment of the script's BOUND call (the decoded options: `new_ip_address`,
 * `new_routers`, `new_domain_name_servers`, ...) and the lease file text. dhclient forks a
 * daemon after binding; `destroy` of the guest ends it with every other process in the namespace.
 */
import { readFileSync, writeFileSync, existsSync, chmodSync } from "node:fs"
import { join } from "node:path"
import type { NetnsGuest } from "./netns.ts"
import type { CommandResult } from "./netns-process.ts"

export interface DhclientOutcome {
  readonly result: CommandResult
  /** Variables dhclient passed to the script for reason BOUND (empty if never bound). */
  readonly bound: Readonly<Record<string, string>>
  readonly leases: string
}

const CONFIG = `# tslirp netns e2e: ask for what a typical client asks for, give up after 30 s
timeout 30;
request subnet-mask, broadcast-address, time-offset, routers, domain-name,
  domain-name-servers, domain-search, host-name, interface-mtu;
`

const script = (dir: string): string => `#!/bin/sh
# Record the options of each call, then apply a lease the way dhclient-script would (without /etc).
env | grep -E '^(reason|interface|new_|old_)' | sort > "${dir}/dhclient-env.$reason"
case "$reason" in
  PREINIT)
    ip link set dev "$interface" up ;;
  BOUND|RENEW|REBIND|REBOOT)
    ip -4 addr flush dev "$interface"
    ip -4 addr add "$new_ip_address/$new_subnet_mask" dev "$interface"
    for router in $new_routers; do
      ip -4 route replace default via "$router" dev "$interface"
      break
    done ;;
esac
exit 0
`

/** Parse `name=value` lines as written by `env` (values may hold spaces, never newlines here). */
const parseEnv = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=")
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return out
}

export const runDhclient = async (guest: NetnsGuest, timeoutMs: number = 45_000): Promise<DhclientOutcome> => {
  const dir = guest.tmp
  const conf = join(dir, "dhclient.conf")
  const leasesFile = join(dir, "dhclient.leases")
  const scriptFile = join(dir, "dhclient-script")
  writeFileSync(conf, CONFIG)
  writeFileSync(scriptFile, script(dir))
  chmodSync(scriptFile, 0o755)
  const result = await guest.exec(
    ["dhclient", "-4", "-1", "-v", "-cf", conf, "-lf", leasesFile, "-pf", join(dir, "dhclient.pid"), "-sf", scriptFile, guest.ifname],
    { timeoutMs },
  )
  const envFile = join(dir, "dhclient-env.BOUND")
  const bound = existsSync(envFile) ? parseEnv(readFileSync(envFile, "utf8")) : {}
  const leases = existsSync(leasesFile) ? readFileSync(leasesFile, "utf8") : ""
  return { result, bound, leases }
}
