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

/** `yield* dmaRead(...)`: the bytes at address (always exactly `length` of them). */
export function* dmaRead(s: E1000State, address: number, length: number): Generator<void, Uint8Array, Uint8Array> {
  if (length <= 0) return EMPTY
  if (!busMaster(s)) return new Uint8Array(length)
  s.reqAddr = address
  s.reqLen = length
  const data = yield
  if (data.length >= length) return data
  // A short answer from the host is hostile or buggy: treat the missing bytes as zeros.
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
