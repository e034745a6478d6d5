/**
 * DMA as QEMU's pci_dma_read/pci_dma_write see it. Reads suspend the running operation (a
 * generator) until the host answers; the sync wrapper answers inline. Without PCI bus mastering
 * reads return zeros and writes vanish, as QEMU's disabled bus-master address space does.
 * Sync mode applies writes to guest memory at once so later reads in the same operation see them.
 */
import { COMMAND_MASTER, command } from "./pci-config.ts"
import type { E1000State } from "./state.ts"

const EMPTY = new Uint8Array(0)

export const busMaster = (s: E1000State): boolean => (command(s.pci) & COMMAND_MASTER) !== 0

/**
 * The bytes at `address` if they are available now (sync memory, or zeros without bus
 * mastering); otherwise records the request and returns undefined, and the caller must `yield`
 * and pass what it gets back through `fitRead`. Written as
 * `readNow(s, a, n) ?? fitRead((yield), n)` so the synchronous path never suspends.
 */
export const readNow = (s: E1000State, address: number, length: number): Uint8Array | undefined => {
  if (length <= 0) return EMPTY
  if (!busMaster(s)) return new Uint8Array(length)
  if (s.memory !== undefined) return fitRead(s.memory.read(address, length), length)
  s.reqAddr = address
  s.reqLen = length
  return undefined
}

/** A short answer from the host is hostile or buggy: the missing bytes read as zeros. */
export const fitRead = (data: Uint8Array, length: number): Uint8Array => {
  if (data.length >= length) return data
  const padded = new Uint8Array(length)
  padded.set(data)
  return padded
}

/** `data` must not be mutated afterwards by the caller (it may be handed out as is). */
export const dmaWrite = (s: E1000State, address: number, data: Uint8Array): void => {
  if (!busMaster(s)) return
  if (s.memory !== undefined) s.memory.write(address, data)
  else s.out.push({ _tag: "DmaWrite", address, data })
}

/** Little-endian u64 descriptor address as a number (exact below 2^53). */
export const getAddr64 = (b: Uint8Array, o: number): number => getLe32(b, o) + getLe32(b, o + 4) * 0x100000000

export const getLe32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
export const getLe16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8)
