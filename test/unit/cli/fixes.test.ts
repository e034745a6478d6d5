/**
 * The command-line fixes found by trying tslirp as a new user (issue 8), at the parser level:
 * `-h`, every log level explained in --help, `--ipv4 off` (refused only with IPv6 off too, since
 * issue 10), `--dns-upstream none`, and
 * the QEMU options the ready line prints. The process-level fixes (a second instance on a live
 * socket, missing directories, the wrapper's child) are in process.test.ts.
 */
import { describe, expect, it } from "vitest"
import { LOG_LEVELS } from "../../../src/effects/log.ts"
import { HELP, parseCli, qemuOptions } from "../../../src/runtime/cli/args.ts"

const resolv = (): string => "nameserver 192.0.2.53\n"

describe("tslirp command line: fixes", () => {
  it("-h is --help", () => {
    expect(parseCli(["-h"], resolv)).toEqual({ _tag: "Help", text: HELP })
    expect(parseCli(["--socket", "/tmp/a.sock", "-h"], resolv)._tag).toBe("Help")
  })

  it("--help explains every --log-level value, one line each", () => {
    for (const level of LOG_LEVELS) expect(HELP).toMatch(new RegExp(`^ +${level} +\\S`, "m"))
    expect(LOG_LEVELS.length).toBe(5)
  })

  it("--ipv4 off runs IPv6 alone; with --ipv6 off too it is refused in one line; on and yes run", () => {
    for (const off of ["off", "no"]) {
      expect(parseCli(["--socket", "/tmp/a.sock", "--ipv4", off], resolv)._tag).toBe("Run")
      const r = parseCli(["--socket", "/tmp/a.sock", "--ipv4", off, "--ipv6", off], resolv)
      expect(r).toEqual({ _tag: "Error", message: expect.stringMatching(/^--ipv4 off and --ipv6 off: the guest would have no network/) })
    }
    for (const on of ["on", "yes"]) expect(parseCli(["--socket", "/tmp/a.sock", "--ipv4", on], resolv)._tag).toBe("Run")
  })

  it("--dns-upstream none: no upstream at all, not resolv.conf's nameserver", () => {
    const r = parseCli(["--socket", "/tmp/a.sock", "--dns-upstream", "none"], resolv)
    if (r._tag !== "Run") throw new Error(JSON.stringify(r))
    expect(r.options.config.dnsUpstream).toBeUndefined()
  })

  it("the QEMU options to paste, per link kind", () => {
    expect(qemuOptions({ _tag: "Unix", path: "/tmp/t.sock" })).toBe("-netdev stream,id=n0,server=off,addr.type=unix,addr.path=/tmp/t.sock -device e1000,netdev=n0")
    expect(qemuOptions({ _tag: "TcpListen", host: "0.0.0.0", port: 5555 })).toBe("-netdev stream,id=n0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=5555 -device e1000,netdev=n0")
    expect(qemuOptions({ _tag: "TcpListen", host: "::1", port: 5555 })).toBe("-netdev stream,id=n0,server=off,addr.type=inet,addr.host=[::1],addr.port=5555 -device e1000,netdev=n0")
    // QEMU's local end is our remote one, and the other way round.
    expect(qemuOptions({ _tag: "Udp", local: { host: "127.0.0.1", port: 5556 }, remote: { host: "127.0.0.1", port: 5555 } })).toBe(
      "-netdev dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=5555,remote.type=inet,remote.host=127.0.0.1,remote.port=5556 -device e1000,netdev=n0",
    )
  })
})
