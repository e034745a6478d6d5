/**
 * What `--pcap` (or `--record`) costs per byte on its own: pushes GB of 1514-byte frames through
 * openPcapFile (or openRecordFile, as FrameFromGuest events) in bursts of 64 frames per
 * event-loop turn, as a busy link would, and prints the process's CPU seconds (user and system,
 * process.cpuUsage) and the wall time until `close` resolved.
 * Run: nice node test/bench/pcap-write.ts [pcap|record] [GB] [FILE]  (default pcap 2 /tmp/tslirp-bench.pcap;
 * TSLIRP_DIRECT_IO=0 for the page-cache path). The file is deleted afterwards; nothing is asserted.
 */
import { rmSync } from "node:fs"
import { defaultConfig } from "../../src/protocol/stack/config.ts"
import { instant } from "../../src/effects/instant.ts"
import type { Logger } from "../../src/runtime/host/ports.ts"
import { openPcapFile } from "../../src/runtime/pcap/pcap-writer.ts"
import { openRecordFile } from "../../src/runtime/record/record-file.ts"

const mode = process.argv[2] ?? "pcap"
const gb = Number(process.argv[3] ?? "2")
const path = process.argv[4] ?? `/tmp/tslirp-bench.${mode}`
const logger: Logger = { enabled: () => true, log: (level, message) => console.error(`${level}: ${message}`) }

const FRAME = 1514
const BURST = 64
const frames = Math.ceil((gb * 1e9) / (FRAME + 16))
const frame = new Uint8Array(FRAME).fill(0x5a)

const sink =
  mode === "record"
    ? (() => {
        const r = openRecordFile(path, logger, { header: { tslirp: "bench", config: defaultConfig, start: instant(0), peer: "bench", created: new Date(0).toISOString() } })
        let now = 0
        return { write: (f: Uint8Array) => r.event({ _tag: "FrameFromGuest", now: instant(now++), frame: f }), close: () => r.close() }
      })()
    : openPcapFile(path, logger)

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const cpu0 = process.cpuUsage()
const t0 = performance.now()
for (let i = 0; i < frames; i++) {
  frame[0] = i & 0xff
  sink.write(frame)
  if (i % BURST === BURST - 1) await nextTurn()
}
await sink.close()
const cpu = process.cpuUsage(cpu0)
const wall = (performance.now() - t0) / 1000
rmSync(path, { force: true })
const user = cpu.user / 1e6
const system = cpu.system / 1e6
console.log(
  `${mode} ${gb} GB (${frames} frames of ${FRAME} B), direct ${process.env["TSLIRP_DIRECT_IO"] !== "0"}: ` +
    `user ${user.toFixed(2)} s, system ${system.toFixed(2)} s, total ${(user + system).toFixed(2)} s, ` +
    `${((user + system) / gb).toFixed(2)} CPU s/GB, wall ${wall.toFixed(2)} s`,
)
