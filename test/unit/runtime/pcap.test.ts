import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { silentLogger } from "../../../src/runtime/host/logger.ts"
import { pcapGlobalHeader, pcapRecordHeader } from "../../../src/runtime/pcap/pcap-format.ts"
import { openPcapFile } from "../../../src/runtime/pcap/pcap-writer.ts"
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
  it("writes header and records with timestamps; tshark reads it without warnings", () => {
    const path = join(dir, "arp.pcap")
    let t = 1_700_000_000_000_000
    const w = openPcapFile(path, silentLogger, () => (t += 1500))
    w.write(arpRequest)
    w.write(arpReply)
    w.close()
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
  it("IPv6: the stack's router advertisement, written as captured, is decoded by tshark with a good checksum and its RDNSS", () => {
    const rs = golden6("ndp-rs")
    const [, fx] = reduce(createStack(defaultConfig, instant(0)), { _tag: "FrameFromGuest", now: instant(0), frame: rs })
    const ra = fx.flatMap((e) => (e._tag === "DeliverFrame" ? [e.frame] : []))
    expect(ra).toHaveLength(1)
    const path = join(dir, "ipv6.pcap")
    const w = openPcapFile(path, silentLogger)
    w.write(rs)
    w.write(ra[0]!)
    w.close()
    const r = spawnSync("tshark", ["-r", path, "-T", "fields", "-e", "icmpv6.type", "-e", "icmpv6.checksum.status", "-e", "icmpv6.opt.rdnss"], { encoding: "utf8" })
    if (r.error !== undefined) throw new Error(`tshark is needed for this test (apt-get install -y tshark): ${r.error.message}`)
    const rows = r.stdout.trim().split("\n").map((l) => l.split("\t"))
    expect(rows).toEqual([
      ["133", "1", ""],
      ["134", "1", "fec0::3"],
    ])
  })
  it("frames written after close are ignored", () => {
    const path = join(dir, "closed.pcap")
    const w = openPcapFile(path, silentLogger)
    w.close()
    w.write(arpRequest)
    expect(readFileSync(path).length).toBe(24)
  })
})

describe("pcap per guest and rotation (--pcap-max-bytes)", () => {
  it("rotation: FILE moves to FILE.1 before it would pass the bound; each file is a whole capture", () => {
    const path = join(dir, "rot.pcap")
    const w = openPcapFile(path, silentLogger, () => 1_700_000_000_000_000, { maxBytes: 24 + 3 * (16 + arpRequest.length) })
    for (let i = 0; i < 7; i++) w.write(i % 2 === 0 ? arpRequest : arpReply)
    w.close()
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
