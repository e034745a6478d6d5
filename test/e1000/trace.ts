/**
 * trace.ts: the e1000 differential trace format (issue 4), parsed into steps.
 *
 * One step a line; `#` starts a comment; blank lines are ignored. Numbers are hex with `0x` or
 * decimal. HEX byte strings are plain hex digits (no 0x), spaces are not allowed inside them.
 *
 *   write32|write16|write8 OFFSET VALUE    MMIO write into BAR0
 *   read32|read16|read8 OFFSET [EXPECT]    MMIO read from BAR0 (compared; EXPECT also checked)
 *   cfg.write32|16|8 OFFSET VALUE          PCI configuration write (the e1000's function; within
 *   cfg.read32|16|8 OFFSET [EXPECT]        PCI configuration read   one dword of 0..0xff)
 *   mem.write ADDR HEX                     guest memory write (host side, no device effect)
 *   mem.read ADDR LEN [HEX]                guest memory read (compared; HEX also checked)
 *   net.in HEX                             a frame arrives from the network
 *   clock.step NS                          advance the virtual clock, firing due timers
 *   link up|down                           the backend link (QMP set_link)
 *   reset                                  machine reset (QMP system_reset): the card and its PCI
 *                                          configuration; the harness then assigns the BARs and
 *                                          COMMAND again as before the first step
 *
 * Contract: `parseTrace` returns every step with its 1-based line number, or throws an Error
 * naming the line of the first malformed step (traces are test input, written by us).
 */
import { absurd } from "../../src/effects/absurd.ts"
import { fromHex, toHex } from "../../src/protocol/wire/bytes.ts"

export type Width = 1 | 2 | 4

export type Step =
  | { readonly op: "write"; readonly line: number; readonly size: Width; readonly offset: number; readonly value: number }
  | { readonly op: "read"; readonly line: number; readonly size: Width; readonly offset: number; readonly expect?: number }
  | { readonly op: "cfg.write"; readonly line: number; readonly size: Width; readonly offset: number; readonly value: number }
  | { readonly op: "cfg.read"; readonly line: number; readonly size: Width; readonly offset: number; readonly expect?: number }
  | { readonly op: "mem.write"; readonly line: number; readonly addr: number; readonly data: Uint8Array }
  | { readonly op: "mem.read"; readonly line: number; readonly addr: number; readonly length: number; readonly expect?: Uint8Array }
  | { readonly op: "net.in"; readonly line: number; readonly frame: Uint8Array }
  | { readonly op: "clock.step"; readonly line: number; readonly ns: number }
  | { readonly op: "link"; readonly line: number; readonly up: boolean }
  | { readonly op: "reset"; readonly line: number }

const widthOf = (suffix: string): Width | undefined =>
  suffix === "32" ? 4 : suffix === "16" ? 2 : suffix === "8" ? 1 : undefined

const parseNumber = (text: string | undefined, what: string): number => {
  if (text === undefined) throw new Error(`missing ${what}`)
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text)) throw new Error(`bad ${what}: ${text}`)
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new Error(`${what} out of range: ${text}`)
  return n
}

const parseValue32 = (text: string | undefined, what: string): number => {
  const n = parseNumber(text, what)
  if (n > 0xffffffff) throw new Error(`${what} wider than 32 bits: ${text}`)
  return n
}

const parseBytes = (text: string | undefined, what: string): Uint8Array => {
  if (text === undefined) throw new Error(`missing ${what}`)
  return fromHex(text)
}

const parseLine = (words: ReadonlyArray<string>, line: number): Step => {
  const [op, a, b, c] = words
  const rw = /^(cfg\.)?(read|write)(32|16|8)$/.exec(op!)
  if (rw) {
    const size = widthOf(rw[3]!)!
    const offset = parseNumber(a, "offset")
    const cfg = rw[1] !== undefined
    // Configuration mechanism #1 selects one dword (0xcf8) and accesses bytes of it (0xcfc..f).
    if (cfg && (offset & 3) + size > 4) throw new Error("configuration access crosses a dword")
    if (cfg && offset > 0xff) throw new Error("configuration offset beyond 0xff")
    if (rw[2] === "write") {
      if (c !== undefined) throw new Error("trailing words")
      return { op: cfg ? "cfg.write" : "write", line, size, offset, value: parseValue32(b, "value") }
    }
    if (c !== undefined) throw new Error("trailing words")
    const read = { op: cfg ? ("cfg.read" as const) : ("read" as const), line, size, offset }
    return b === undefined ? read : { ...read, expect: parseValue32(b, "expected value") }
  }
  switch (op) {
    case "mem.write":
      if (c !== undefined) throw new Error("trailing words")
      return { op, line, addr: parseNumber(a, "address"), data: parseBytes(b, "bytes") }
    case "mem.read": {
      if (words.length > 4) throw new Error("trailing words")
      const read = { op, line, addr: parseNumber(a, "address"), length: parseNumber(b, "length") } as const
      return c === undefined ? read : { ...read, expect: parseBytes(c, "expected bytes") }
    }
    case "net.in":
      if (b !== undefined) throw new Error("trailing words")
      return { op, line, frame: parseBytes(a, "frame") }
    case "clock.step":
      if (b !== undefined) throw new Error("trailing words")
      return { op, line, ns: parseNumber(a, "nanoseconds") }
    case "link":
      if (b !== undefined || (a !== "up" && a !== "down")) throw new Error("expected: link up|down")
      return { op, line, up: a === "up" }
    case "reset":
      if (a !== undefined) throw new Error("trailing words")
      return { op, line }
    default:
      throw new Error(`unknown step: ${op}`)
  }
}

export const parseTrace = (text: string, name = "trace"): ReadonlyArray<Step> => {
  const steps: Array<Step> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const content = lines[i]!.replace(/#.*$/, "").trim()
    if (content === "") continue
    try {
      steps.push(parseLine(content.split(/\s+/), i + 1))
    } catch (e) {
      throw new Error(`${name}:${i + 1}: ${(e as Error).message}`)
    }
  }
  return steps
}

const hex = (n: number): string => `0x${n.toString(16)}`

/** Prints a step in trace syntax (used by the generator and in difference reports). */
export const formatStep = (s: Step): string => {
  switch (s.op) {
    case "write":
      return `write${s.size * 8} ${hex(s.offset)} ${hex(s.value)}`
    case "read":
      return `read${s.size * 8} ${hex(s.offset)}${s.expect === undefined ? "" : " " + hex(s.expect)}`
    case "cfg.write":
      return `cfg.write${s.size * 8} ${hex(s.offset)} ${hex(s.value)}`
    case "cfg.read":
      return `cfg.read${s.size * 8} ${hex(s.offset)}${s.expect === undefined ? "" : " " + hex(s.expect)}`
    case "mem.write":
      return `mem.write ${hex(s.addr)} ${toHex(s.data)}`
    case "mem.read":
      return `mem.read ${hex(s.addr)} ${s.length}${s.expect === undefined ? "" : " " + toHex(s.expect)}`
    case "net.in":
      return `net.in ${toHex(s.frame)}`
    case "clock.step":
      return `clock.step ${s.ns}`
    case "link":
      return `link ${s.up ? "up" : "down"}`
    case "reset":
      return "reset"
    default:
      return absurd(s)
  }
}
