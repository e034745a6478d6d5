/**
 * sparse-memory.ts: guest physical memory for the model side of the differential harness.
 *
 * Contract: a byte store over the whole 64-bit-safe address range, 4 KiB pages allocated on
 * first write; unwritten bytes read as 0 (QEMU's RAM starts zeroed). Reads return copies.
 */
const PAGE_BITS = 12
const PAGE_SIZE = 1 << PAGE_BITS

export class SparseMemory {
  private readonly pages = new Map<number, Uint8Array>()

  read(address: number, length: number): Uint8Array {
    const out = new Uint8Array(length)
    let done = 0
    while (done < length) {
      const a = address + done
      const page = Math.floor(a / PAGE_SIZE)
      const offset = a - page * PAGE_SIZE
      const n = Math.min(PAGE_SIZE - offset, length - done)
      const p = this.pages.get(page)
      if (p) out.set(p.subarray(offset, offset + n), done)
      done += n
    }
    return out
  }

  write(address: number, data: Uint8Array): void {
    let done = 0
    while (done < data.length) {
      const a = address + done
      const page = Math.floor(a / PAGE_SIZE)
      const offset = a - page * PAGE_SIZE
      const n = Math.min(PAGE_SIZE - offset, data.length - done)
      let p = this.pages.get(page)
      if (!p) {
        p = new Uint8Array(PAGE_SIZE)
        this.pages.set(page, p)
      }
      p.set(data.subarray(done, done + n), offset)
      done += n
    }
  }
}
