/**
 * Hostile control-socket input, seeded: random JSON of every type in every argument, random
 * bytes, and the documented requests mutated. `parseApiRequest` and `readStep` never throw;
 * whatever is accepted has every field in range and survives a round trip; a strict prefix of a
 * request is never taken for a whole one; `executeRequest` never rejects, whatever forwarding does.
 */
import { describe, expect, it } from "vitest"
import { executeRequest } from "../../../src/runtime/api/execute.ts"
import type { ForwardControl } from "../../../src/runtime/api/forward-control.ts"
import { type ApiRequest, parseApiRequest, readStep } from "../../../src/runtime/api/request.ts"
import { parseIpv4 } from "../../../src/protocol/wire/ipv4-address.ts"
import { parseIpv6 } from "../../../src/protocol/wire/ipv6-address.ts"
import { type Rng, rng } from "../wire/prng.ts"

const COMMANDS = ["add_hostfwd", "list_hostfwd", "remove_hostfwd", "add_guestfwd", "list_guestfwd", "remove_guestfwd", "list_connections", "get_counters", "bad", ""]
const FIELDS = ["proto", "host_addr", "host_port", "guest_addr", "guest_port", "id", "server_addr", "server_port", "target", "__proto__", "constructor"]
const STRINGS = ["tcp", "udp", "", "0.0.0.0", "127.0.0.1", "::1", "fec0::15", "10.0.2.100", "256.1.1.1", "::g", "h:1", "[::1]:53", "unix:/x", "cmd:true", "a\nb", "\u0000", "x".repeat(300)]
const NUMBERS = [0, 1, 22, 80, 65535, 65536, -1, 1.5, 1e308, -0, 2 ** 53, 42]

const value = (r: Rng, depth: number): unknown => {
  switch (r.int(0, depth > 2 ? 4 : 6)) {
    case 0:
      return STRINGS[r.int(0, STRINGS.length - 1)]
    case 1:
      return NUMBERS[r.int(0, NUMBERS.length - 1)]
    case 2:
      return null
    case 3:
      return r.int(0, 1) === 1
    case 4:
      return r.int(0, 65535)
    case 5:
      return Array.from({ length: r.int(0, 3) }, () => value(r, depth + 1))
    default:
      return object(r, depth + 1)
  }
}
const object = (r: Rng, depth: number): Record<string, unknown> => {
  const o: Record<string, unknown> = {}
  for (let i = r.int(0, 6); i > 0; i--) o[FIELDS[r.int(0, FIELDS.length - 1)]!] = value(r, depth)
  return o
}
const requestJson = (r: Rng): string => {
  const root: Record<string, unknown> = r.int(0, 9) === 0 ? object(r, 1) : { execute: COMMANDS[r.int(0, COMMANDS.length - 1)], arguments: r.int(0, 5) === 0 ? value(r, 1) : object(r, 1) }
  return JSON.stringify(root)
}

/** The request as a client would write it: the inverse of `parseApiRequest` on accepted input. */
const encode = (q: ApiRequest): string => {
  switch (q._tag) {
    case "AddHostFwd":
      return JSON.stringify({ execute: "add_hostfwd", arguments: { proto: q.rule.proto, host_addr: q.rule.hostAddr, host_port: q.rule.hostPort, guest_addr: q.rule.guestAddr, guest_port: q.rule.guestPort } })
    case "AddGuestFwd":
      return JSON.stringify({ execute: "add_guestfwd", arguments: { proto: q.rule.proto, server_addr: q.rule.serverAddr, server_port: q.rule.serverPort, target: q.rule.target } })
    case "RemoveHostFwd":
      return JSON.stringify({ execute: "remove_hostfwd", arguments: { id: q.id } })
    case "RemoveGuestFwd":
      return JSON.stringify({ execute: "remove_guestfwd", arguments: { id: q.id } })
    case "ListHostFwd":
      return '{"execute":"list_hostfwd"}'
    case "ListGuestFwd":
      return '{"execute":"list_guestfwd"}'
    case "ListConnections":
      return '{"execute":"list_connections"}'
    case "GetCounters":
      return '{"execute":"get_counters"}'
  }
}

const isPort = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535
const isAddress = (s: string): boolean => parseIpv4(s) !== undefined || parseIpv6(s) !== undefined

/** Every field of an accepted request is in range. */
const wellFormed = (q: ApiRequest): boolean => {
  switch (q._tag) {
    case "AddHostFwd":
      return (q.rule.proto === "tcp" || q.rule.proto === "udp") && isAddress(q.rule.hostAddr) && isPort(q.rule.hostPort) && (q.rule.guestAddr === "" || isAddress(q.rule.guestAddr)) && isPort(q.rule.guestPort)
    case "AddGuestFwd":
      return q.rule.proto === "tcp" && (q.rule.serverAddr === "" || isAddress(q.rule.serverAddr)) && isPort(q.rule.serverPort) && q.rule.target.length > 0 && !/[\0\r\n]/.test(q.rule.target)
    case "RemoveHostFwd":
    case "RemoveGuestFwd":
      return Number.isSafeInteger(q.id) && q.id >= 1
    default:
      return true
  }
}

const check = (text: string): void => {
  const p = parseApiRequest(text)
  if (p._tag === "Invalid") {
    expect(p.desc).toMatch(/^bad request: [^\n]+$/)
    return
  }
  expect(wellFormed(p.request), `${text} -> ${JSON.stringify(p.request)}`).toBe(true)
  expect(parseApiRequest(encode(p.request))).toEqual(p)
}

describe("control-socket requests, fuzzed", () => {
  it("random requests of every shape: an error desc, or a request with every field in range that round-trips", () => {
    const r = rng(0x5a1f)
    let accepted = 0
    for (let i = 0; i < 20_000; i++) {
      const text = requestJson(r)
      check(text)
      if (parseApiRequest(text)._tag === "Request") accepted++
    }
    // The generator reaches the accepting paths too, not only the refusals.
    expect(accepted).toBeGreaterThan(1_000)
  })

  it("the documented requests mutated byte by byte, and random bytes, through readStep and the parser", () => {
    const r = rng(0xa11)
    const documented = [
      '{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_addr": "0.0.0.0", "host_port": 8080, "guest_addr": "10.0.2.100", "guest_port": 80}}',
      '{"execute": "list_hostfwd"}',
      '{"execute": "remove_hostfwd", "arguments": {"id": 42}}',
    ].map((s) => new TextEncoder().encode(s))
    for (let i = 0; i < 20_000; i++) {
      let b: Uint8Array
      if (i % 4 === 0) b = r.bytes(r.int(0, 64))
      else {
        b = Uint8Array.from(documented[r.int(0, documented.length - 1)]!)
        for (let k = r.int(1, 4); k > 0; k--) b[r.int(0, b.length - 1)] = r.int(0, 255)
        b = b.subarray(0, r.int(0, b.length))
      }
      for (const ended of [false, true]) {
        const step = readStep(b, ended)
        if (step._tag === "Complete") check(step.text)
        else if (ended) throw new Error("at the client's shutdown a request under the limit is always complete")
      }
    }
  })

  it("no strict prefix of a request is taken for a whole one; the whole one is, without the shutdown", () => {
    const r = rng(0xbeef)
    for (let i = 0; i < 200; i++) {
      const bytes = new TextEncoder().encode(requestJson(r))
      if (bytes.length >= 4096) continue
      for (let n = 0; n < bytes.length; n++) expect(readStep(bytes.subarray(0, n), false)).toEqual({ _tag: "NeedMore" })
      expect(readStep(bytes, false)._tag).toBe("Complete")
    }
  })

  it("executeRequest never rejects, whatever forwarding throws, rejects or returns", async () => {
    const r = rng(0xf00d)
    // The lists are synchronous: they can throw; the changes can also reject.
    const misbehave = <T,>(good: () => T, reject?: () => T): (() => T) => () => {
      switch (r.int(0, 3)) {
        case 0:
          throw new Error("sync\nfailure")
        case 1:
          return reject === undefined ? good() : reject()
        case 2:
          throw "not an Error" // a forwarding layer that throws something else
        default:
          return good()
      }
    }
    const rejected = (): Promise<never> => Promise.reject(new Error("async failure"))
    const control: ForwardControl = {
      addHostFwd: misbehave(() => Promise.resolve({ id: 1, proto: "tcp", hostAddr: "0.0.0.0", hostPort: 1, guestAddr: "", guestPort: 1 }), rejected),
      removeHostFwd: misbehave(() => Promise.resolve(), rejected),
      listHostFwd: misbehave(() => [{ id: 7, proto: "udp", hostAddr: "::", hostPort: 53, guestAddr: "", guestPort: 53 }]),
      addGuestFwd: misbehave(() => Promise.resolve({ id: 2, proto: "tcp", serverAddr: "", serverPort: 1, target: "h:1" }), rejected),
      removeGuestFwd: misbehave(() => Promise.resolve(), rejected),
      listGuestFwd: misbehave(() => []),
      listConnections: misbehave(() => []),
    }
    for (let i = 0; i < 2_000; i++) {
      const p = parseApiRequest(requestJson(r))
      if (p._tag === "Invalid") continue
      const reply = JSON.parse(await executeRequest(control, p.request)) as Record<string, unknown>
      expect("return" in reply || "error" in reply).toBe(true)
      if ("error" in reply) expect((reply["error"] as { desc: string }).desc).toMatch(/^bad request: [^\n]+$/)
    }
  })
})
