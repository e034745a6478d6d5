/**
 * CPU time of the backend processes during one measurement, read from /proc: a figure that
 * depends far less on how loaded the machine is than Gbit/s on a shared 2-core host.
 *
 * Contract: `sampleBackendCpu` lists every descendant of this process and sums utime+stime
 * (clock ticks, converted to seconds) by role: "tslirp" (node running the CLI), "qemu",
 * "slirp4netns". Other descendants (iperf3, ip) are ignored. `tslirpPeakRssMb` reads the
 * peak resident set of this bench's tslirp. Neither throws: a process that exits between
 * listing and reading is skipped.
 */
import { readdirSync, readFileSync } from "node:fs"

export type Role = "tslirp" | "qemu" | "slirp4netns"

export type CpuSample = Readonly<Record<Role, number>>

/** Linux's USER_HZ: 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100

interface Proc {
  readonly pid: number
  readonly ppid: number
  readonly comm: string
  readonly cpuTicks: number
}

const readProc = (pid: number): Proc | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // comm is in parentheses and may contain spaces: fields after the last ')'.
    const close = stat.lastIndexOf(")")
    const comm = stat.slice(stat.indexOf("(") + 1, close)
    const f = stat.slice(close + 2).split(" ")
    // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { pid, ppid: Number(f[1]), comm, cpuTicks: Number(f[11]) + Number(f[12]) }
  } catch {
    return undefined
  }
}

const roleOf = (p: Proc): Role | undefined => {
  if (p.comm.startsWith("qemu-system")) return "qemu"
  if (p.comm === "slirp4netns") return "slirp4netns"
  if (p.comm === "node" || p.comm === "MainThread") {
    try {
      // The CLI of this checkout or of the baseline build (test/bench/baseline.ts).
      return /cli\/main\.[jt]s\0/.test(readFileSync(`/proc/${p.pid}/cmdline`, "utf8")) ? "tslirp" : undefined
    } catch {
      return undefined
    }
  }
  return undefined
}

/** Every descendant of this process. */
const descendants = (): Proc[] => {
  const procs: Proc[] = []
  for (const name of readdirSync("/proc")) {
    const pid = Number(name)
    if (!Number.isInteger(pid)) continue
    const p = readProc(pid)
    if (p !== undefined) procs.push(p)
  }
  const children = new Map<number, Proc[]>()
  for (const p of procs) {
    const list = children.get(p.ppid) ?? []
    list.push(p)
    children.set(p.ppid, list)
  }
  const out: Proc[] = []
  const stack = [...(children.get(process.pid) ?? [])]
  while (stack.length > 0) {
    const p = stack.pop()!
    out.push(p)
    stack.push(...(children.get(p.pid) ?? []))
  }
  return out
}

export const sampleBackendCpu = (): CpuSample => {
  const out: Record<Role, number> = { tslirp: 0, qemu: 0, slirp4netns: 0 }
  for (const p of descendants()) {
    const role = roleOf(p)
    if (role !== undefined) out[role] += p.cpuTicks / TICKS_PER_SECOND
  }
  return out
}

/** Peak resident set (VmHWM, MB) of the tslirp processes this bench started, 0 if none. */
export const tslirpPeakRssMb = (): number => {
  let peak = 0
  for (const p of descendants()) {
    if (roleOf(p) !== "tslirp") continue
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))
      if (m !== null) peak = Math.max(peak, Number(m[1]) / 1024)
    } catch {
      // Gone meanwhile.
    }
  }
  return peak
}

export const cpuDelta = (before: CpuSample, after: CpuSample): CpuSample => ({
  tslirp: after.tslirp - before.tslirp,
  qemu: after.qemu - before.qemu,
  slirp4netns: after.slirp4netns - before.slirp4netns,
})
