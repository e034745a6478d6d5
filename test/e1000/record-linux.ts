/**
 * record-linux.ts: `node test/e1000/record-linux.ts OUT.trace [GUEST_SCRIPT]`
 *
 * Boots the test guest (Linux 6.1 + busybox, built by scripts/guest/build.sh into
 * ~/.cache/tslirp/guest) under QEMU 7.2 with TCG and an e1000, records every access of the Linux
 * e1000 driver to the `e1000-mmio` region with QEMU's `memory_region_ops_read/write` trace
 * events, and writes them as a trace: writes become `writeN`, reads become checks `readN OFFSET
 * VALUE` with the value the driver saw, and the wall-clock gap between accesses (TCG's virtual
 * clock follows the host clock) becomes `clock.step`. The recorder then replays the trace on
 * QEMU under qtest: a read whose replayed value differs from the guest's (frames in guest
 * memory are not recorded; the replay's clock is only as exact as the host timestamps, and
 * QEMU's timers are millisecond-quantised) is kept as a plain read with the guest's value in a comment; the differential harness still compares
 * it between QEMU and the model.
 *
 * Guest memory (descriptor rings, buffers) is not recorded: in the replay rings point at zeroed
 * memory, which both sides see identically. The guest runs with the same RAM size as the qtest
 * machine so that every DMA address the driver programs exists on both sides.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { runOnQemu } from "./run-qemu.ts"
import { GUEST_RAM_MIB, MAC } from "./setup.ts"
import { parseTrace } from "./trace.ts"

const E1000_BAR0_SIZE = 0x20000
/** Gaps shorter than this are not worth a step (the driver's back-to-back accesses). */
const MIN_STEP_NS = 10_000

interface Access {
  readonly write: boolean
  readonly offset: number
  readonly value: number
  readonly size: 1 | 2 | 4
  readonly timeNs: number
}

const LINE =
  /^\d+@(\d+)\.(\d+):memory_region_ops_(read|write) cpu \d+ mr 0x[0-9a-f]+ addr 0x([0-9a-f]+) value 0x([0-9a-f]+) size (\d) name 'e1000-mmio'$/

const ANY_LINE = /^\d+@(\d+)\.(\d+):/

/** The accesses, and the time of the first traced event of any kind (about when the VM started). */
export const parseMmioLog = (log: string): { readonly accesses: ReadonlyArray<Access>; readonly startNs: number } => {
  const out: Array<Access> = []
  let base: number | undefined
  let startNs: number | undefined
  for (const line of log.split("\n")) {
    if (startNs === undefined) {
      const any = ANY_LINE.exec(line)
      if (any) startNs = Number(any[1]) * 1e9 + Number(any[2]) * 1e3
    }
    const m = LINE.exec(line)
    if (!m) continue
    const addr = parseInt(m[4]!, 16)
    // The trace prints absolute addresses; BAR0 is 128 KiB aligned.
    base ??= addr - (addr % E1000_BAR0_SIZE)
    const size = Number(m[6])
    if (size !== 1 && size !== 2 && size !== 4) continue
    out.push({
      write: m[3] === "write",
      offset: addr - base,
      value: parseInt(m[5]!, 16) >>> 0,
      size,
      timeNs: Number(m[1]) * 1e9 + Number(m[2]) * 1e3,
    })
  }
  return { accesses: out, startNs: startNs ?? out[0]?.timeNs ?? 0 }
}

/**
 * `startNs` is when the guest's virtual clock was about 0: the first step brings the replay's
 * clock to the same phase, which matters for QEMU's millisecond-quantised timers.
 * `unsure` lists access indexes whose read must not become a check (see main).
 */
export const accessesToTrace = (
  accesses: ReadonlyArray<Access>,
  startNs: number,
  header: ReadonlyArray<string>,
  unsure: ReadonlySet<number> = new Set(),
): string => {
  const lines = header.map((h) => `# ${h}`)
  let last = startNs
  for (const [i, a] of accesses.entries()) {
    const gap = a.timeNs - last
    if (gap >= MIN_STEP_NS) {
      lines.push(`clock.step ${gap}`)
      last = a.timeNs
    }
    const hex = (n: number): string => `0x${n.toString(16)}`
    lines.push(
      a.write
        ? `write${a.size * 8} ${hex(a.offset)} ${hex(a.value)}`
        : unsure.has(i)
          ? `read${a.size * 8} ${hex(a.offset)}   # guest saw ${hex(a.value)} (replay differs: timing, or guest memory not recorded)`
          : `read${a.size * 8} ${hex(a.offset)} ${hex(a.value)}`,
    )
  }
  return lines.join("\n") + "\n"
}

const main = async (): Promise<void> => {
  const [out, script] = process.argv.slice(2)
  if (!out) {
    console.error("usage: node test/e1000/record-linux.ts OUT.trace [GUEST_SCRIPT]")
    process.exit(2)
  }
  const guest = join(process.env.TSLIRP_CACHE ?? join(homedir(), ".cache", "tslirp"), "guest")
  const dir = mkdtempSync(join(tmpdir(), "tslirp-record-"))
  try {
    const scriptFile = join(dir, "script.sh")
    const scriptText = script ? readFileSync(script, "utf8") : "sleep 2\nip link set eth0 down\n"
    writeFileSync(scriptFile, scriptText)
    const log = join(dir, "mmio.log")
    execFileSync(
      "qemu-system-x86_64",
      [
        "-machine", "pc", "-accel", "tcg", "-m", `${GUEST_RAM_MIB}`,
        "-display", "none", "-nodefaults", "-no-reboot",
        "-serial", `file:${join(dir, "serial.txt")}`,
        "-kernel", join(guest, "vmlinuz"), "-initrd", join(guest, "initramfs.cpio.gz"),
        "-append", "console=ttyS0 quiet",
        "-device", `e1000,mac=${MAC},romfile=`,
        "-fw_cfg", `name=opt/tslirp/script,file=${scriptFile}`,
        "-msg", "timestamp=on",
        "-trace", "memory_region_ops_read", "-trace", "memory_region_ops_write", "-D", log,
      ],
      { stdio: ["ignore", "ignore", "inherit"], timeout: 180_000 },
    )
    const serial = readFileSync(join(dir, "serial.txt"), "utf8")
    const kernel = /@@tslirp boot kernel=(\S+)/.exec(serial)?.[1] ?? "unknown"
    if (!serial.includes("@@tslirp end rc=0")) throw new Error(`guest did not finish cleanly:\n${serial.slice(-2000)}`)
    const { accesses, startNs } = parseMmioLog(readFileSync(log, "utf8"))
    const header = [
      `Linux ${kernel} e1000 driver: probe (insmod e1000.ko), ip link set eth0 up, then the script:`,
      ...scriptText.trimEnd().split("\n").map((l) => `    ${l}`),
      "Recorded by test/e1000/record-linux.ts from QEMU 7.2's memory_region_ops_read/write trace.",
    ]
    // Replay once on QEMU; reads that come out differently are timing-dependent.
    const steps = parseTrace(accessesToTrace(accesses, startNs, header))
    const replay = await runOnQemu(steps)
    if (replay.failure) throw new Error(`replay failed at line ${replay.failure.line}: ${replay.failure.message}`)
    const readIndexes = accesses.flatMap((a, i) => (a.write ? [] : [i]))
    const reads = replay.results.filter((r) => r.step.op === "read")
    const unsure = new Set<number>()
    reads.forEach((r, k) => {
      const i = readIndexes[k]!
      if (r.value !== `0x${accesses[i]!.value.toString(16)}`) unsure.add(i)
    })
    writeFileSync(out, accessesToTrace(accesses, startNs, header, unsure))
    console.log(`${out}: ${accesses.length} accesses, ${reads.length} reads, ${unsure.size} timing-dependent`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
