/**
 * A guest-side TFTP client for tests, as frames: `request()` is the RRQ frame to send, then each
 * frame from the stack goes to `receive`, which returns the frame to answer with (an ACK) or
 * undefined. Like busybox it takes the first reply's source port as the server's TID. It checks
 * the IP and UDP checksums of what it receives (a bad one fails the test). `done` when the last
 * block or an ERROR arrived; `data` is what it got.
 */
import { emitAck, emitRequest, OP_RRQ, parseTftp, type TftpOption } from "../../src/protocol/tftp/wire.ts"
import { get16 } from "../../src/protocol/wire/bytes.ts"
import { type Ipv4, ipv4 } from "../../src/protocol/wire/ipv4-address.ts"
import { decode, udpChecksumOk, udpFrame } from "../integration/stack/frames.ts"

export class TftpGuestClient {
  readonly blocks: Array<Uint8Array> = []
  error: { readonly code: number; readonly message: string } | undefined
  oack: ReadonlyArray<TftpOption> | undefined
  done = false
  serverPort: number | undefined
  private blksize = 512

  readonly filename: string
  readonly options: ReadonlyArray<TftpOption>
  readonly port: number
  readonly src: Ipv4
  readonly server: Ipv4

  constructor(filename: string, options: ReadonlyArray<TftpOption> = [], port = 3069, src: Ipv4 = ipv4(10, 0, 2, 15), server: Ipv4 = ipv4(10, 0, 2, 2)) {
    this.filename = filename
    this.options = options
    this.port = port
    this.src = src
    this.server = server
  }

  request(): Uint8Array {
    return udpFrame(this.src, this.server, this.port, 69, emitRequest({ opcode: OP_RRQ, filename: this.filename, mode: "octet", options: this.options }))
  }

  get data(): Uint8Array {
    return new Uint8Array(this.blocks.flatMap((b) => [...b]))
  }

  receive(frame: Uint8Array): Uint8Array | undefined {
    const ip = decode(frame).ip
    if (ip === undefined || ip.protocol !== 17 || ip.dst !== this.src || get16(ip.payload, 2) !== this.port) return undefined
    if (!ip.headerOk || !udpChecksumOk(ip.src, ip.dst, ip.payload)) throw new Error("tftp client: bad IP or UDP checksum")
    const from = get16(ip.payload, 0)
    this.serverPort ??= from
    if (from !== this.serverPort) return undefined
    const p = parseTftp(ip.payload.subarray(8, get16(ip.payload, 4)))
    if (!p.ok) throw new Error(p.reason)
    const ack = (block: number) => udpFrame(this.src, this.server, this.port, from, emitAck(block))
    switch (p.packet._tag) {
      case "Oack": {
        this.oack = p.packet.options
        const b = p.packet.options.find(([n]) => n === "blksize")
        if (b !== undefined) this.blksize = Number(b[1])
        return ack(0)
      }
      case "Data": {
        // A repeated block (our ACK was late) is acknowledged again, not stored twice.
        if (p.packet.block === ((this.blocks.length + 1) & 0xffff)) {
          this.blocks.push(p.packet.data.slice())
          if (p.packet.data.length < this.blksize) this.done = true
        }
        return ack(p.packet.block)
      }
      case "Error":
        this.error = { code: p.packet.code, message: p.packet.message }
        this.done = true
        return undefined
      default:
        return undefined
    }
  }
}
