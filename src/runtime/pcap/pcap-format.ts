/**
 * Classic libpcap file format (not pcapng): a 24-byte global header, then per frame a 16-byte
 * record header and the frame. Little-endian with magic 0xa1b2c3d4 (microsecond timestamps),
 * version 2.4, LINKTYPE_ETHERNET (1). Pure byte builders, so they are testable on their own.
 */
export const PCAP_MAGIC_MICROS = 0xa1b2c3d4
export const LINKTYPE_ETHERNET = 1
/** Larger than any frame we carry (64 KiB + 14), so nothing is truncated. */
export const PCAP_SNAPLEN = 262144

export const pcapGlobalHeader = (): Uint8Array => {
  const b = new Uint8Array(24)
  const v = new DataView(b.buffer)
  v.setUint32(0, PCAP_MAGIC_MICROS, true)
  v.setUint16(4, 2, true) // version major
  v.setUint16(6, 4, true) // version minor
  v.setInt32(8, 0, true) // thiszone: timestamps are UTC
  v.setUint32(12, 0, true) // sigfigs
  v.setUint32(16, PCAP_SNAPLEN, true)
  v.setUint32(20, LINKTYPE_ETHERNET, true)
  return b
}

export const PCAP_RECORD_HEADER_BYTES = 16

/**
 * Writes the record header for a frame of `length` bytes captured at `epochMicros` (µs since
 * 1970) at `at` in `v`: seconds, microseconds, captured length (at most the snaplen), length.
 */
export const setPcapRecordHeader = (v: DataView, at: number, epochMicros: number, length: number): void => {
  const seconds = Math.floor(epochMicros / 1e6)
  v.setUint32(at, seconds, true)
  v.setUint32(at + 4, Math.floor(epochMicros - seconds * 1e6), true)
  v.setUint32(at + 8, Math.min(length, PCAP_SNAPLEN), true)
  v.setUint32(at + 12, length, true)
}

/** Record header for a frame of `length` bytes captured at `epochMicros` (µs since 1970). */
export const pcapRecordHeader = (epochMicros: number, length: number): Uint8Array => {
  const b = new Uint8Array(PCAP_RECORD_HEADER_BYTES)
  setPcapRecordHeader(new DataView(b.buffer), 0, epochMicros, length)
  return b
}
