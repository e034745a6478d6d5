import { describe, expect, it } from "vitest"
import { emitAck, emitRequest, OP_RRQ, parseTftp } from "../../../src/protocol/tftp/wire.ts"
import { get16 } from "../../../src/protocol/wire/bytes.ts"
import { firstDifference } from "../../support/referential.ts"
import { StackDriver, ofTag } from "./driver.ts"
import { GUEST, HOST, decode, udpChecksumOk, udpFrame } from "./frames.ts"
import { GUEST6, HOST6, HOST6_LL, decode6, udp6Frame } from "./frames6.ts"
import { formatIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"

const rrq = (name: string) => emitRequest({ opcode: OP_RRQ, filename: name, mode: "octet", options: [] })

describe("stack: the TFTP server on the gateway", () => {
  it("with a TFTP root, port 69 of the gateway is the server: a file is opened, its block reaches the guest from the transfer port", () => {
    const d = new StackDriver({ tftpRoot: "/srv/tftp" })
    d.frame(udpFrame(GUEST, HOST, 3000, 69, rrq("hello.txt")))
    const fx = d.take()
    expect(ofTag(fx, "UdpOpen")).toEqual([])
    const [open] = ofTag(fx, "FileOpen")
    expect([open!.root, open!.path]).toEqual(["/srv/tftp", "hello.txt"])
    d.event({ _tag: "HostFileOpened", file: open!.file, size: 5 })
    const [read] = ofTag(d.take(), "FileRead")
    d.event({ _tag: "HostFileData", file: open!.file, offset: read!.offset, data: new TextEncoder().encode("hello") })
    const frames = d.framesOut()
    expect(frames).toHaveLength(1)
    const ip = decode(frames[0]!).ip!
    expect([ip.src, ip.dst, ip.headerOk, udpChecksumOk(ip.src, ip.dst, ip.payload)]).toEqual([HOST, GUEST, true, true])
    const port = get16(ip.payload, 0)
    expect(get16(ip.payload, 2)).toBe(3000)
    const p = parseTftp(ip.payload.subarray(8))
    expect(p.ok && p.packet._tag === "Data" ? [p.packet.block, new TextDecoder().decode(p.packet.data)] : p).toEqual([1, "hello"])
    // The guest's ACK to the transfer port ends it; that port then belongs to the host again.
    d.frame(udpFrame(GUEST, HOST, 3000, port, emitAck(1)))
    expect(ofTag(d.take(), "FileClose")).toEqual([{ _tag: "FileClose", file: open!.file }])
    d.frame(udpFrame(GUEST, HOST, 3000, port, emitAck(1)))
    expect(ofTag(d.take(), "UdpSend").map((u) => u.to)).toEqual([{ family: 4, address: "127.0.0.1", port }])
  })

  it.each([
    ["global", HOST6],
    ["link-local", HOST6_LL],
  ])("over IPv6 to the gateway's %s address: answered from that address, checksum good", (_kind, gw) => {
    const d = new StackDriver({ tftpRoot: "/srv/tftp" })
    d.frame(udp6Frame(GUEST6, gw, 3000, 69, rrq("six.txt")))
    const [open] = ofTag(d.take(), "FileOpen")
    expect(open?.path).toBe("six.txt")
    d.event({ _tag: "HostFileOpened", file: open!.file, size: 3 })
    const [read] = ofTag(d.take(), "FileRead")
    d.event({ _tag: "HostFileData", file: open!.file, offset: read!.offset, data: new TextEncoder().encode("six") })
    const r = decode6(d.framesOut()[0]!)
    expect([r.src, r.dst, r.nh, r.checksumOk, get16(r.payload, 2)]).toEqual([formatIpv6(gw), formatIpv6(GUEST6), 17, true, 3000])
    const p = parseTftp(r.payload.subarray(8))
    expect(p.ok && p.packet._tag === "Data" ? new TextDecoder().decode(p.packet.data) : p).toBe("six")
    d.frame(udp6Frame(GUEST6, gw, 3000, get16(r.payload, 0), emitAck(1)))
    expect(ofTag(d.take(), "FileClose")).toHaveLength(1)
  })

  it("the transfer's timer goes to the TFTP server: the block is resent", () => {
    const d = new StackDriver({ tftpRoot: "/srv/tftp" })
    d.frame(udpFrame(GUEST, HOST, 3000, 69, rrq("f")))
    const [open] = ofTag(d.take(), "FileOpen")
    d.event({ _tag: "HostFileOpened", file: open!.file, size: 1 })
    d.event({ _tag: "HostFileData", file: open!.file, offset: 0, data: new Uint8Array([7]) })
    expect(d.framesOut()).toHaveLength(1)
    d.advance(1_000)
    expect(d.framesOut()).toHaveLength(1)
  })

  it("without a TFTP root, port 69 of the gateway is relayed to the host's loopback as before", () => {
    const d = new StackDriver()
    d.frame(udpFrame(GUEST, HOST, 3000, 69, rrq("f")))
    const fx = d.take()
    expect(ofTag(fx, "FileOpen")).toEqual([])
    expect(ofTag(fx, "UdpSend").map((u) => u.to)).toEqual([{ family: 4, address: "127.0.0.1", port: 69 }])
  })

  it("shutdown closes the files of running transfers", () => {
    const d = new StackDriver({ tftpRoot: "/srv/tftp" })
    d.frame(udpFrame(GUEST, HOST, 3000, 69, rrq("f")))
    const [open] = ofTag(d.take(), "FileOpen")
    d.event({ _tag: "Shutdown" })
    expect(ofTag(d.take(), "FileClose")).toEqual([{ _tag: "FileClose", file: open!.file }])
    expect(d.state.tftp.sessions.size).toBe(0)
  })

  it("a state cloned mid-transfer (structuredClone) carries on exactly like the original", () => {
    const d = new StackDriver({ tftpRoot: "/srv/tftp" })
    d.frame(udpFrame(GUEST, HOST, 3000, 69, rrq("f")))
    const [open] = ofTag(d.take(), "FileOpen")
    d.event({ _tag: "HostFileOpened", file: open!.file, size: 600 })
    d.event({ _tag: "HostFileData", file: open!.file, offset: 0, data: new Uint8Array(512).fill(3) })
    const port = get16(decode(d.framesOut()[0]!).ip!.payload, 0)
    const clone = new StackDriver({ tftpRoot: "/srv/tftp" })
    clone.state = structuredClone(d.state)
    clone.now = d.now
    for (const x of [d, clone]) {
      x.frame(udpFrame(GUEST, HOST, 3000, port, emitAck(1)))
      x.event({ _tag: "HostFileData", file: open!.file, offset: 512, data: new Uint8Array(88).fill(4) })
      x.frame(udpFrame(GUEST, HOST, 3000, port, emitAck(2)))
    }
    const [a, b] = [d.take(), clone.take()]
    expect(ofTag(a, "FileClose")).toHaveLength(1)
    expect(firstDifference(a, b)).toBeUndefined()
    expect(firstDifference(d.state, clone.state)).toBeUndefined()
  })

  it("a file event for no transfer is ignored with a debug line", () => {
    const d = new StackDriver({ tftpRoot: "/srv/tftp" })
    const fx = d.event({ _tag: "HostFileOpened", file: 99 as never, size: 1 })
    expect(fx.map((e) => e._tag)).toEqual(["Log"])
  })
})
