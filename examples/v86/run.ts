/**
 * Linux in the v86 emulator with tslirp as its network, in one Node process.
 *
 *   node examples/v86/run.ts                   boot, take a DHCP lease, give you a shell
 *   node examples/v86/run.ts --script FILE     run FILE (busybox sh) in the guest, then exit
 *                                              with its status
 * Options: --dns-upstream ADDR[:PORT]  where the guest's DNS queries to 10.0.2.3 go (default:
 *          the first nameserver of /etc/resolv.conf); --memory MIB (default 256).
 * In the shell, 10.0.2.2 is this machine's 127.0.0.1; Ctrl-] stops the emulator.
 * See README.md in this directory for what to install first.
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { i386Guest } from "./guest.ts"
import { bootV86Guest } from "./machine.ts"
import { NodeStack } from "./tslirp.ts"

const CTRL_RIGHT_BRACKET = 0x1d

// The shell session of the interactive mode: a lease first (udhcpc.script prints it), then a
// login shell with the console as its controlling terminal, so Ctrl-C reaches the guest.
const INTERACTIVE = `udhcpc -i eth0 -f -q -n -t 6 -T 3 -s /lib/tslirp/udhcpc.script
echo
echo "tslirp: 10.0.2.2 is the host's 127.0.0.1, 10.0.2.3 the DNS proxy. Try: wget -O - http://10.0.2.2:8000/"
echo "tslirp: 'exit' powers the guest off; Ctrl-] stops the emulator."
setsid cttyhack sh -l
`

const usage = (problem: string): never => {
  process.stderr.write(`run.ts: ${problem}\nusage: node examples/v86/run.ts [--script FILE] [--dns-upstream ADDR[:PORT]] [--memory MIB]\n`)
  process.exit(2)
}

/** "ADDR" or "ADDR:PORT" (IPv4), or the first IPv4 nameserver of /etc/resolv.conf. */
const dnsUpstream = (text: string | undefined): { family: 4; address: string; port: number } => {
  let spec = text
  if (spec === undefined) {
    const conf = readFileSync("/etc/resolv.conf", "utf8")
    spec = /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/m.exec(conf)?.[1]
    if (spec === undefined) usage("no IPv4 nameserver in /etc/resolv.conf: give --dns-upstream")
  }
  const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(spec!)
  if (m === null) return usage(`--dns-upstream ${spec}: expected ADDR[:PORT] with an IPv4 address`)
  return { family: 4, address: m[1]!, port: m[2] === undefined ? 53 : Number(m[2]) }
}

const { values } = (() => {
  try {
    return parseArgs({ options: { script: { type: "string" }, "dns-upstream": { type: "string" }, memory: { type: "string" } } })
  } catch (error) {
    return usage((error as Error).message)
  }
})()
const memoryMiB = values.memory === undefined ? 256 : Number(values.memory)
if (!Number.isInteger(memoryMiB) || memoryMiB < 64 || memoryMiB > 2048) usage("--memory must be an integer MiB in 64..2048")
const script = values.script === undefined ? INTERACTIVE : readFileSync(values.script, "utf8")
const interactive = values.script === undefined

const stack = new NodeStack({ dnsUpstream: dnsUpstream(values["dns-upstream"]) })
const started = performance.now()
const machine = await bootV86Guest({ guest: i386Guest(), script, stack, memoryMiB, onConsole: (text) => process.stdout.write(text) })

let quitting = false
const quit = async (rc: number): Promise<void> => {
  if (quitting) return
  quitting = true
  if (process.stdin.isTTY) process.stdin.setRawMode(false)
  process.stdin.pause()
  await machine.stop()
  stack.close()
  const t = machine.traffic
  process.stderr.write(
    `\nrun.ts: ${((performance.now() - started) / 1000).toFixed(1)} s; guest sent ${t.framesFromGuest} frames (${t.bytesFromGuest} bytes), received ${t.framesToGuest} (${t.bytesToGuest} bytes)\n`,
  )
  process.exit(rc)
}

if (interactive) {
  if (process.stdin.isTTY) process.stdin.setRawMode(true)
  process.stdin.on("data", (chunk: Buffer) => {
    if (chunk.includes(CTRL_RIGHT_BRACKET)) void quit(130)
    else machine.type(chunk)
  })
}
process.on("SIGINT", () => void quit(130))
process.on("SIGTERM", () => void quit(143))
void machine.ended.then((rc) => quit(rc ?? 1))
