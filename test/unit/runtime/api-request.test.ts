/**
 * The control socket's pure pieces: reading a request off the wire (`readStep`), checking it
 * (`parseApiRequest`, slirp4netns's error descs for bad input), encoding replies, and running a
 * request against a fake `ForwardControl` (`executeRequest`).
 */
import { describe, expect, it } from "vitest"
import { executeRequest } from "../../../src/runtime/api/execute.ts"
import { errorReply, listHostFwdReply, returnReply } from "../../../src/runtime/api/reply.ts"
import { MAX_REQUEST_BYTES, parseApiRequest, readStep } from "../../../src/runtime/api/request.ts"
import { unavailableForwardControl } from "../../../src/runtime/api/unavailable.ts"
import { emptyCounters } from "../../../src/protocol/stack/counters.ts"
import { FakeForwardControl } from "../../support/fake-forward-control.ts"

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const desc = (text: string): string => {
  const p = parseApiRequest(text)
  if (p._tag !== "Invalid") throw new Error(`expected an error for ${text}, got ${JSON.stringify(p)}`)
  return p.desc
}
const parsed = (text: string) => {
  const p = parseApiRequest(text)
  if (p._tag !== "Request") throw new Error(`expected a request for ${text}, got ${p.desc}`)
  return p.request
}
const addHostFwd = (args: Record<string, unknown>): string => JSON.stringify({ execute: "add_hostfwd", arguments: args })
const good = { proto: "tcp", host_addr: "127.0.0.1", host_port: 8080, guest_addr: "10.0.2.15", guest_port: 80 }

describe("readStep: one request per connection, under 4096 bytes", () => {
  it("a whole JSON object is complete without the client's shutdown (slirp4netns answers after one read)", () => {
    expect(readStep(bytes('{"execute": "list_hostfwd"}'), false)).toEqual({ _tag: "Complete", text: '{"execute": "list_hostfwd"}' })
  })
  it("a prefix of an object waits for more", () => {
    expect(readStep(bytes('{"execute": "list_h'), false)).toEqual({ _tag: "NeedMore" })
  })
  it("a JSON value that is not an object waits: it could be the start of something longer", () => {
    expect(readStep(bytes("12"), false)).toEqual({ _tag: "NeedMore" })
    expect(readStep(bytes('"x"'), false)).toEqual({ _tag: "NeedMore" })
  })
  it("at the client's shutdown whatever came is complete, even nothing or garbage", () => {
    expect(readStep(bytes("badjson\n"), true)).toEqual({ _tag: "Complete", text: "badjson\n" })
    expect(readStep(new Uint8Array(0), true)).toEqual({ _tag: "Complete", text: "" })
  })
  it("4096 bytes or more are too large, 4095 are not", () => {
    expect(readStep(new Uint8Array(MAX_REQUEST_BYTES), false)).toEqual({ _tag: "TooLarge" })
    expect(readStep(new Uint8Array(MAX_REQUEST_BYTES), true)).toEqual({ _tag: "TooLarge" })
    const padded = `{"execute": "list_hostfwd"}${" ".repeat(MAX_REQUEST_BYTES - 1 - 27)}`
    expect(padded.length).toBe(MAX_REQUEST_BYTES - 1)
    expect(readStep(bytes(padded), true)._tag).toBe("Complete")
  })
  it("malformed UTF-8 does not throw; it becomes a parse error", () => {
    const step = readStep(Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d), true)
    expect(step._tag).toBe("Complete")
    if (step._tag === "Complete") expect(desc(step.text)).toBe("bad request: cannot parse JSON")
  })
})

describe("parseApiRequest: slirp4netns's errors for requests it cannot read", () => {
  // The cases and descs of slirp4netns's tests/test-slirp4netns-api-socket.sh and api.c.
  it.each([
    ["badjson\n", "bad request: cannot parse JSON"],
    ["", "bad request: cannot parse JSON"],
    ['{"execute": "list_hostfwd"', "bad request: cannot parse JSON"],
    ["42", "bad request: json_object() failed"],
    ["null", "bad request: json_object() failed"],
    ['[{"execute": "list_hostfwd"}]', "bad request: json_object() failed"],
    ['{"unexpectedjson": 42}', "bad request: no execute found"],
    ['{"execute": 7}', "bad request: no execute found"],
    ['{"execute": null}', "bad request: no execute found"],
    ['{"execute": "bad"}', "bad request: unknown execute"],
    ['{"execute": "__proto__"}', "bad request: unknown execute"],
    ['{"execute": "add_hostfwd", "arguments":{"proto": "bad"}}', "bad request: add_hostfwd: bad arguments.proto"],
  ])("%j -> %s", (text, expected) => {
    expect(desc(text)).toBe(expected)
  })
})

describe("parseApiRequest: add_hostfwd", () => {
  it("the man page's example request", () => {
    const text = '{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_addr": "0.0.0.0", "host_port": 8080, "guest_addr": "10.0.2.100", "guest_port": 80}}'
    expect(parsed(text)).toEqual({ _tag: "AddHostFwd", rule: { proto: "tcp", hostAddr: "0.0.0.0", hostPort: 8080, guestAddr: "10.0.2.100", guestPort: 80 } })
  })
  it("host_addr defaults to 0.0.0.0; guest_addr to '' (the first DHCP lease); null and '' count as absent", () => {
    expect(parsed(addHostFwd({ proto: "udp", host_port: 5353, guest_port: 53 }))).toEqual({
      _tag: "AddHostFwd",
      rule: { proto: "udp", hostAddr: "0.0.0.0", hostPort: 5353, guestAddr: "", guestPort: 53 },
    })
    expect(parsed(addHostFwd({ ...good, host_addr: "", guest_addr: null }))).toMatchObject({ rule: { hostAddr: "0.0.0.0", guestAddr: "" } })
  })
  it("IPv6 addresses (which slirp4netns refuses) are taken, in canonical form", () => {
    expect(parsed(addHostFwd({ ...good, host_addr: "::0001", guest_addr: "FEC0::15" }))).toMatchObject({ rule: { hostAddr: "::1", guestAddr: "fec0::15" } })
    expect(parsed(addHostFwd({ ...good, host_addr: "::" }))).toMatchObject({ rule: { hostAddr: "::" } })
  })
  it.each([
    [{ ...good, proto: undefined }, "proto"],
    [{ ...good, proto: "TCP" }, "proto"],
    [{ ...good, proto: "sctp" }, "proto"],
    [{ ...good, proto: ["tcp"] }, "proto"],
    [{ ...good, host_addr: "localhost" }, "host_addr"],
    [{ ...good, host_addr: "[::1]" }, "host_addr"],
    [{ ...good, host_addr: "256.0.0.1" }, "host_addr"],
    [{ ...good, host_addr: 2130706433 }, "host_addr"],
    [{ ...good, host_port: undefined }, "host_port"],
    [{ ...good, host_port: 0 }, "host_port"],
    [{ ...good, host_port: 65536 }, "host_port"],
    [{ ...good, host_port: -1 }, "host_port"],
    [{ ...good, host_port: 80.5 }, "host_port"],
    [{ ...good, host_port: "8080" }, "host_port"],
    [{ ...good, guest_addr: "10.0.2" }, "guest_addr"],
    [{ ...good, guest_addr: {} }, "guest_addr"],
    [{ ...good, guest_port: null }, "guest_port"],
    [{ ...good, guest_port: 1e9 }, "guest_port"],
  ])("%j -> bad arguments.%s", (args, field) => {
    expect(desc(addHostFwd(args))).toBe(`bad request: add_hostfwd: bad arguments.${field}`)
  })
  it("a missing or non-object arguments reads as every argument missing: the proto is reported", () => {
    expect(desc('{"execute": "add_hostfwd"}')).toBe("bad request: add_hostfwd: bad arguments.proto")
    expect(desc('{"execute": "add_hostfwd", "arguments": [1, 2]}')).toBe("bad request: add_hostfwd: bad arguments.proto")
  })
  it("fields are checked in slirp4netns's order: the first bad one is named", () => {
    expect(desc(addHostFwd({ proto: "tcp", host_addr: "x", host_port: 0 }))).toBe("bad request: add_hostfwd: bad arguments.host_addr")
  })
})

describe("parseApiRequest: remove_hostfwd, the lists and tslirp's guestfwd commands", () => {
  it("remove_hostfwd takes a positive integer id, as the man page's example", () => {
    expect(parsed('{"execute": "remove_hostfwd", "arguments": {"id": 42}}')).toEqual({ _tag: "RemoveHostFwd", id: 42 })
    for (const id of [0, -1, 1.5, "42", null, undefined, 2 ** 60])
      expect(desc(JSON.stringify({ execute: "remove_hostfwd", arguments: { id } }))).toBe("bad request: remove_hostfwd: bad arguments.id")
  })
  it("the lists take no arguments and ignore any given", () => {
    expect(parsed('{"execute": "list_hostfwd"}')).toEqual({ _tag: "ListHostFwd" })
    expect(parsed('{"execute": "list_hostfwd", "arguments": 3}')).toEqual({ _tag: "ListHostFwd" })
    expect(parsed('{"execute": "list_connections"}')).toEqual({ _tag: "ListConnections" })
    expect(parsed('{"execute": "list_guestfwd"}')).toEqual({ _tag: "ListGuestFwd" })
    expect(parsed('{"execute": "get_counters"}')).toEqual({ _tag: "GetCounters" })
  })
  it("add_guestfwd: proto tcp (optional), server_addr ('' is the network's .4), server_port, target", () => {
    expect(parsed('{"execute": "add_guestfwd", "arguments": {"server_addr": "10.0.2.100", "server_port": 8080, "target": "127.0.0.1:80"}}')).toEqual({
      _tag: "AddGuestFwd",
      rule: { proto: "tcp", serverAddr: "10.0.2.100", serverPort: 8080, target: "127.0.0.1:80" },
    })
    for (const target of ["unix:/run/x.sock", "cmd:nc localhost 22", "[::1]:53", "db.example:5432"])
      expect(parsed(JSON.stringify({ execute: "add_guestfwd", arguments: { server_port: 1, target } }))).toMatchObject({ rule: { serverAddr: "", target } })
  })
  it.each([
    [{ proto: "udp", server_port: 1, target: "h:1" }, "proto"],
    [{ server_addr: "nowhere", server_port: 1, target: "h:1" }, "server_addr"],
    [{ server_port: 0, target: "h:1" }, "server_port"],
    [{ server_port: 1 }, "target"],
    [{ server_port: 1, target: "" }, "target"],
    [{ server_port: 1, target: "h:0" }, "target"],
    [{ server_port: 1, target: "h" }, "target"],
    [{ server_port: 1, target: "[nope]:1" }, "target"],
    [{ server_port: 1, target: "unix:" }, "target"],
    [{ server_port: 1, target: "cmd:a\nb" }, "target"],
    [{ server_port: 1, target: 5 }, "target"],
  ])("add_guestfwd %j -> bad arguments.%s", (args, field) => {
    expect(desc(JSON.stringify({ execute: "add_guestfwd", arguments: args }))).toBe(`bad request: add_guestfwd: bad arguments.${field}`)
  })
  it("remove_guestfwd takes a positive integer id", () => {
    expect(parsed('{"execute": "remove_guestfwd", "arguments": {"id": 3}}')).toEqual({ _tag: "RemoveGuestFwd", id: 3 })
    expect(desc('{"execute": "remove_guestfwd", "arguments": {"id": "3"}}')).toBe("bad request: remove_guestfwd: bad arguments.id")
  })
})

describe("replies", () => {
  it("compact JSON, slirp4netns's shapes, descs on one line", () => {
    expect(returnReply({ id: 1 })).toBe('{"return":{"id":1}}')
    expect(returnReply({})).toBe('{"return":{}}')
    expect(errorReply("bad request: x\nsecond line")).toBe('{"error":{"desc":"bad request: x second line"}}')
  })
  it("list_hostfwd carries the entries under return (documented) and at the top (what slirp4netns sends)", () => {
    const reply = JSON.parse(listHostFwdReply([{ id: 42, proto: "tcp", hostAddr: "0.0.0.0", hostPort: 8080, guestAddr: "10.0.2.100", guestPort: 80 }]))
    const entry = { id: 42, proto: "tcp", host_addr: "0.0.0.0", host_port: 8080, guest_addr: "10.0.2.100", guest_port: 80 }
    expect(reply).toEqual({ return: { entries: [entry] }, entries: [entry] })
  })
})

describe("executeRequest against a ForwardControl", () => {
  const run = (control: FakeForwardControl | typeof unavailableForwardControl, text: string) => executeRequest(control, parsed(text))

  it("add, list, remove: ids from forwarding, rules passed through", async () => {
    const c = new FakeForwardControl()
    expect(await run(c, addHostFwd(good))).toBe('{"return":{"id":1}}')
    expect(c.calls).toEqual([`addHostFwd ${JSON.stringify({ proto: "tcp", hostAddr: "127.0.0.1", hostPort: 8080, guestAddr: "10.0.2.15", guestPort: 80 })}`])
    expect(JSON.parse(await run(c, '{"execute": "list_hostfwd"}')).return.entries).toHaveLength(1)
    expect(await run(c, '{"execute": "remove_hostfwd", "arguments": {"id": 1}}')).toBe('{"return":{}}')
    expect(JSON.parse(await run(c, '{"execute": "list_hostfwd"}')).return.entries).toEqual([])
  })
  it("forwarding's refusal becomes the error desc, after slirp4netns's prefix", async () => {
    const c = new FakeForwardControl()
    await run(c, addHostFwd(good))
    expect(await run(c, addHostFwd(good))).toBe('{"error":{"desc":"bad request: add_hostfwd: 127.0.0.1:8080 is already in use"}}')
  })
  it("an id never given is slirp4netns's bad arguments.id, and forwarding is not asked", async () => {
    const c = new FakeForwardControl()
    expect(await run(c, '{"execute": "remove_hostfwd", "arguments": {"id": 9}}')).toBe('{"error":{"desc":"bad request: remove_hostfwd: bad arguments.id"}}')
    expect(await run(c, '{"execute": "remove_guestfwd", "arguments": {"id": 9}}')).toBe('{"error":{"desc":"bad request: remove_guestfwd: bad arguments.id"}}')
    expect(c.calls).toEqual([])
  })
  it("a forwarding layer that throws synchronously costs an error reply, not a rejection", async () => {
    const c = new FakeForwardControl()
    c.listConnections = () => {
      throw new Error("boom")
    }
    expect(await run(c, '{"execute": "list_connections"}')).toBe('{"error":{"desc":"bad request: list_connections: boom"}}')
  })
  it("list_connections: snake_case fields like the hostfwd entries", async () => {
    const c = new FakeForwardControl()
    c.connections = [
      { proto: "tcp", origin: "guest", guest: { address: "10.0.2.15", port: 40000 }, host: { address: "93.184.216.34", port: 443 }, state: "Established", bytesToHost: 517, bytesToGuest: 4096 },
    ]
    expect(JSON.parse(await run(c, '{"execute": "list_connections"}'))).toEqual({
      return: {
        entries: [
          { proto: "tcp", origin: "guest", guest_addr: "10.0.2.15", guest_port: 40000, host_addr: "93.184.216.34", host_port: 443, state: "Established", bytes_to_host: 517, bytes_to_guest: 4096 },
        ],
      },
    })
  })
  it("get_counters: one object per running guest, the library's field names; absent where the forwarding has none", async () => {
    const c = new FakeForwardControl()
    expect(await run(c, '{"execute": "get_counters"}')).toBe('{"error":{"desc":"bad request: get_counters: counters are not available in this build"}}')
    const report = { ...emptyCounters, framesFromGuest: 3, bytesFromGuest: 180, drops: { "udp checksum": 1 }, tcpOpen: 2 }
    Object.assign(c, { guestCounters: () => [report] })
    expect(JSON.parse(await run(c, '{"execute": "get_counters"}'))).toEqual({ return: { guests: [report] } })
  })
  it("guestfwd add, list, remove", async () => {
    const c = new FakeForwardControl()
    expect(await run(c, '{"execute": "add_guestfwd", "arguments": {"server_port": 8080, "target": "127.0.0.1:80"}}')).toBe('{"return":{"id":1}}')
    expect(JSON.parse(await run(c, '{"execute": "list_guestfwd"}'))).toEqual({
      return: { entries: [{ id: 1, proto: "tcp", server_addr: "", server_port: 8080, target: "127.0.0.1:80" }] },
    })
    expect(await run(c, '{"execute": "remove_guestfwd", "arguments": {"id": 1}}')).toBe('{"return":{}}')
  })
  it("a build without forwarding says so for every change, lists no rules, and does not pretend there are no connections", async () => {
    const c = unavailableForwardControl
    expect(await run(c, addHostFwd(good))).toBe('{"error":{"desc":"bad request: add_hostfwd: hostfwd is not available in this build"}}')
    expect(await run(c, '{"execute": "add_guestfwd", "arguments": {"server_port": 1, "target": "h:1"}}')).toBe(
      '{"error":{"desc":"bad request: add_guestfwd: guestfwd is not available in this build"}}',
    )
    expect(JSON.parse(await run(c, '{"execute": "list_hostfwd"}'))).toEqual({ return: { entries: [] }, entries: [] })
    expect(await run(c, '{"execute": "list_connections"}')).toBe('{"error":{"desc":"bad request: list_connections: listing connections is not available in this build"}}')
  })
})
