/**
 * Appends files to a Linux initramfs: the kernel unpacks every cpio archive it finds in the
 * initrd, one after the other, compressed or not (Documentation/driver-api/early-userspace/
 * buffer-format.rst), and later files win. So the guest image stays one cached file and each
 * run adds its own script as a small uncompressed "newc" archive behind it.
 *
 * Contract: pure (bytes in, bytes out); `appendToInitramfs` never changes `base`. Files only
 * (their parent directories must exist in `base` or be listed before them as directories).
 */

export interface InitrdEntry {
  /** Path inside the guest, without the leading "/" (e.g. "etc/tslirp/script.sh"). */
  readonly path: string
  /** File contents; absent for a directory. */
  readonly data?: Uint8Array
  /** Permission bits (default 0o644 for files, 0o755 for directories). */
  readonly mode?: number
}

const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const HEADER_LEN = 110
const TRAILER = "TRAILER!!!"

const pad4 = (n: number): number => (4 - (n % 4)) % 4

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, "0")

/** One newc record: the 110-byte ASCII header, the name and its NUL, padding, data, padding. */
const record = (ino: number, mode: number, name: string, data: Uint8Array): Uint8Array => {
  const nameBytes = new TextEncoder().encode(`${name}\0`)
  const fields = [ino, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0]
  const header = new TextEncoder().encode(`070701${fields.map(hex8).join("")}`)
  const nameEnd = HEADER_LEN + nameBytes.length
  const dataStart = nameEnd + pad4(nameEnd)
  const out = new Uint8Array(dataStart + data.length + pad4(data.length))
  out.set(header, 0)
  out.set(nameBytes, HEADER_LEN)
  out.set(data, dataStart)
  return out
}

/** A complete uncompressed newc archive of the entries, ending in the trailer record. */
export const newcArchive = (entries: ReadonlyArray<InitrdEntry>): Uint8Array => {
  const parts = entries.map((e, i) => {
    const isDir = e.data === undefined
    const mode = (isDir ? S_IFDIR : S_IFREG) | (e.mode ?? (isDir ? 0o755 : 0o644))
    return record(i + 1, mode, e.path.replace(/^\/+/, ""), e.data ?? new Uint8Array(0))
  })
  parts.push(record(0, 0, TRAILER, new Uint8Array(0)))
  return concat(parts)
}

/**
 * `base` (e.g. the gzip'd image from build.sh), zeros up to a 4-byte boundary (the kernel looks
 * for an uncompressed archive only at aligned offsets and skips zeros), then the entries.
 */
export const appendToInitramfs = (base: Uint8Array, entries: ReadonlyArray<InitrdEntry>): Uint8Array =>
  concat([base, new Uint8Array(pad4(base.length)), newcArchive(entries)])

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
