/**
 * Run with `node --expose-gc gc-child.ts`: opens 64 native UDP sockets, drops them without
 * `close`, collects garbage, and prints one JSON line with the number of open descriptors
 * before, while open, and after collection (the addon's finalizer closes each socket). The
 * process then has to exit on its own: a socket left polling would keep the loop alive.
 */
import { readdirSync } from "node:fs"
import { openNativeUdpSocket } from "../../../src/runtime/node/udp-native.ts"

const fds = (): number => readdirSync("/proc/self/fd").length
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with --expose-gc")

const before = fds()
const handlers = { onMessage() {}, onUnreachable() {}, onSendError() {}, onNotice() {} }
;(() => {
  for (let i = 0; i < 64; i++) openNativeUdpSocket(4, handlers).send("127.0.0.1", 9, new Uint8Array(1))
})()
const opened = fds()

const settle = async (): Promise<number> => {
  // Finalizers run after a collection, from the event loop: collect, then give them turns.
  for (let round = 0; round < 20 && fds() > before; round++) {
    gc()
    await new Promise((r) => setTimeout(r, 20))
  }
  return fds()
}
void settle().then((after) => process.stdout.write(`${JSON.stringify({ before, opened, after })}\n`))
