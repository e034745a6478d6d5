import { describe, expect, it } from "vitest"
import type { StackEffect } from "../../../src/effects/effect.ts"
import type { TftpFileEvent, TftpSession } from "../../../src/protocol/tftp/server.ts"
import { type FileId, timerId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import {
  TFTP_HOST_TIMEOUT_MS,
  TFTP_MAX_RETRANSMITS,
  TFTP_MAX_SESSIONS,
  TFTP_RETRANSMIT_MS,
  TFTP_TID_FIRST,
  type TftpContext,
  type TftpState,
  createTftp,
  isTftpPort,
  tftpFileEvent as rawFileEvent,
  tftpFromGuest as rawFromGuest,
  tftpShutdown,
  tftpTimer as rawTimer,
} from "../../../src/protocol/tftp/server.ts"
import { OP_RRQ, OP_WRQ, type TftpOption, type TftpPacket, emitAck, emitError, emitRequest, parseTftp } from "../../../src/protocol/tftp/wire.ts"
import type { LayerOutput } from "../../../src/protocol/stack/output.ts"
import { get16, toHex } from "../../../src/protocol/wire/bytes.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import type { IpAddress } from "../../../src/protocol/wire/ip-address.ts"
import { parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { emptyIntMap, intMapSet, intMapValues } from "../../../src/protocol/data/int-map.ts"
import { checkedLayer } from "../../support/checked.ts"
import { golden, goldenFile } from "./golden.ts"

const fromGuest = checkedLayer(rawFromGuest)
const fileEvent = checkedLayer(rawFileEvent)
const timer = checkedLayer(rawTimer)

const GUEST = ipv4(10, 0, 2, 15)
const OTHER = ipv4(10, 0, 2, 16)
const HOST = ipv4(10, 0, 2, 2)
const ROOT = "/srv/tftp"

type Without<E, K extends PropertyKey> = E extends unknown ? Omit<E, K> : never

interface Sent {
  readonly srcPort: number
  readonly dstPort: number
  readonly src: IpAddress
  readonly dst: IpAddress
  readonly udpLength: number
  readonly bytes: Uint8Array
  readonly packet: TftpPacket
}

/** A little TFTP world: one server state, virtual time, and what the last call put out. */
class World {
  s: TftpState = createTftp(7)
  now = 1_000
  out: ReadonlyArray<LayerOutput> = []
  readonly mtu: number = 1500

  ctx(): TftpContext {
    return { root: ROOT, mtu: this.mtu, now: instant(this.now) }
  }
  private take(r: readonly [TftpState, ReadonlyArray<LayerOutput>]): ReadonlyArray<LayerOutput> {
    this.s = r[0]
    this.out = r[1]
    return r[1]
  }
  guest(payload: Uint8Array, dstPort = 69, srcPort = 2000, src: IpAddress = GUEST, dst: IpAddress = HOST) {
    return this.take(fromGuest(this.s, this.ctx(), { src, dst, srcPort, dstPort, payload }))
  }
  rrq(filename: string, options: ReadonlyArray<TftpOption> = [], srcPort = 2000, mode = "octet") {
    return this.guest(emitRequest({ opcode: OP_RRQ, filename, mode, options }), 69, srcPort)
  }
  file(ev: Without<TftpFileEvent, "now">) {
    return this.take(fileEvent(this.s, this.ctx(), { ...ev, now: instant(this.now) } as TftpFileEvent))
  }
  fire(port: number, afterMs: number) {
    this.now += afterMs
    return this.take(timer(this.s, this.ctx(), timerId("tftp", port)))
  }
  sent(): Array<Sent> {
    return this.out.flatMap((o) => {
      if (o._tag !== "PacketToGuest") return []
      const bytes = new Uint8Array([...o.header.subarray(8), ...(o.payload ?? [])])
      const p = parseTftp(bytes)
      if (!p.ok) throw new Error(p.reason)
      return [{ srcPort: get16(o.header, 0), dstPort: get16(o.header, 2), src: o.src, dst: o.dst, udpLength: get16(o.header, 4), bytes, packet: p.packet }]
    })
  }
  effects<T extends StackEffect["_tag"]>(tag: T): Array<Extract<StackEffect, { _tag: T }>> {
    return this.out.filter((o): o is Extract<StackEffect, { _tag: T }> => o._tag === tag)
  }
  /** The one transfer's server port and file. */
  session() {
    const all = [...intMapValues(this.s.sessions)]
    expect(all).toHaveLength(1)
    return all[0]!
  }
}

const fileOf = (w: World): FileId => w.effects("FileOpen")[0]!.file
const sessionFile = (w: World): FileId => w.session().file

/** A server state holding just `t` (to start a transfer far along). */
const createTftpWith = (port: number, t: TftpSession): TftpState => ({ sessions: intMapSet(emptyIntMap<number, TftpSession>(), port, t), nextFile: 2, nextPort: 0 })

/** Runs a whole transfer of `data`, answering every read from it; returns the blocks the client got. */
const transfer = (w: World, data: Uint8Array, options: ReadonlyArray<TftpOption> = []): Array<Uint8Array> => {
  w.rrq("f.bin", options)
  const file = fileOf(w)
  const port = w.session().port
  w.file({ _tag: "HostFileOpened", file, size: data.length })
  const blocks: Array<Uint8Array> = []
  for (let guard = 0; guard < 10_000; guard++) {
    const read = w.effects("FileRead")[0]
    if (read !== undefined) w.file({ _tag: "HostFileData", file, offset: read.offset, data: data.slice(read.offset, read.offset + read.length) })
    const [p] = w.sent()
    if (p === undefined) return blocks
    if (p.packet._tag === "Oack") w.guest(emitAck(0), port)
    else if (p.packet._tag === "Data") {
      blocks.push(p.packet.data)
      w.guest(emitAck(p.packet.block), port)
    } else return blocks
  }
  throw new Error("transfer did not end")
}

describe("TFTP server: a read request, transfer and end (RFC 1350)", () => {
  it("RRQ -> FileOpen under the root; DATA 1..n from a fresh transfer port; the last ACK closes the file", () => {
    const w = new World()
    w.rrq("boot/pxelinux.0")
    expect(w.effects("FileOpen")).toEqual([{ _tag: "FileOpen", file: fileOf(w), root: ROOT, path: "boot/pxelinux.0" }])
    const port = w.session().port
    expect(port).toBeGreaterThanOrEqual(TFTP_TID_FIRST)
    expect(isTftpPort(w.s, port)).toBe(true)
    const file = fileOf(w)
    w.file({ _tag: "HostFileOpened", file, size: 700 })
    expect(w.effects("FileRead")).toEqual([{ _tag: "FileRead", file, offset: 0, length: 512 }])
    expect(w.sent()).toEqual([]) // no options asked: no OACK
    const data = new Uint8Array(700).map((_, i) => i & 0xff)
    w.file({ _tag: "HostFileData", file, offset: 0, data: data.slice(0, 512) })
    const [d1] = w.sent()
    expect([d1!.srcPort, d1!.dstPort, d1!.dst, d1!.udpLength]).toEqual([port, 2000, GUEST, 8 + 4 + 512])
    expect(d1!.packet).toMatchObject({ _tag: "Data", block: 1 })
    w.guest(emitAck(1), port)
    expect(w.effects("FileRead")).toEqual([{ _tag: "FileRead", file, offset: 512, length: 512 }])
    w.file({ _tag: "HostFileData", file, offset: 512, data: data.slice(512) })
    expect(w.sent()[0]!.packet).toMatchObject({ _tag: "Data", block: 2 })
    w.guest(emitAck(2), port)
    expect(w.effects("FileClose")).toEqual([{ _tag: "FileClose", file }])
    expect(w.effects("CancelTimer")).toEqual([{ _tag: "CancelTimer", timer: timerId("tftp", port) }])
    expect(w.s.sessions.size).toBe(0)
    expect(isTftpPort(w.s, port)).toBe(false)
  })

  it("the blocks put together are the file", () => {
    const data = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff)
    const blocks = transfer(new World(), data)
    expect(blocks.map((b) => b.length)).toEqual([512, 512, 512, 512, 512, 512, 512, 512, 512, 392])
    expect(toHex(new Uint8Array(blocks.flatMap((b) => [...b])))).toBe(toHex(data))
  })

  it("a file of an exact multiple of blksize ends with an empty DATA block; an empty file is one empty block", () => {
    expect(transfer(new World(), new Uint8Array(1024)).map((b) => b.length)).toEqual([512, 512, 0])
    expect(transfer(new World(), new Uint8Array(0)).map((b) => b.length)).toEqual([0])
  })

  it("block numbers wrap after 65535: block 65536 goes out as 0 and its ACK 0 is accepted", () => {
    const w = new World()
    w.rrq("big.img")
    const file = fileOf(w)
    w.file({ _tag: "HostFileOpened", file, size: 70_000 * 512 })
    // Jump to block 65535 awaiting its ACK (65534 full blocks sent before it).
    const t = w.session()
    w.s = createTftpWith(t.port, { ...t, phase: "AwaitingAck", block: 65535, sent: { header: new Uint8Array(4), payload: new Uint8Array(512) }, final: false })
    w.guest(emitAck(65535), t.port)
    const read = w.effects("FileRead")[0]!
    expect(read.offset).toBe(65535 * 512)
    w.file({ _tag: "HostFileData", file, offset: read.offset, data: new Uint8Array(512) })
    expect(w.sent()[0]!.packet).toMatchObject({ _tag: "Data", block: 0 })
    w.guest(emitAck(0), t.port)
    expect(w.effects("FileRead")[0]!.offset).toBe(65536 * 512)
  })
})

describe("TFTP server: over IPv6", () => {
  const GUEST6 = parseIpv6("fec0::5054:ff:fe12:3456")!
  const GW6_LL = parseIpv6("fe80::2")!

  it("a request to the gateway's link-local address is answered from it; blksize fits an IPv6 frame (1500: 1448)", () => {
    const w = new World()
    w.guest(emitRequest({ opcode: OP_RRQ, filename: "f", mode: "octet", options: [["blksize", "1468"]] }), 69, 2000, GUEST6, GW6_LL)
    w.file({ _tag: "HostFileOpened", file: fileOf(w), size: 3 })
    const [oack] = w.sent()
    expect(oack!.packet).toEqual({ _tag: "Oack", options: [["blksize", "1448"]] })
    expect([[...(oack!.src as Uint8Array)], [...(oack!.dst as Uint8Array)]]).toEqual([[...GW6_LL], [...GUEST6]])
    const port = w.session().port
    w.guest(emitAck(0), port, 2000, GUEST6, GW6_LL)
    w.file({ _tag: "HostFileData", file: sessionFile(w), offset: 0, data: new Uint8Array([1, 2, 3]) })
    expect(w.sent()[0]!.packet).toEqual({ _tag: "Data", block: 1, data: new Uint8Array([1, 2, 3]) })
    w.guest(emitAck(1), port, 2000, GUEST6, GW6_LL)
    expect(w.effects("FileClose")).toHaveLength(1)
  })

  it("the same port from the guest's IPv4 address is another transfer ID (error 5)", () => {
    const w = new World()
    w.guest(emitRequest({ opcode: OP_RRQ, filename: "f", mode: "octet", options: [] }), 69, 2000, GUEST6, GW6_LL)
    w.guest(emitAck(0), w.session().port, 2000, GUEST, HOST)
    expect(w.sent().map((p) => p.packet)).toEqual([{ _tag: "Error", code: 5, message: "unknown transfer ID" }])
  })
})

describe("TFTP server: options (RFC 2347, 2348, 2349)", () => {
  it("busybox -b 1024's request, replayed, gets dnsmasq's very OACK; the DATA blocks match the capture too", () => {
    const w = new World()
    const rrq = golden("10-busybox-b1024-rrq")
    w.guest(rrq)
    const file = fileOf(w)
    const content = goldenFile()
    w.file({ _tag: "HostFileOpened", file, size: content.length })
    expect(toHex(w.sent()[0]!.bytes)).toBe(toHex(golden("11-busybox-b1024-oack")))
    const port = w.session().port
    w.guest(golden("12-busybox-b1024-ack"), port)
    const read = w.effects("FileRead")[0]!
    expect([read.offset, read.length]).toEqual([0, 1024])
    w.file({ _tag: "HostFileData", file, offset: 0, data: content.slice(0, 1024) })
    expect(toHex(w.sent()[0]!.bytes)).toBe(toHex(golden("13-busybox-b1024-data")))
    w.guest(golden("14-busybox-b1024-ack"), port)
    w.file({ _tag: "HostFileData", file, offset: 1024, data: content.slice(1024, 2048) })
    expect(toHex(w.sent()[0]!.bytes)).toBe(toHex(golden("15-busybox-b1024-data")))
    w.guest(golden("16-busybox-b1024-ack"), port)
    expect(w.effects("FileClose")).toHaveLength(1)
  })

  it("busybox's plain request (tsize only) gets dnsmasq's OACK with the size", () => {
    const w = new World()
    w.guest(golden("01-busybox-rrq"))
    w.file({ _tag: "HostFileOpened", file: fileOf(w), size: 1222 })
    expect(toHex(w.sent()[0]!.bytes)).toBe(toHex(golden("02-busybox-oack")))
  })

  it("blksize above what one frame holds is answered with the largest that fits (MTU 1500: 1468)", () => {
    const w = new World()
    w.rrq("f", [["blksize", "65464"]])
    w.file({ _tag: "HostFileOpened", file: fileOf(w), size: 1 })
    expect(w.sent()[0]!.packet).toEqual({ _tag: "Oack", options: [["blksize", "1468"]] })
    w.guest(emitAck(0), w.session().port)
    expect(w.effects("FileRead")[0]!.length).toBe(1468)
  })

  it("timeout is echoed and becomes the retransmission interval; curl's request is answered in its order", () => {
    const w = new World()
    w.guest(golden("17-curl-rrq"))
    w.file({ _tag: "HostFileOpened", file: fileOf(w), size: 1222 })
    expect(w.sent()[0]!.packet).toEqual({ _tag: "Oack", options: [["tsize", "1222"], ["blksize", "1024"], ["timeout", "6"]] })
    const port = w.session().port
    expect(w.fire(port, 5_999)).toEqual([])
    expect(w.fire(port, 1).length).toBeGreaterThan(0)
    expect(w.sent()[0]!.packet._tag).toBe("Oack")
  })

  it("invalid and unknown options are left out; none left: no OACK, DATA 1 at once", () => {
    const w = new World()
    w.rrq("f", [["blksize", "7"], ["tsize", "12"], ["timeout", "0"], ["windowsize", "4"], ["blksize", "100"]])
    w.file({ _tag: "HostFileOpened", file: fileOf(w), size: 10 })
    expect(w.sent()).toEqual([])
    expect(w.effects("FileRead")[0]!.length).toBe(512)
  })

  it("a client ERROR 8 (option refused) in answer to the OACK ends the transfer", () => {
    const w = new World()
    w.rrq("f", [["tsize", "0"]])
    const file = fileOf(w)
    w.file({ _tag: "HostFileOpened", file, size: 10 })
    w.guest(emitError(8, "no thanks"), w.session().port)
    expect(w.effects("FileClose")).toEqual([{ _tag: "FileClose", file }])
    expect(w.s.sessions.size).toBe(0)
  })
})

describe("TFTP server: retransmission, duplicates and expiry", () => {
  const started = () => {
    const w = new World()
    w.rrq("f")
    const file = fileOf(w)
    const port = w.session().port
    w.file({ _tag: "HostFileOpened", file, size: 2000 })
    w.file({ _tag: "HostFileData", file, offset: 0, data: new Uint8Array(512).fill(1) })
    return { w, file, port }
  }

  it("no ACK within 1 s: the same DATA again, re-armed; a stale timer (before the deadline) does nothing", () => {
    const { w, port } = started()
    const first = w.sent()[0]!
    expect(w.fire(port, TFTP_RETRANSMIT_MS - 1)).toEqual([])
    w.fire(port, 1)
    expect(toHex(w.sent()[0]!.bytes)).toBe(toHex(first.bytes))
    expect(w.effects("SetTimer")).toEqual([{ _tag: "SetTimer", timer: timerId("tftp", port), at: instant(w.now + TFTP_RETRANSMIT_MS) }])
  })

  it("a duplicate ACK of the previous block is ignored: no resend (Sorcerer's Apprentice), no read", () => {
    const { w, port } = started()
    w.guest(emitAck(1), port)
    expect(w.effects("FileRead")).toHaveLength(1)
    w.file({ _tag: "HostFileData", file: sessionFile(w), offset: 512, data: new Uint8Array(512) })
    expect(w.sent()[0]!.packet).toMatchObject({ block: 2 })
    const out = w.guest(emitAck(1), port)
    expect(out.filter((o) => o._tag !== "Log")).toEqual([])
    const again = w.guest(emitAck(1), port)
    expect(again.filter((o) => o._tag !== "Log")).toEqual([])
  })

  it(`after ${TFTP_MAX_RETRANSMITS} resends the transfer times out: error 0 to the client, file closed`, () => {
    const { w, port, file } = started()
    for (let i = 0; i < TFTP_MAX_RETRANSMITS; i++) {
      w.fire(port, TFTP_RETRANSMIT_MS)
      expect(w.sent()[0]!.packet).toMatchObject({ _tag: "Data", block: 1 })
    }
    w.fire(port, TFTP_RETRANSMIT_MS)
    expect(w.sent().map((p) => p.packet)).toEqual([{ _tag: "Error", code: 0, message: "timed out" }])
    expect(w.effects("FileClose")).toEqual([{ _tag: "FileClose", file }])
    expect(w.s.sessions.size).toBe(0)
  })

  it("only the last block's ACK missing: the transfer ends quietly (the client has the file)", () => {
    const w = new World()
    w.rrq("f")
    const file = fileOf(w)
    const port = w.session().port
    w.file({ _tag: "HostFileOpened", file, size: 3 })
    w.file({ _tag: "HostFileData", file, offset: 0, data: new Uint8Array(3) })
    for (let i = 0; i < TFTP_MAX_RETRANSMITS; i++) w.fire(port, TFTP_RETRANSMIT_MS)
    w.fire(port, TFTP_RETRANSMIT_MS)
    expect(w.sent()).toEqual([])
    expect(w.effects("FileClose")).toEqual([{ _tag: "FileClose", file }])
  })

  it(`the host not answering an open or a read within ${TFTP_HOST_TIMEOUT_MS} ms fails the transfer with error 0`, () => {
    const w = new World()
    w.rrq("f")
    const file = fileOf(w)
    const port = w.session().port
    w.fire(port, TFTP_HOST_TIMEOUT_MS)
    expect(w.sent().map((p) => p.packet)).toEqual([{ _tag: "Error", code: 0, message: "server could not read the file" }])
    expect(w.effects("FileClose")).toEqual([{ _tag: "FileClose", file }])
  })

  it("a repeated RRQ from the same client port is ignored while its transfer runs", () => {
    const w = new World()
    w.rrq("f")
    const out = w.rrq("f")
    expect(out.filter((o) => o._tag !== "Log")).toEqual([])
    expect(w.s.sessions.size).toBe(1)
  })

  it("late file events of an ended transfer are ignored", () => {
    const { w, file, port } = started()
    w.guest(emitError(0, "bye"), port)
    const out = w.file({ _tag: "HostFileData", file, offset: 512, data: new Uint8Array(1) })
    expect(out.filter((o) => o._tag !== "Log")).toEqual([])
  })
})

describe("TFTP server: refusals (read-only, octet only, escapes, bounds)", () => {
  const refused = (w: World) => {
    expect(w.effects("FileOpen")).toEqual([])
    expect(w.s.sessions.size).toBe(0)
    return w.sent().map((p) => [p.srcPort, p.dstPort, p.packet])
  }

  it("WRQ: error 2 from port 69, nothing opened", () => {
    const w = new World()
    w.guest(emitRequest({ opcode: OP_WRQ, filename: "up.bin", mode: "octet", options: [] }))
    expect(refused(w)).toEqual([[69, 2000, { _tag: "Error", code: 2, message: "read-only server" }]])
  })

  it.each(["netascii", "mail", "NetAscii"])("mode %s: error 4", (mode) => {
    const w = new World()
    w.rrq("f", [], 2000, mode)
    expect(refused(w)).toEqual([[69, 2000, { _tag: "Error", code: 4, message: "only octet mode is served" }]])
  })

  it.each(["../etc/passwd", "/etc/passwd", "a/../../b", "a/..", "..", "..\\x", "sub\\..\\..\\x"])("%j: error 2, never opened", (name) => {
    const w = new World()
    w.rrq(name)
    expect(refused(w)).toEqual([[69, 2000, { _tag: "Error", code: 2, message: "access violation" }]])
  })

  it("names with '..' inside a component are fine (they do not climb)", () => {
    const w = new World()
    w.rrq("a..b/..c")
    expect(w.effects("FileOpen")[0]!.path).toBe("a..b/..c")
  })

  it("a malformed request gets error 4 from port 69", () => {
    const w = new World()
    w.guest(new Uint8Array([0, 1, 0x61, 0]))
    expect(refused(w)).toEqual([[69, 2000, { _tag: "Error", code: 4, message: "malformed request" }]])
  })

  it("DATA, ACK or ERROR sent to port 69 are dropped without an answer", () => {
    const w = new World()
    w.guest(emitAck(1))
    expect(refused(w)).toEqual([])
  })

  it(`at most ${TFTP_MAX_SESSIONS} transfers at once: the next is refused with error 0, and admitted once one ends`, () => {
    const w = new World()
    for (let i = 0; i < TFTP_MAX_SESSIONS; i++) w.rrq(`f${i}`, [], 3000 + i)
    expect(w.s.sessions.size).toBe(TFTP_MAX_SESSIONS)
    const ports = new Set([...intMapValues(w.s.sessions)].map((t) => t.port))
    expect(ports.size).toBe(TFTP_MAX_SESSIONS)
    w.rrq("one-more", [], 4000)
    expect(w.sent().map((p) => p.packet)).toEqual([{ _tag: "Error", code: 0, message: "too many transfers, try again later" }])
    const first = [...intMapValues(w.s.sessions)].find((t) => t.clientPort === 3000)!
    w.guest(emitError(0, "cancel"), first.port, 3000)
    w.rrq("one-more", [], 4000)
    expect(w.effects("FileOpen")).toHaveLength(1)
  })

  it("a datagram on a transfer port from another address or port gets error 5; the transfer goes on", () => {
    const w = new World()
    w.rrq("f")
    const port = w.session().port
    const before = w.s
    w.guest(emitAck(0), port, 2001)
    expect(w.sent().map((p) => [p.srcPort, p.dstPort, p.packet])).toEqual([[port, 2001, { _tag: "Error", code: 5, message: "unknown transfer ID" }]])
    expect(w.s).toBe(before)
    w.guest(emitAck(0), port, 2000, OTHER)
    expect(w.sent().map((p) => [p.dst, p.packet._tag])).toEqual([[OTHER, "Error"]])
  })

  it.each([
    ["ENOENT", 1, "file not found"],
    ["EACCES", 2, "access violation"],
    ["EISDIR", 2, "access violation"],
    ["EIO", 0, "cannot read the file"],
  ])("the runtime's %s becomes error %d, without a FileClose (the runtime closed it)", (code, err, message) => {
    const w = new World()
    w.rrq("f")
    const port = w.session().port
    w.file({ _tag: "HostFileError", file: fileOf(w), code })
    expect(w.sent().map((p) => [p.srcPort, p.packet])).toEqual([[port, { _tag: "Error", code: err, message }]])
    expect(w.effects("FileClose")).toEqual([])
    expect(w.s.sessions.size).toBe(0)
  })

  it("shutdown closes every open file and cancels every timer", () => {
    const w = new World()
    w.rrq("a", [], 1)
    w.rrq("b", [], 2)
    const fx = tftpShutdown(w.s)
    expect(fx.filter((e) => e._tag === "FileClose")).toHaveLength(2)
    expect(fx.filter((e) => e._tag === "CancelTimer")).toHaveLength(2)
  })
})

describe("TFTP server: hostile input never throws", () => {
  /** A small seeded generator (Park-Miller), so a failure replays. */
  const random = (seed: number) => {
    let x = seed
    return (n: number) => (x = (x * 48271) % 0x7fffffff) % n
  }

  it("10 000 random datagrams (random opcodes, NULs, lengths) to port 69 and to a transfer port", () => {
    const next = random(12345)
    const w = new World()
    w.rrq("f")
    const port = w.session().port
    for (let i = 0; i < 10_000; i++) {
      const b = new Uint8Array(next(40)).map(() => (next(4) === 0 ? 0 : next(256)))
      if (b.length >= 2 && next(2) === 0) b[1] = next(8) // mostly known opcodes
      if (b.length >= 1) b[0] = 0
      w.guest(b, next(2) === 0 ? 69 : port, 2000 + next(3))
      expect(w.s.sessions.size).toBeLessThanOrEqual(TFTP_MAX_SESSIONS)
    }
  })
})
