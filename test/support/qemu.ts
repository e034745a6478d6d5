/**
 * QEMU for the e2e guest: the command line (TCG, since /dev/kvm is unusable here; no display;
 * serial console on stdout; e1000 without its option ROM, which only slows the boot) and a run
 * that collects the console and ends QEMU if the guest outlives its budget.
 */
import { execFileSync } from "node:child_process"
import type { GuestImage } from "./guest.ts"
import { startProcess, tail } from "./guest-process.ts"

export const QEMU = "qemu-system-x86_64"

export const requireQemu = (): void => {
  try {
    execFileSync(QEMU, ["--version"], { stdio: "ignore" })
  } catch {
    throw new Error(`${QEMU} not found: the guest end-to-end test needs it (Debian: apt-get install -y qemu-system-x86)`)
  }
}

export interface QemuGuestOptions {
  readonly image: GuestImage
  /** The value of -netdev, whose id must be n0: "user,id=n0" or "stream,id=n0,...". */
  readonly netdev: string
  /** Host file with the guest's test script (passed with -fw_cfg). */
  readonly scriptFile: string
  readonly memoryMb?: number
  /** Record every frame on the guest's NIC (QEMU filter-dump, pcap), whatever the backend. */
  readonly pcapFile?: string
}

export const qemuGuestArgs = (o: QemuGuestOptions): string[] => [
  QEMU,
  "-accel", "tcg",
  "-m", String(o.memoryMb ?? 256),
  "-nodefaults",
  "-nographic",
  "-no-reboot",
  "-monitor", "none",
  "-serial", "stdio",
  "-kernel", o.image.kernel,
  "-initrd", o.image.initrd,
  "-append", "console=ttyS0 quiet panic=-1",
  "-netdev", o.netdev,
  "-device", "e1000,netdev=n0,romfile=",
  "-fw_cfg", `name=opt/tslirp/script,file=${o.scriptFile}`,
  ...(o.pcapFile === undefined ? [] : ["-object", `filter-dump,id=dump0,netdev=n0,file=${o.pcapFile}`]),
]

export interface QemuRun {
  readonly console: string
  readonly exitCode: number | null
  readonly timedOut: boolean
}

/** Runs QEMU to the guest's power-off (or kills it after `budgetMs`). Never rejects. */
export const runQemu = async (argv: ReadonlyArray<string>, options: { readonly netns?: string; readonly budgetMs: number }): Promise<QemuRun> => {
  const proc = startProcess("qemu", argv, options.netns === undefined ? {} : { netns: options.netns })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    void proc.stop()
  }, options.budgetMs)
  const exit = await proc.exited
  clearTimeout(timer)
  const consoleText = proc.output()
  return { console: timedOut ? `${consoleText}\n[harness: QEMU killed after ${options.budgetMs} ms]` : consoleText, exitCode: exit.code, timedOut }
}

export { tail }
