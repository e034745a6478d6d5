// tslirp on any JavaScript runtime (a browser, a worker, Deno, Bun): the pure stack on ports you
// supply. Here the mocked host's: scripted remote hosts on a test clock, no network at all.
// Run: node test/examples/any-runtime.ts  (the README shows it importing from "tslirp")
import { Effect } from "effect"
import { createMockHost, EmbeddedStack, makeLogger } from "../../src/index.ts"

const host = createMockHost() // or ports of your own (HostDeps: TCP, UDP, ICMP, timers, clock)
const logger = makeLogger("warn", (line) => console.warn(line))
const seed = crypto.getRandomValues(new Uint32Array(1))[0]!
const stack = new EmbeddedStack({ net: "10.0.2.0/24", dnsUpstream: "none" }, host.deps(logger), seed)

stack.onFrameToGuest((frame) => {
  const etherType = (frame[12]! << 8) | frame[13]!
  console.log(`to guest: ${frame.length} bytes, ethertype 0x${etherType.toString(16)}`)
})

// The guest (52:54:00:12:34:56, 10.0.2.15) asks: who has 10.0.2.2?
const hex = "ffffffffffff525400123456" + "0806" + "0001080006040001" + "5254001234560a00020f" + "0000000000000a000202"
stack.fromGuest(Uint8Array.from(hex.match(/../g)!, (byte) => parseInt(byte, 16)))
await Effect.runPromise(host.advance(1_000)) // the mock's test clock: run whatever is due
stack.close()
