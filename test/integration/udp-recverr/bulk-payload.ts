/** The payloads of bulk sends, shared by `udp-child.ts` and the tests that check them. */

/** The i-th bulk datagram: its number (32 bits, big-endian), then bytes of value i & 0xff. */
export const bulkPayload = (i: number, size: number): Buffer => {
  const b = Buffer.alloc(size, i & 0xff)
  b.writeUInt32BE(i, 0)
  return b
}
