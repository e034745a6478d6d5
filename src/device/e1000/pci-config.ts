/**
 * The 82540EM's PCI type-0 configuration header as QEMU 7.2 presents `-device e1000`:
 * 8086:100E rev 3, class 020000, subsystem 1AF4:1100, BAR0 128 KiB memory, BAR1 64-byte I/O,
 * optional 256 KiB ROM BAR (efi-e1000.rom), INTA, no capabilities. Bytes are written through
 * QEMU's per-byte write mask; 0x40-0xFF is plain writable storage (QEMU's default for space
 * beyond the header); the rest is read-only. STATUS bit 3 mirrors the device's INTx level.
 *
 * Contract: plain functions over 256-byte arrays (the config bytes and their write mask).
 * `createPciConfig`/`createPciMask`/`resetPciConfig` return fresh arrays; `configWrite` writes
 * only into the array it is given, which the caller must own (state.ts `pciW`).
 */

export const CONFIG_SIZE = 256
export const PCI_COMMAND = 0x04
export const PCI_STATUS = 0x06
export const COMMAND_MASTER = 0x04
export const COMMAND_INTX_DISABLE = 0x400
const STATUS_INTERRUPT = 0x08

const BAR0_SIZE = 0x20000
const BAR1_SIZE = 0x40
const ROM_SIZE = 0x40000

const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff
  b[o + 1] = (v >>> 8) & 0xff
}
const put32 = (b: Uint8Array, o: number, v: number): void => {
  put16(b, o, v & 0xffff)
  put16(b, o + 2, v >>> 16)
}

/** The config bytes after PCI reset. */
export const createPciConfig = (): Uint8Array => {
  const bytes = new Uint8Array(CONFIG_SIZE)
  put16(bytes, 0x00, 0x8086)
  put16(bytes, 0x02, 0x100e)
  bytes[0x08] = 0x03 // revision
  bytes[0x0b] = 0x02 // class: network
  bytes[0x0a] = 0x00 // subclass: ethernet
  put16(bytes, 0x2c, 0x1af4) // subsystem vendor (QEMU's default)
  put16(bytes, 0x2e, 0x1100) // subsystem id
  bytes[0x3d] = 1 // interrupt pin INTA
  return resetPciConfig(bytes)
}

/** Which bits of each config byte software can write. */
export const createPciMask = (romBar: boolean): Uint8Array => {
  const wmask = new Uint8Array(CONFIG_SIZE)
  put16(wmask, PCI_COMMAND, 0x0507) // IO, MEM, MASTER, SERR, INTX_DISABLE
  wmask[0x0c] = 0xff // cache line size
  wmask[0x3c] = 0xff // interrupt line
  put32(wmask, 0x10, ~(BAR0_SIZE - 1) >>> 0)
  put32(wmask, 0x14, ~(BAR1_SIZE - 1) >>> 0)
  if (romBar) put32(wmask, 0x30, (~(ROM_SIZE - 1) | 1) >>> 0)
  wmask.fill(0xff, 0x40) // QEMU leaves device-specific space (no capabilities here) writable
  return wmask
}

/** PCI reset (a fresh copy): COMMAND, cache line, interrupt line and BAR addresses cleared. */
export const resetPciConfig = (old: Uint8Array): Uint8Array => {
  const b = old.slice()
  put16(b, PCI_COMMAND, 0)
  put16(b, PCI_STATUS, b[PCI_STATUS]! & STATUS_INTERRUPT)
  b[0x0c] = 0
  b[0x3c] = 0
  put32(b, 0x10, 0) // memory, 32-bit, non-prefetchable
  put32(b, 0x14, 1) // I/O space
  put32(b, 0x30, 0)
  return b
}

export const configRead = (bytes: Uint8Array, offset: number, size: number): number => {
  let v = 0
  for (let i = size - 1; i >= 0; i--) {
    const o = offset + i
    v = v * 256 + (o >= 0 && o < CONFIG_SIZE ? bytes[o]! : 0xff)
  }
  return v >>> 0
}

/** Writes through the mask into `bytes`, which the caller owns. */
export const configWrite = (bytes: Uint8Array, wmask: Uint8Array, offset: number, size: number, value: number): void => {
  for (let i = 0; i < size; i++) {
    const o = offset + i
    if (o < 0 || o >= CONFIG_SIZE) continue
    const m = wmask[o]!
    const b = (value >>> (8 * i)) & 0xff
    bytes[o] = (bytes[o]! & ~m) | (b & m)
  }
}

export const command = (bytes: Uint8Array): number => bytes[PCI_COMMAND]! | (bytes[PCI_COMMAND + 1]! << 8)

/** `bytes` with STATUS.INTERRUPT = level: the same array if unchanged, else a fresh copy. */
export const setInterruptStatus = (bytes: Uint8Array, level: boolean): Uint8Array => {
  const s = bytes[PCI_STATUS]!
  const v = level ? s | STATUS_INTERRUPT : s & ~STATUS_INTERRUPT
  if (v === s) return bytes
  const b = bytes.slice()
  b[PCI_STATUS] = v
  return b
}
