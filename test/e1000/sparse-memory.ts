/**
 * sparse-memory.ts: guest physical memory for the model side of the differential harness.
 *
 * Contract: a byte store for guest RAM [0, limit), 4 KiB pages allocated on first write;
 * unwritten bytes read as 0 (QEMU's RAM starts zeroed). Beyond `limit` there is no RAM: reads
 * give 0 and writes vanish, like DMA into unassigned memory on QEMU's pc machine. Reads return
 * copies.
 */
const PAGE_BITS = 12
const PAGE_SIZE = 1 << PAGE_BITS

export class SparseMemory {
  private readonly pages = new Map<number, Uint8Array>()
  private readonly limit: number

  constructor(limit: number) {
    this.limit = limit
  }

  read(address: number, length: number): Uint8Array {
    const out = new Uint8Array(length)
    let done = 0
    while (done < length) {
      const a = address + done
      const page = Math.floor(a / PAGE_SIZE)
      const offset = a - page * PAGE_SIZE
      const n = Math.min(PAGE_SIZE - offset, length - done)
      const p = a < this.limit ? this.pages.get(page) : undefined
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
      if (a >= this.limit) break
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
