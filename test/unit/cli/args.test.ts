import { describe, expect, it } from "vitest"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { ipv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { type CliOptions, describeNetwork, firstNameserver, parseCli } from "../../../src/runtime/cli/args.ts"
import { formatIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"

const RESOLV = "# generated\nsearch example.org\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"
const resolv = (): string => RESOLV
const sock = ["--socket", "/tmp/t.sock"]

const run = (...args: Array<string>): CliOptions => {
  const r = parseCli(args, resolv)
  if (r._tag !== "Run") throw new Error(`expected Run, got ${JSON.stringify(r)}`)
  return r.options
}
const refuse = (...args: Array<string>): string => {
  const r = parseCli(args, resolv)
  if (r._tag !== "Error") throw new Error(`expected Error, got ${r._tag}`)
  expect(r.message).not.toContain("\n")
  return r.message
}

describe("tslirp command line: links", () => {
  it("--socket PATH is a unix stream link, with QEMU's defaults for everything else", () => {
    const o = run(...sock)
    expect(o.links).toEqual([{ _tag: "Unix", path: "/tmp/t.sock" }])
    expect(o.config).toEqual({ ...defaultConfig, dnsUpstream: { family: 4, address: "192.0.2.53", port: 53 } })
    expect(o.logLevel).toBe("info")
    expect(o.pcap).toBeUndefined()
  })
  it("--opt=value is the same as --opt value", () => {
    expect(run("--socket=/tmp/t.sock").links).toEqual([{ _tag: "Unix", path: "/tmp/t.sock" }])
  })
  it("--listen HOST:PORT, IPv6 in brackets, port 0 for any", () => {
    expect(run("--listen", "127.0.0.1:5555").links).toEqual([{ _tag: "TcpListen", host: "127.0.0.1", port: 5555 }])
    expect(run("--listen", "[::1]:0").links).toEqual([{ _tag: "TcpListen", host: "::1", port: 0 }])
    expect(refuse("--listen", "127.0.0.1")).toBe('--listen: "127.0.0.1" is not HOST:PORT (IPv6 hosts in brackets: [::1]:5555)')
    expect(refuse("--listen", "127.0.0.1:70000")).toBe("--listen: port 70000 must be 0..65535")
    expect(refuse("--listen", "b@d:1")).toBe('--listen: "b@d" is not a host name or IP address')
  })
  it("--udp LOCAL,REMOTE", () => {
    expect(run("--udp", "127.0.0.1:5556,127.0.0.1:5555").links).toEqual([
      { _tag: "Udp", local: { host: "127.0.0.1", port: 5556 }, remote: { host: "127.0.0.1", port: 5555 } },
    ])
    expect(refuse("--udp", "127.0.0.1:5556")).toBe('--udp: "127.0.0.1:5556" is not LOCAL,REMOTE (e.g. 127.0.0.1:5556,127.0.0.1:5555)')
    expect(refuse("--udp", "127.0.0.1:5556,127.0.0.1:0")).toBe("--udp: port 0 must be 1..65535")
  })
  it("several links at once", () => {
    expect(run(...sock, "--listen", "127.0.0.1:0").links).toHaveLength(2)
  })
  it("refuses to start without a link", () => {
    expect(refuse()).toBe("no guest link: give --socket PATH, --listen HOST:PORT or --udp LOCAL,REMOTE (see --help)")
  })
  it("refuses empty and over-long socket paths", () => {
    expect(refuse("--socket", "")).toBe("--socket needs a path")
    expect(refuse("--socket", `/tmp/${"x".repeat(110)}`)).toMatch(/^--socket: path ".*" is longer than a unix socket allows \(107 bytes\)$/)
  })
})

describe("tslirp command line: network", () => {
  it("--net moves host, dns and dhcpstart to .2, .3, .15 like QEMU", () => {
    const c = run(...sock, "--net", "192.168.76.0/24").config
    expect([c.network, c.prefixLength, c.host, c.dns, c.dhcpStart]).toEqual([
      ipv4(192, 168, 76, 0),
      24,
      ipv4(192, 168, 76, 2),
      ipv4(192, 168, 76, 3),
      ipv4(192, 168, 76, 15),
    ])
  })
  it("--net accepts a dotted mask and a bare address (/24)", () => {
    expect(run(...sock, "--net", "10.1.0.0/255.255.0.0").config.prefixLength).toBe(16)
    expect(run(...sock, "--net", "10.9.9.0").config.prefixLength).toBe(24)
  })
  it("--net refusals", () => {
    expect(refuse(...sock, "--net", "10.0.2/24")).toBe('--net: "10.0.2/24" is not an IPv4 network like 10.0.2.0/24')
    expect(refuse(...sock, "--net", "10.0.2.0/33")).toBe("--net: prefix length /33 must be 0..32")
    expect(refuse(...sock, "--net", "10.0.2.0/255.0.255.0")).toBe("--net: mask 255.0.255.0 is not contiguous")
    expect(refuse(...sock, "--net", "10.0.2.1/24")).toBe("invalid network configuration: network 10.0.2.1/24 has host bits set")
  })
  it("--host, --dns, --dhcpstart", () => {
    const c = run(...sock, "--host", "10.0.2.1", "--dns", "10.0.2.53", "--dhcpstart", "10.0.2.100").config
    expect([c.host, c.dns, c.dhcpStart]).toEqual([ipv4(10, 0, 2, 1), ipv4(10, 0, 2, 53), ipv4(10, 0, 2, 100)])
    expect(refuse(...sock, "--host", "10.0.2")).toBe('--host: "10.0.2" is not an IPv4 address')
    expect(refuse(...sock, "--dns", "x")).toBe('--dns: "x" is not an IPv4 address')
    expect(refuse(...sock, "--dhcpstart", "10.0.2.256")).toBe('--dhcpstart: "10.0.2.256" is not an IPv4 address')
  })
  it("addresses outside the network are refused in one line", () => {
    expect(refuse(...sock, "--host", "10.0.3.2")).toBe("invalid network configuration: host 10.0.3.2 is outside 10.0.2.0/24")
    expect(refuse(...sock, "--dns", "10.0.2.2")).toBe("invalid network configuration: dns address must differ from the host address")
    expect(refuse(...sock, "--dhcpstart", "10.0.2.255")).toBe(
      "invalid network configuration: dhcpstart 10.0.2.255 is the network or broadcast address",
    )
  })
  it("--hostname, --domainname, --dnssearch (repeatable)", () => {
    const c = run(...sock, "--hostname", "vm1", "--domainname", "example.org", "--dnssearch", "a.example", "--dnssearch", "b.example.").config
    expect([c.hostname, c.domainName, c.dnsSearch]).toEqual(["vm1", "example.org", ["a.example", "b.example"]])
    expect(refuse(...sock, "--hostname", "a b")).toBe('--hostname: "a b" must be 1..255 characters without spaces')
    expect(refuse(...sock, "--domainname", "-bad.example")).toBe('--domainname: "-bad.example" is not a valid domain name')
    expect(refuse(...sock, "--dnssearch", "ok.example", "--dnssearch", "a..b")).toBe('--dnssearch: "a..b" is not a valid domain name')
  })
  it("--dns-upstream ADDR[:PORT]; default is the first nameserver of resolv.conf", () => {
    expect(run(...sock, "--dns-upstream", "127.0.0.1:5353").config.dnsUpstream).toEqual({ family: 4, address: "127.0.0.1", port: 5353 })
    expect(run(...sock, "--dns-upstream", "127.0.0.1").config.dnsUpstream).toEqual({ family: 4, address: "127.0.0.1", port: 53 })
    expect(run(...sock, "--dns-upstream", "[::1]:5353").config.dnsUpstream).toEqual({ family: 6, address: "::1", port: 5353 })
    expect(run(...sock, "--dns-upstream", "::1").config.dnsUpstream).toEqual({ family: 6, address: "::1", port: 53 })
    expect(refuse(...sock, "--dns-upstream", "resolver:53")).toBe(
      '--dns-upstream: "resolver:53" is not "none", ADDR or ADDR:PORT (an IP address; IPv6 with a port in brackets: [::1]:53)',
    )
    expect(refuse(...sock, "--dns-upstream", "127.0.0.1:0")).toBe("--dns-upstream: port 0 must be 1..65535")
    // No resolv.conf: the config default stays.
    const r = parseCli(sock, () => undefined)
    expect(r._tag === "Run" && r.options.config.dnsUpstream).toEqual(defaultConfig.dnsUpstream)
  })
  it("firstNameserver skips comments and non-addresses, drops IPv6 zone ids", () => {
    expect(firstNameserver("nameserver bogus\nnameserver fe80::1%eth0\n")).toEqual({ family: 6, address: "fe80::1", port: 53 })
    expect(firstNameserver("# nameserver 1.2.3.4\n")).toBeUndefined()
  })
  it("--mtu N within 68..65521", () => {
    expect(run(...sock, "--mtu", "9000").config.mtu).toBe(9000)
    expect(refuse(...sock, "--mtu", "67")).toBe("invalid network configuration: mtu 67 must be an integer in 68..65521")
    expect(refuse(...sock, "--mtu", "65522")).toBe("invalid network configuration: mtu 65522 must be an integer in 68..65521")
    expect(refuse(...sock, "--mtu", "1.5k")).toBe('--mtu: "1.5k" is not a number')
  })
  it("--ipv4 and --ipv6 on|off: either alone works, both off is refused in one line", () => {
    expect(run(...sock, "--ipv4", "on").config.ipv4).toBe(true)
    expect([run(...sock).config.ipv4, run(...sock).config.ipv6]).toEqual([true, true])
    expect([run(...sock, "--ipv4", "off").config.ipv4, run(...sock, "--ipv4", "off").config.ipv6]).toEqual([false, true])
    expect([run(...sock, "--ipv6", "off").config.ipv4, run(...sock, "--ipv6", "off").config.ipv6]).toEqual([true, false])
    expect(refuse(...sock, "--ipv4", "off", "--ipv6", "off")).toBe("--ipv4 off and --ipv6 off: the guest would have no network; keep one family on")
    expect(refuse(...sock, "--ipv4", "maybe")).toBe('--ipv4: "maybe" must be on or off')
    expect(refuse(...sock, "--ipv6", "sometimes")).toBe('--ipv6: "sometimes" must be on or off')
  })
  it("--ipv6-net moves the IPv6 host and DNS to ::2 and ::3 of it (as QEMU) unless given; --ipv6-host, --ipv6-dns", () => {
    const c = run(...sock, "--ipv6-net", "fd00:1:2::/48").config
    expect([formatIpv6(c.ipv6Prefix), c.ipv6PrefixLength, formatIpv6(c.ipv6Host), formatIpv6(c.ipv6Dns)]).toEqual(["fd00:1:2::", 48, "fd00:1:2::2", "fd00:1:2::3"])
    expect(run(...sock, "--ipv6-net", "fd00::").config.ipv6PrefixLength).toBe(64)
    const d = run(...sock, "--ipv6-net", "fd00::/64", "--ipv6-host", "fd00::1", "--ipv6-dns", "fd00::53").config
    expect([formatIpv6(d.ipv6Host), formatIpv6(d.ipv6Dns)]).toEqual(["fd00::1", "fd00::53"])
    expect(describeNetwork(d)).toContain("fd00::/64 host fd00::1 dns fd00::53")
  })
  it.each([
    [["--ipv6-net", "fec0::/200"], "--ipv6-net: prefix length /200 must be 1..126"],
    [["--ipv6-net", "fec0::/0"], "--ipv6-net: prefix length /0 must be 1..126"],
    [["--ipv6-net", "10.0.2.0/24"], '--ipv6-net: "10.0.2.0/24" is not an IPv6 prefix like fec0::/64'],
    [["--ipv6-net", "fec0::1/64"], '--ipv6-net: "fec0::1/64" has bits set past /64'],
    [["--ipv6-host", "fd00::2"], "invalid network configuration: ipv6-host fd00::2 is outside fec0::/64"],
    [["--ipv6-dns", "fec0::2"], "invalid network configuration: ipv6-dns address must differ from the ipv6-host address"],
  ])("%j -> %s", (args, message) => {
    expect(refuse(...sock, ...args)).toBe(message)
  })
})

describe("tslirp command line: diagnostics and syntax", () => {
  it("--pcap FILE and --log-level", () => {
    const o = run(...sock, "--pcap", "/tmp/x.pcap", "--log-level", "debug")
    expect([o.pcap, o.logLevel]).toEqual(["/tmp/x.pcap", "debug"])
    expect(refuse(...sock, "--pcap", "")).toBe("--pcap needs a file name")
    expect(refuse(...sock, "--log-level", "loud")).toBe('--log-level: "loud" must be one of error, warn, info, debug, trace')
  })
  it("--help prints usage listing every option; unknown options are refused even with --help", () => {
    const r = parseCli(["--help", "--bogus-is-not-parsed-first"], resolv)
    expect(r._tag).toBe("Error") // unknown options are refused even with --help
    const h = parseCli(["--help"], resolv)
    expect(h._tag).toBe("Help")
    if (h._tag !== "Help") return
    for (const o of ["--socket", "--listen", "--udp", "--net", "--host", "--dns ", "--dhcpstart", "--hostname", "--domainname", "--dnssearch", "--dns-upstream", "--mtu", "--ipv4", "--pcap", "--log-level", "--ipv6", "--hostfwd", "--guestfwd", "--tftp", "--tftp-server-name", "--bootfile", "--restrict"])
      expect(h.text).toContain(o)
  })
  it("syntax errors", () => {
    expect(refuse("--bogus")).toBe("unknown option --bogus (see --help)")
    expect(refuse("stray")).toBe('unexpected argument "stray" (options start with --; see --help)')
    expect(refuse("--socket")).toBe("--socket needs a value")
    expect(refuse("--help=yes")).toBe("--help takes no value")
    expect(refuse(...sock, "--mtu", "1500", "--mtu", "1400")).toBe("--mtu given more than once")
  })
})

describe("tslirp command line: network boot (--tftp, --tftp-server-name, --bootfile)", () => {
  it("set the TFTP root and DHCP's boot fields", () => {
    const o = run(...sock, "--tftp", "/srv/tftp", "--tftp-server-name", "10.0.2.2", "--bootfile", "pxelinux.0")
    expect([o.config.tftpRoot, o.config.tftpServerName, o.config.bootfile]).toEqual(["/srv/tftp", "10.0.2.2", "pxelinux.0"])
    expect(describeNetwork(o.config)).toContain("tftp from /srv/tftp")
  })
  it("absent: no TFTP root, no boot fields", () => {
    const o = run(...sock)
    expect([o.config.tftpRoot, o.config.tftpServerName, o.config.bootfile]).toEqual([undefined, undefined, undefined])
  })
  it.each([
    [["--tftp", ""], "--tftp needs a directory"],
    [["--bootfile", ""], '--bootfile: "" must be non-empty, without control characters'],
    [["--bootfile", "a\tb"], '--bootfile: "a\tb" must be non-empty, without control characters'],
    [["--bootfile", "x".repeat(128)], `--bootfile: "${"x".repeat(128)}" is 128 bytes; the BOOTP field holds 127`],
    [["--tftp-server-name", "s".repeat(64)], `--tftp-server-name: "${"s".repeat(64)}" is 64 bytes; the BOOTP field holds 63`],
    [["--tftp", "/a", "--tftp", "/b"], "--tftp given more than once"],
  ])("%j -> %s", (args, message) => {
    expect(refuse(...sock, ...args)).toBe(message)
  })
})

describe("tslirp command line: forwarding, restricted mode, outbound addresses", () => {
  it("--hostfwd: tcp, udp, IPv6 in brackets, unix, defaults; repeatable", () => {
    const o = run(...sock, "--hostfwd", "tcp::2222-:22", "--hostfwd", "udp:127.0.0.1:5353-10.0.2.16:53", "--hostfwd", "tcp:[::1]:8080-:80", "--hostfwd", "::0-:7", "--hostfwd", "unix:/tmp/a-b.sock-:22")
    expect(o.hostFwd).toEqual([
      { proto: "tcp", bind: { family: 4, address: "", port: 2222 }, guest: undefined, guestPort: 22 },
      { proto: "udp", bind: { family: 4, address: "127.0.0.1", port: 5353 }, guest: ipv4(10, 0, 2, 16), guestPort: 53 },
      { proto: "tcp", bind: { family: 6, address: "::1", port: 8080 }, guest: undefined, guestPort: 80 },
      { proto: "tcp", bind: { family: 4, address: "", port: 0 }, guest: undefined, guestPort: 7 },
      { proto: "tcp", bind: { family: "unix", path: "/tmp/a-b.sock" }, guest: undefined, guestPort: 22 },
    ])
  })
  it("--guestfwd: HOST:PORT, unix:PATH, cmd:COMMAND; the default server is the network's .4", () => {
    const o = run(...sock, "--guestfwd", "tcp:10.0.2.100:80-127.0.0.1:8080", "--guestfwd", "::5000-unix:/run/x.sock", "--guestfwd", "tcp::6000-cmd:nc -q0 example 80", "--guestfwd", "tcp::7000-[::1]:7")
    expect(o.guestFwd).toEqual([
      { server: ipv4(10, 0, 2, 100), port: 80, target: { family: 4, address: "127.0.0.1", port: 8080 } },
      { server: undefined, port: 5000, target: { family: "unix", path: "/run/x.sock" } },
      { server: undefined, port: 6000, target: { family: "cmd", command: "nc -q0 example 80" } },
      { server: undefined, port: 7000, target: { family: 6, address: "::1", port: 7 } },
    ])
  })
  it("--restrict on, --disable-host-loopback, --outbound-addr(6)", () => {
    const o = run(...sock, "--restrict", "on", "--disable-host-loopback", "--outbound-addr", "192.0.2.1", "--outbound-addr6", "2001:db8::1")
    expect([o.config.restrict, o.config.disableHostLoopback, o.outbound4, o.outbound6]).toEqual([true, true, "192.0.2.1", "2001:db8::1"])
    const d = run(...sock)
    expect([d.config.restrict, d.config.disableHostLoopback, d.hostFwd, d.guestFwd, d.outbound4]).toEqual([false, false, [], [], undefined])
  })
  it.each([
    [["--hostfwd", "tcp:2222:22"], '--hostfwd: "tcp:2222:22" is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT or unix:PATH-[GUESTADDR]:GUESTPORT'],
    [["--hostfwd", "sctp::1-:2"], '--hostfwd: protocol "sctp" must be tcp, udp or unix'],
    [["--hostfwd", "tcp::70000-:22"], "--hostfwd: host port 70000 must be 0..65535"],
    [["--hostfwd", "tcp::22-:0"], "--hostfwd: guest port 0 must be 1..65535"],
    [["--hostfwd", "tcp:::1:80-:80"], '--hostfwd: "::1:80" is not [HOSTADDR]:HOSTPORT (IPv6 addresses in brackets: [::1]:8080)'],
    [["--hostfwd", "tcp:[10.0.0.1]:80-:80"], '--hostfwd: host address "10.0.0.1" is not an IPv6 address'],
    [["--hostfwd", "tcp:localhost:80-:80"], '--hostfwd: host address "localhost" is not an IPv4 address'],
    [["--hostfwd", "tcp::80-fe80::1:80"], '--hostfwd: "fe80::1:80" is not [GUESTADDR]:GUESTPORT'],
    [["--hostfwd", "unix:-:22"], "--hostfwd: the unix socket path is empty"],
    [["--guestfwd", "nonsense"], '--guestfwd: "nonsense" is not [tcp]:[SERVER]:PORT-TARGET (TARGET: HOST:PORT, unix:PATH or cmd:COMMAND)'],
    [["--guestfwd", "udp:10.0.2.100:53-1.1.1.1:53"], '--guestfwd: protocol "udp" must be tcp (guestfwd forwards TCP only)'],
    [["--guestfwd", "tcp:10.0.2.100:80-example.com:80"], '--guestfwd: target host address "example.com" is not an IPv4 address'],
    [["--guestfwd", "tcp:10.0.2.100:80-cmd:"], "--guestfwd: cmd: needs a command"],
    [["--guestfwd", "tcp:10.0.3.100:80-127.0.0.1:80"], "--guestfwd: guestfwd 10.0.3.100:80: the server address must be a host of 10.0.2.0/24"],
    [["--guestfwd", "tcp:10.0.2.2:80-127.0.0.1:80"], "--guestfwd: guestfwd 10.0.2.2:80: the server address must differ from the host and dns addresses"],
    [["--restrict", "maybe"], '--restrict: "maybe" must be on or off'],
    [["--outbound-addr", "::1"], '--outbound-addr: "::1" is not an IPv4 address'],
    [["--outbound-addr6", "1.2.3.4"], '--outbound-addr6: "1.2.3.4" is not an IPv6 address'],
    [["--disable-host-loopback=yes"], "--disable-host-loopback takes no value"],
  ])("%j -> %s", (args, message) => {
    expect(refuse(...sock, ...args)).toBe(message)
  })
})

describe("tslirp command line: options of later issues are validated, then refused", () => {
  it("off switches are accepted as what tslirp does today", () => {
    expect(run(...sock, "--restrict", "off").links).toHaveLength(1)
  })
  it.each([
    [["--ipv6-host", "10.0.2.2"], '--ipv6-host: "10.0.2.2" is not an IPv6 address'],
    [["--ipv6-dns", "x"], '--ipv6-dns: "x" is not an IPv6 address'],
    [["--restrict", "x"], '--restrict: "x" must be on or off'],
  ])("%j -> %s", (args, message) => {
    expect(refuse(...sock, ...args)).toBe(message)
  })
})
