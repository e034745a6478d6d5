import { describe, expect, it } from "vitest"
import { toHex } from "../../../src/protocol/wire/bytes.ts"
import {
  OP_RRQ,
  OP_WRQ,
  TFTP_MAX_OPTIONS,
  type TftpPacket,
  emitAck,
  emitData,
  emitDataHeader,
  emitError,
  emitOack,
  emitRequest,
  parseTftp,
} from "../../../src/protocol/tftp/wire.ts"
import { golden, goldenFile, goldenNames } from "./golden.ts"

const parse = (b: Uint8Array): TftpPacket => {
  const p = parseTftp(b)
  if (!p.ok) throw new Error(p.reason)
  return p.packet
}

const reason = (b: Uint8Array): string => {
  const p = parseTftp(b)
  if (p.ok) throw new Error(`parsed ${p.packet._tag}`)
  return p.reason
}

describe("TFTP wire: golden packets from busybox, curl and dnsmasq", () => {
  it("busybox's RRQ asks for tsize; curl's for tsize, blksize and timeout", () => {
    expect(parse(golden("01-busybox-rrq"))).toEqual({ _tag: "Request", opcode: OP_RRQ, filename: "golden.txt", mode: "octet", options: [["tsize", "0"]] })
    expect(parse(golden("10-busybox-b1024-rrq"))).toEqual({ _tag: "Request", opcode: OP_RRQ, filename: "golden.txt", mode: "octet", options: [["blksize", "1024"], ["tsize", "0"]] })
    expect(parse(golden("17-curl-rrq"))).toEqual({
      _tag: "Request",
      opcode: OP_RRQ,
      filename: "golden.txt",
      mode: "octet",
      options: [["tsize", "0"], ["blksize", "1024"], ["timeout", "6"]],
    })
  })

  it("dnsmasq's OACKs, ACKs, DATA blocks and error parse to what was sent", () => {
    const file = goldenFile()
    expect(file.length).toBe(1222)
    expect(parse(golden("02-busybox-oack"))).toEqual({ _tag: "Oack", options: [["tsize", "1222"]] })
    expect(parse(golden("18-curl-oack"))).toEqual({ _tag: "Oack", options: [["blksize", "1024"], ["tsize", "1222"]] })
    expect(parse(golden("03-busybox-ack"))).toEqual({ _tag: "Ack", block: 0 })
    expect(parse(golden("09-busybox-ack"))).toEqual({ _tag: "Ack", block: 3 })
    const blocks = ["04-busybox-data", "06-busybox-data", "08-busybox-data"].map((n) => parse(golden(n)))
    expect(blocks.map((b) => (b._tag === "Data" ? [b.block, b.data.length] : []))).toEqual([[1, 512], [2, 512], [3, 198]])
    expect(blocks.flatMap((b) => (b._tag === "Data" ? [...b.data] : []))).toEqual([...file])
    const err = parse(golden("25-busybox-missing-error"))
    expect(err._tag === "Error" ? [err.code, err.message.endsWith("missing.txt not found for 127.0.0.1")] : []).toEqual([1, true])
  })

  it("every golden packet is re-emitted byte for byte from its parse", () => {
    const names = goldenNames()
    expect(names.length).toBe(25)
    for (const name of names) {
      const b = golden(name)
      const p = parse(b)
      const again =
        p._tag === "Request" ? emitRequest(p) : p._tag === "Data" ? emitData(p.block, p.data) : p._tag === "Ack" ? emitAck(p.block) : p._tag === "Error" ? emitError(p.code, p.message) : emitOack(p.options)
      expect(toHex(again), name).toBe(toHex(b))
    }
  })

  it("a DATA header alone is the first 4 bytes of the block; block numbers are 16 bits", () => {
    expect(toHex(emitDataHeader(2))).toBe(toHex(golden("06-busybox-data").subarray(0, 4)))
    expect(toHex(emitDataHeader(65536))).toBe("00030000")
    expect(toHex(emitAck(65537))).toBe("00040001")
  })
})

describe("TFTP wire: names, modes and options", () => {
  it("mode and option names are case-insensitive (lower-cased); a repeated option keeps its first value", () => {
    const b = emitRequest({ opcode: OP_WRQ, filename: "a/b.bin", mode: "OcTeT", options: [["BlkSize", "1428"], ["blksize", "8"]] })
    expect(parse(b)).toEqual({ _tag: "Request", opcode: OP_WRQ, filename: "a/b.bin", mode: "octet", options: [["blksize", "1428"]] })
  })
  it(`at most ${TFTP_MAX_OPTIONS} distinct options are kept from a request of thousands`, () => {
    const many = Array.from({ length: 5000 }, (_, i): readonly [string, string] => [`o${i}`, "1"])
    const p = parse(emitRequest({ opcode: OP_RRQ, filename: "f", mode: "octet", options: [["blksize", "1024"], ...many] }))
    expect(p._tag === "Request" ? [p.options.length, p.options[0]] : p).toEqual([TFTP_MAX_OPTIONS, ["blksize", "1024"]])
  })
  it("a UTF-8 filename is kept as text", () => {
    const b = emitRequest({ opcode: OP_RRQ, filename: "bööt.img", mode: "octet", options: [] })
    expect(parse(b)).toMatchObject({ filename: "bööt.img" })
  })
})

describe("TFTP wire: malformed packets are refused with a reason, never thrown", () => {
  const raw = (...bytes: Array<number>) => new Uint8Array(bytes)
  it.each([
    ["too short", raw(0, 4, 0), "tftp: packet of 3 bytes is too short"],
    ["unknown opcode", raw(0, 9, 0, 0), "tftp: unknown opcode 9"],
    ["request without a terminating NUL", raw(0, 1, 0x61, 0, 0x6f, 0x63), "tftp: request not NUL-terminated"],
    ["request without a mode", raw(0, 1, 0x61, 0), "tftp: request without a mode"],
    ["empty filename", raw(0, 1, 0, 0x6f, 0), "tftp: request filename empty, not UTF-8 or with control characters"],
    ["filename not UTF-8", raw(0, 1, 0xff, 0xfe, 0, 0x6f, 0), "tftp: request filename empty, not UTF-8 or with control characters"],
    ["control character in the filename", raw(0, 1, 0x61, 0x0a, 0x62, 0, 0x6f, 0), "tftp: request filename empty, not UTF-8 or with control characters"],
    ["option without a value", raw(0, 1, 0x61, 0, 0x6f, 0, 0x78, 0), "tftp: request option without a value"],
    ["OACK not terminated", raw(0, 6, 0x78, 0, 0x31), "tftp: OACK not NUL-terminated"],
  ])("%s", (_name, b, why) => {
    expect(reason(b)).toBe(why)
  })
})
