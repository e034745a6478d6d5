/**
 * Guest-side latency client, run inside the namespace guest:
 *   node rr-client.ts rr  HOST PORT SIZE SECONDS   one TCP connection, SIZE-byte request, the
 *                                                  echoed SIZE bytes back, as many as fit
 *   node rr-client.ts crr HOST PORT SIZE SECONDS   connect, one such exchange, close; repeat
 * Prints `{"transactions": n, "seconds": s}` (s measured here). TCP_NODELAY on, like netperf's
 * TCP_RR and TCP_CRR: each request is one segment. Exits 1 with one line on any socket error.
 */
import { connect, type Socket } from "node:net"

const [mode, host, portText, sizeText, secondsText] = process.argv.slice(2)
const port = Number(portText)
const size = Number(sizeText)
const seconds = Number(secondsText)
if ((mode !== "rr" && mode !== "crr") || host === undefined || !Number.isInteger(port) || !Number.isInteger(size) || size < 1 || !(seconds > 0)) {
  process.stderr.write("usage: rr-client.ts rr|crr HOST PORT SIZE SECONDS\n")
  process.exit(2)
}

const request = Buffer.alloc(size, 0x61)
const start = performance.now()
const end = start + seconds * 1_000
let transactions = 0

const fail = (err: Error): never => {
  process.stderr.write(`rr-client: ${err.message}\n`)
  process.exit(1)
}

const done = (): void => {
  process.stdout.write(`${JSON.stringify({ transactions, seconds: (performance.now() - start) / 1_000 })}\n`)
  process.exit(0)
}

/** Sends one request on `s` and calls `next` once all SIZE bytes came back. */
const exchange = (s: Socket, next: () => void): void => {
  let got = 0
  const onData = (d: Buffer): void => {
    got += d.length
    if (got < size) return
    s.off("data", onData)
    transactions++
    next()
  }
  s.on("data", onData)
  s.write(request)
}

const open = (then: (s: Socket) => void): void => {
  const s = connect({ host, port, noDelay: true }, () => then(s))
  s.on("error", fail)
}

if (mode === "rr") {
  open((s) => {
    const loop = (): void => (performance.now() >= end ? done() : exchange(s, loop))
    loop()
  })
} else {
  const loop = (): void => {
    if (performance.now() >= end) return done()
    open((s) => exchange(s, () => {
      s.end()
      s.once("close", loop)
    }))
  }
  loop()
}
