/**
 * Guest-side traffic source for the link ceiling: `node udp-blast.ts HOST PORT SIZE SECONDS`
 * sends SIZE-byte UDP datagrams to HOST:PORT as fast as the kernel takes them, keeping a fixed
 * number of sends in flight, for SECONDS, then prints `{"datagrams": n, "bytes": n}`.
 * Send errors (ENOBUFS when the tap queue is full) are counted, not fatal.
 */
import { createSocket } from "node:dgram"

const [host, portText, sizeText, secondsText] = process.argv.slice(2)
const port = Number(portText)
const size = Number(sizeText)
const seconds = Number(secondsText)
if (host === undefined || !Number.isInteger(port) || !Number.isInteger(size) || !(seconds > 0)) {
  process.stderr.write("usage: udp-blast.ts HOST PORT SIZE SECONDS\n")
  process.exit(2)
}

const IN_FLIGHT = 256
const payload = Buffer.alloc(size, 0x5a)
const socket = createSocket({ type: "udp4", sendBufferSize: 8 << 20 })
const end = Date.now() + seconds * 1_000
let datagrams = 0
let errors = 0
let inFlight = 0
let stopping = false

const finish = (): void => {
  if (inFlight > 0) return
  process.stdout.write(`${JSON.stringify({ datagrams, bytes: datagrams * size, errors })}\n`)
  socket.close()
}

const pump = (): void => {
  if (Date.now() >= end) stopping = true
  while (!stopping && inFlight < IN_FLIGHT) {
    inFlight += 1
    socket.send(payload, port, host, (err) => {
      inFlight -= 1
      if (err === null || err === undefined) datagrams += 1
      else errors += 1
      if (stopping) finish()
      // Completed sends call back on nextTick: re-enter through setImmediate so I/O still runs.
      else if (inFlight === IN_FLIGHT / 2) setImmediate(pump)
    })
  }
  if (stopping) finish()
}
socket.bind(0, pump)
