/**
 * Simulated guest physical memory for the test driver: one Uint8Array, a bump allocator for
 * DMA-able buffers, and the `GuestMemory` view the card uses. Accesses outside RAM read zeros
 * and drop writes (as unbacked physical addresses do on a PC), so a buggy descriptor cannot
 * throw inside the card.
 */
import type { GuestMemory } from "../../../src/runtime/e1000/index.ts"

export class GuestRam implements GuestMemory {
  readonly bytes: Uint8Array
  private next: number

  constructor(size: number, firstFree = 0x10000) {
    this.bytes = new Uint8Array(size)
    this.next = firstFree
  }

  /** `length` bytes at an address aligned to `align` (a power of two). */
  alloc(length: number, align = 16): number {
    const at = (this.next + align - 1) & ~(align - 1)
    if (at + length > this.bytes.length) throw new Error(`guest RAM exhausted allocating ${length} bytes`)
    this.next = at + length
    return at
  }

  read(address: number, length: number): Uint8Array {
    if (address >= 0 && address + length <= this.bytes.length) return this.bytes.subarray(address, address + length)
    const out = new Uint8Array(length)
    for (let i = 0; i < length; i++) {
      const a = address + i
      if (a >= 0 && a < this.bytes.length) out[i] = this.bytes[a]!
    }
    return out
  }

  write(address: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const a = address + i
      if (a >= 0 && a < this.bytes.length) this.bytes[a] = data[i]!
    }
  }

  u16(address: number): number {
    return this.bytes[address]! | (this.bytes[address + 1]! << 8)
  }

  u32(address: number): number {
    return (this.bytes[address]! | (this.bytes[address + 1]! << 8) | (this.bytes[address + 2]! << 16) | (this.bytes[address + 3]! << 24)) >>> 0
  }

  put16(address: number, v: number): void {
    this.bytes[address] = v & 0xff
    this.bytes[address + 1] = (v >>> 8) & 0xff
  }

  put32(address: number, v: number): void {
    this.put16(address, v & 0xffff)
    this.put16(address + 2, v >>> 16)
  }

  /** A 64-bit little-endian address (high half 0: the test's RAM is below 4 GiB). */
  put64(address: number, v: number): void {
    this.put32(address, v)
    this.put32(address + 4, 0)
  }
}
