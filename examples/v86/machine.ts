/**
 * One v86 machine running the i386 guest with a tslirp stack as its network, in this process:
 * SeaBIOS, Debian's 686 kernel booted directly (v86's bzimage loader), the guest image's
 * initramfs with `script` appended as /etc/tslirp/script.sh, a virtio-net card joined to the
 * stack (v86-link.ts), and the first serial port as the console.
 *
 * The guest's /init runs the script and then prints "@@tslirp end rc=N" (scripts/guest-i386/
 * init); `ended` resolves with N when that line appears, and with undefined if the machine is
 * stopped first. `stop` destroys the emulator and leaves the stack to its owner.
 * Contract: `bootV86Guest` resolves once the emulator runs; console text is kept whole.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { V86 } from "v86"
import type { I386Guest } from "./guest.ts"
import { appendToInitramfs } from "./initrd.ts"
import { joinV86Network, type FrameStack, type V86LinkCounters, type V86Network } from "./v86-link.ts"

export interface V86GuestOptions {
  readonly guest: I386Guest
  /** Shell script (busybox sh) the guest's /init runs; it may source /lib/tslirp/lib.sh. */
  readonly script: string
  readonly stack: FrameStack
  /** Guest RAM (default 256 MiB: the kernel wants about 40, the rest is /tmp for the script). */
  readonly memoryMiB?: number
  /** Every chunk of console output as it arrives (the guest's serial port). */
  readonly onConsole?: (text: string) => void
}

export interface V86Guest {
  readonly emulator: V86
  /** All console output so far. */
  readonly console: () => string
  /** The script's exit status, once /init prints its end marker; undefined if stopped first. */
  readonly ended: Promise<number | undefined>
  /** Frames and bytes each way through the link, counted as they pass. */
  readonly traffic: Readonly<V86LinkCounters>
  /** Types on the guest's console (the interactive example forwards its stdin here). */
  readonly type: (bytes: Uint8Array) => void
  readonly stop: () => Promise<void>
}

// console=ttyS0: the serial port is the only console we read. The rest keeps the boot short
// on an emulator, where the kernel's own start-up work is what takes the time: no
// speculative-execution mitigations to patch in, no ACPI (v86 has it off), no self-tests of
// every crypto algorithm (about 14 s of guest time here), no ISA or BIOS Plug and Play probing
// (about 4 s), and a quiet kernel so the console is mostly the script's.
const CMDLINE = "console=ttyS0 rdinit=/init mitigations=off acpi=off cryptomgr.notests noisapnp pnpbios=off loglevel=4"

const END = /@@tslirp end rc=(\d+)/

/** Loading the 2 MB wasm and the images takes about a second; a loaded machine may take more. */
const START_BUDGET_MS = 120_000

/** A private copy as an ArrayBuffer: Node may hand out small files inside a shared pool. */
const fileBuffer = (path: string): ArrayBuffer => {
  const bytes = readFileSync(path)
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

const bufferOf = (bytes: Uint8Array): ArrayBuffer => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer

export const bootV86Guest = async (options: V86GuestOptions): Promise<V86Guest> => {
  const initrd = appendToInitramfs(readFileSync(options.guest.initrd), [
    { path: "etc/tslirp/script.sh", data: new TextEncoder().encode(options.script), mode: 0o755 },
  ])
  const emulator = new V86({
    // The ES module build has no __dirname to find its wasm by, so name the file.
    wasm_path: fileURLToPath(import.meta.resolve("v86/build/v86.wasm")),
    memory_size: (options.memoryMiB ?? 256) * 1024 * 1024,
    bios: { buffer: fileBuffer(options.guest.bios) },
    vga_bios: { buffer: fileBuffer(options.guest.vgaBios) },
    bzimage: { buffer: fileBuffer(options.guest.kernel) },
    initrd: { buffer: bufferOf(initrd) },
    cmdline: CMDLINE,
    // virtio-net, not the default ne2k: the ne2k model stalled on uploads under load.
    net_device: { type: "virtio" },
    autostart: true,
  })

  let text = ""
  let line = ""
  let finish: (rc: number | undefined) => void = () => {}
  const ended = new Promise<number | undefined>((resolve) => {
    finish = resolve
  })
  const decoder = new TextDecoder()
  emulator.add_listener("serial0-output-byte", (byte: number) => {
    const chunk = decoder.decode(new Uint8Array([byte]), { stream: true })
    if (chunk === "") return
    text += chunk
    options.onConsole?.(chunk)
    if (chunk !== "\n") {
      line += chunk
      return
    }
    const end = END.exec(line)
    line = ""
    if (end !== null) finish(Number(end[1]))
  })

  const traffic: V86LinkCounters = { framesFromGuest: 0, bytesFromGuest: 0, framesToGuest: 0, bytesToGuest: 0 }
  // v86.d.ts leaves out `bus`, which every V86 instance has (add_listener registers on it).
  const unjoin = joinV86Network(emulator as unknown as V86Network, options.stack, traffic)

  // v86 loads its wasm and the images asynchronously and reports a failure only as a stray
  // rejection, so a machine that never starts is noticed by a generous deadline instead.
  let startTimer: ReturnType<typeof setTimeout> | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      emulator.add_listener("emulator-started", () => resolve())
      startTimer = setTimeout(() => reject(new Error(`v86 did not start within ${START_BUDGET_MS / 1000} s`)), START_BUDGET_MS)
    })
  } catch (error) {
    unjoin()
    await emulator.destroy().catch(() => undefined)
    throw error
  } finally {
    clearTimeout(startTimer)
  }

  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      unjoin()
      finish(undefined)
      await emulator.destroy()
    })()
    return stopped
  }
  return {
    emulator,
    console: () => text,
    ended,
    traffic,
    type: (bytes) => emulator.serial_send_bytes(0, bytes),
    stop,
  }
}
