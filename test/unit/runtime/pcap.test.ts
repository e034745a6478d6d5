import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { silentLogger } from "../../../src/runtime/host/logger.ts"
import { pcapGlobalHeader, pcapRecordHeader } from "../../../src/runtime/pcap/pcap-format.ts"
import { openPcapFile } from "../../../src/runtime/pcap/pcap-writer.ts"
import { openAppendFile } from "../../../src/runtime/record/append-file.ts"
import { perGuestPath } from "../../../src/runtime/record/guest-files.ts"
import { toHex } from "../../../src/protocol/wire/bytes.ts"
import { instant } from "../../../src/effects/instant.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { createStack, reduce as rawReduce } from "../../../src/protocol/stack/stack.ts"
import { checkedStackReduce } from "../../support/checked.ts"
import { golden6 } from "../../golden/ipv6/golden6.ts"

// The stack reducer through the referential-transparency harness (test/support/checked.ts).
const reduce = checkedStackReduce(rawReduce)

const dir = mkdtempSync(join(tmpdir(), "tslirp-pcap-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// An ARP request (who has 10.0.2.2? tell 10.0.2.15) and its reply, as a guest and tslirp send them.
const arpRequest = Uint8Array.from(
  Buffer.from("ffffffffffff52540012345608060001080006040001525400123456" + "0a00020f000000000000" + "0a000202", "hex"),
)
const arpReply = Uint8Array.from(
  Buffer.from("52540012345652550a00020208060001080006040002" + "52550a000202" + "0a000202" + "525400123456" + "0a00020f", "hex"),
)

describe("pcap format", () => {
  it("global header: magic a1b2c3d4 (LE, microseconds), v2.4, snaplen 262144, LINKTYPE_ETHERNET", () => {
    expect(toHex(pcapGlobalHeader())).toBe("d4c3b2a1" + "0200" + "0400" + "00000000" + "00000000" + "00000400" + "01000000")
  })
  it("record header: seconds, microseconds, captured and original length", () => {
    expect(toHex(pcapRecordHeader(1_700_000_000_123_456, 42))).toBe("00f15365" + "40e20100" + "2a000000" + "2a000000")
  })
})

describe("pcap writer", () => {
  it("writes header and records with timestamps; tshark reads it without warnings", async () => {
    const path = join(dir, "arp.pcap")
    let t = 1_700_000_000_000_000
    const w = openPcapFile(path, silentLogger, () => (t += 1500))
    w.write(arpRequest)
    w.write(arpReply)
    await w.close()
    const bytes = readFileSync(path)
    expect(bytes.length).toBe(24 + 16 + arpRequest.length + 16 + arpReply.length)
    expect(toHex(bytes.subarray(24 + 16, 24 + 16 + 6))).toBe("ffffffffffff")

    const r = spawnSync("tshark", ["-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "arp.opcode", "-e", "arp.dst.proto_ipv4"], {
      encoding: "utf8",
    })
    if (r.error !== undefined) throw new Error(`tshark is needed for this test (apt-get install -y tshark): ${r.error.message}`)
    expect(r.status).toBe(0)
    const warnings = r.stderr.split("\n").filter((l) => l.trim() !== "" && !l.includes("Running as user"))
    expect(warnings).toEqual([])
    const rows = r.stdout.trim().split("\n").map((l) => l.split("\t"))
    expect(rows.map((row) => row.slice(1))).toEqual([
      ["1", "10.0.2.2"],
      ["2", "10.0.2.15"],
    ])
    expect(Number(rows[0]![0])).toBeCloseTo(1_700_000_000.0015, 6)
    expect(Number(rows[1]![0])).toBeCloseTo(1_700_000_000.003, 6)
  })
  it("IPv6: the stack's router advertisement, written as captured, is decoded by tshark with a good checksum and its RDNSS", async () => {
    const rs = golden6("ndp-rs")
    const [, fx] = reduce(createStack(defaultConfig, instant(0)), { _tag: "FrameFromGuest", now: instant(0), frame: rs })
    const ra = fx.flatMap((e) => (e._tag === "DeliverFrame" ? [e.frame] : []))
    expect(ra).toHaveLength(1)
    const path = join(dir, "ipv6.pcap")
    const w = openPcapFile(path, silentLogger)
    w.write(rs)
    w.write(ra[0]!)
    await w.close()
    const r = spawnSync("tshark", ["-r", path, "-T", "fields", "-e", "icmpv6.type", "-e", "icmpv6.checksum.status", "-e", "icmpv6.opt.rdnss"], { encoding: "utf8" })
    if (r.error !== undefined) throw new Error(`tshark is needed for this test (apt-get install -y tshark): ${r.error.message}`)
    const rows = r.stdout.trim().split("\n").map((l) => l.split("\t"))
    expect(rows).toEqual([
      ["133", "1", ""],
      ["134", "1", "fec0::3"],
    ])
  })
  it("frames written after close are ignored", async () => {
    const path = join(dir, "closed.pcap")
    const w = openPcapFile(path, silentLogger)
    const closed = w.close()
    w.write(arpRequest)
    await closed
    w.write(arpRequest)
    expect(readFileSync(path).length).toBe(24)
  })
})

// Bursts: one buffer the caller rewrites for every frame (as a runtime reuses its receive
// buffers), frames of varying length whose bytes say which frame they are.
const T0 = 1_700_000_000_000_000
const frameLength = (i: number): number => 60 + ((i * 37) % 1455)
const fillFrame = (buf: Uint8Array, i: number): Uint8Array => {
  const f = buf.subarray(0, frameLength(i))
  for (let k = 0; k < f.length; k++) f[k] = (i + k * 13) & 0xff
  f[0] = i & 0xff
  f[1] = (i >> 8) & 0xff
  return f
}
/** What the synchronous writer wrote for frames `from..to-1` at clock `T0 + 7 * (i + 1)`: the
 * global header, then per frame pcap-format.ts's record header and the frame. */
const expectedCapture = (from: number, to: number): Buffer => {
  const parts: Array<Uint8Array> = [pcapGlobalHeader()]
  const buf = new Uint8Array(1514)
  for (let i = from; i < to; i++) {
    const f = fillFrame(buf, i)
    parts.push(pcapRecordHeader(T0 + 7 * (i + 1), f.length), Uint8Array.from(f))
  }
  return Buffer.concat(parts)
}
const burstClock = (): (() => number) => {
  let t = T0
  return () => (t += 7)
}
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe("pcap writer under bursts (asynchronous writes at explicit offsets)", () => {
  it("a burst of 12000 frames in one turn, then more over later turns: byte-identical to the synchronous writer's output", async () => {
    const path = join(dir, "burst.pcap")
    const w = openPcapFile(path, silentLogger, burstClock())
    const buf = new Uint8Array(1514)
    // ~9 MB in one turn: several batches go to the disk while the burst is still being written.
    for (let i = 0; i < 12000; i++) w.write(fillFrame(buf, i))
    for (let i = 12000; i < 14000; i++) {
      w.write(fillFrame(buf, i))
      if (i % 100 === 0) await nextTurn()
    }
    await w.close()
    const got = readFileSync(path)
    const want = expectedCapture(0, 14000)
    expect(got.length).toBe(want.length)
    expect(got.equals(want)).toBe(true)
  })

  it("rotation at the bound while earlier writes are in flight: FILE.1 and FILE hold exactly the last two files' frames", async () => {
    const path = join(dir, "burst-rot.pcap")
    // Every frame 1514 bytes here, so a file holds exactly 1000 records.
    const record = 16 + 1514
    const w = openPcapFile(path, silentLogger, burstClock(), { maxBytes: 24 + 1000 * record })
    const buf = new Uint8Array(1514)
    const full = (i: number): Uint8Array => {
      buf.fill(i & 0xff)
      buf[0] = i & 0xff
      buf[1] = (i >> 8) & 0xff
      return buf
    }
    for (let i = 0; i < 10500; i++) {
      w.write(full(i))
      if (i % 2500 === 0) await nextTurn()
    }
    await w.close()
    const file = (from: number, to: number): Buffer => {
      const parts: Array<Uint8Array> = [pcapGlobalHeader()]
      for (let i = from; i < to; i++) parts.push(pcapRecordHeader(T0 + 7 * (i + 1), 1514), Uint8Array.from(full(i)))
      return Buffer.concat(parts)
    }
    // Files of frames 0-999, 1000-1999, ...; the tenth (9000-9999) is FILE.1, 10000-10499 is FILE.
    expect(readFileSync(`${path}.1`).equals(file(9000, 10000))).toBe(true)
    expect(readFileSync(path).equals(file(10000, 10500))).toBe(true)
  })

  it("close resolves only when every pending write is on disk: the file is whole right after it", async () => {
    const path = join(dir, "close-waits.pcap")
    const w = openPcapFile(path, silentLogger, burstClock())
    const buf = new Uint8Array(1514)
    // ~30 MB, seven times the batch bound (4 MiB), so several writes are in flight when close
    // is called.
    for (let i = 0; i < 40000; i++) w.write(fillFrame(buf, i))
    const closed = w.close()
    // A second close is the same promise; frames after close are not written.
    expect(w.close()).toBe(closed)
    w.write(fillFrame(buf, 40000))
    await closed
    const got = readFileSync(path)
    const want = expectedCapture(0, 40000)
    expect(got.length).toBe(want.length)
    expect(got.equals(want)).toBe(true)
  })
})

describe("append file (the sink under --pcap and --record)", () => {
  it.each([true, false])("past the backlog bound writes go synchronously; every write lands at its offset and is released once (direct: %s)", async (direct) => {
    const path = join(dir, `backlog-${direct}.bin`)
    const errors: Array<unknown> = []
    // A 64 KiB bound: most of these 200 writes of 16 KiB find it full and are synchronous.
    const f = openAppendFile(path, (e) => errors.push(e), { backlogBytes: 64 * 1024, direct })
    const want: Array<Uint8Array> = []
    let released = 0
    for (let i = 0; i < 200; i++) {
      const chunk = new Uint8Array(16 * 1024).fill(i & 0xff)
      want.push(Uint8Array.from(chunk))
      f.write([chunk.subarray(0, 8192), chunk.subarray(8192)], () => released++)
    }
    await f.close()
    expect(errors).toEqual([])
    expect(released).toBe(200)
    expect(readFileSync(path).equals(Buffer.concat(want))).toBe(true)
  })
})

describe("pcap per guest and rotation (--pcap-max-bytes)", () => {
  it("rotation: FILE moves to FILE.1 before it would pass the bound; each file is a whole capture", async () => {
    const path = join(dir, "rot.pcap")
    const w = openPcapFile(path, silentLogger, () => 1_700_000_000_000_000, { maxBytes: 24 + 3 * (16 + arpRequest.length) })
    for (let i = 0; i < 7; i++) w.write(i % 2 === 0 ? arpRequest : arpReply)
    await w.close()
    const current = readFileSync(path)
    const previous = readFileSync(`${path}.1`)
    const record = 16 + arpRequest.length
    // 7 frames, 3 per file: frames 1-3, 4-6 (renamed to .1 when frame 7 came), 7.
    expect(previous.length).toBe(24 + 3 * record)
    expect(current.length).toBe(24 + record)
    expect(toHex(current.subarray(0, 24))).toBe(toHex(pcapGlobalHeader()))
    expect(toHex(previous.subarray(0, 24))).toBe(toHex(pcapGlobalHeader()))
    expect(toHex(current.subarray(24 + 16))).toBe(toHex(arpRequest))
  })

  it("names: %n is the guest's number; without it guest n > 1 gets .n before the extension", () => {
    expect(perGuestPath("/tmp/cap-%n.pcap", 3)).toBe("/tmp/cap-3.pcap")
    expect(perGuestPath("/tmp/cap.pcap", 1)).toBe("/tmp/cap.pcap")
    expect(perGuestPath("/tmp/cap.pcap", 2)).toBe("/tmp/cap.2.pcap")
    expect(perGuestPath("/tmp/cap", 2)).toBe("/tmp/cap.2")
  })
})
