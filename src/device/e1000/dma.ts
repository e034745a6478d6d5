/**
 * DMA as QEMU's pci_dma_read/pci_dma_write see it, as effects. A read the model needs is
 * recorded in the draft (`reqAddress`, `reqLength`); the running frame then returns WAIT and the
 * operation is suspended until the host answers with DmaReadDone (model.ts). Without PCI bus
 * mastering reads return zeros at once and writes vanish, as QEMU's disabled bus-master address
 * space does. Writes are DmaWrite effects in order, so a host that applies them before answering
 * the next read gives every later read of the operation the bytes QEMU's would see.
 */
import { COMMAND_MASTER, command } from "./pci-config.ts"
import type { Draft } from "./state.ts"

const EMPTY = new Uint8Array(0)

export const busMaster = (d: Draft): boolean => (command(d.dev.pci) & COMMAND_MASTER) !== 0

/**
 * The bytes at `address` if they are available at once (nothing to read, or zeros without bus
 * mastering); otherwise records the request and returns undefined: the caller returns WAIT
 * and gets the host's bytes back at its next stage, through `fitRead`.
 */
export const readNow = (d: Draft, address: number, length: number): Uint8Array | undefined => {
  if (length <= 0) return EMPTY
  if (!busMaster(d)) return new Uint8Array(length)
  d.reqAddress = address
  d.reqLength = length
  return undefined
}

/** A short answer from the host is hostile or buggy: the missing bytes read as zeros. */
export const fitRead = (data: Uint8Array, length: number): Uint8Array => {
  if (data.length >= length) return data
  const padded = new Uint8Array(length)
  padded.set(data)
  return padded
}

/** `data` must not be written afterwards by anyone in the model (it is handed out as is). */
export const dmaWrite = (d: Draft, address: number, data: Uint8Array): void => {
  if (busMaster(d)) d.out.push({ _tag: "DmaWrite", address, data })
}

/** Little-endian u64 descriptor address as a number (exact below 2^53). */
export const getAddr64 = (b: Uint8Array, o: number): number => getLe32(b, o) + getLe32(b, o + 4) * 0x100000000

export const getLe32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
export const getLe16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8)
