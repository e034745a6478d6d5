/**
 * Guest-side UDP client, run inside a namespace guest (`ip netns exec NS node this HOST PORT TEXT`).
 * Sends TEXT to HOST:PORT, up to 5 times one second apart (the first datagram may be lost while
 * the guest resolves the gateway's MAC), and prints one JSON line
 * `{"reply": "...", "from": "addr:port"}` for the first datagram that comes back, exit 0;
 * exit 1 with a message on stderr when nothing comes back.
 */
import { createSocket } from "node:dgram"

const [host, portText, text] = process.argv.slice(2)
const port = Number(portText)
if (host === undefined || text === undefined || !Number.isInteger(port)) {
  process.stderr.write("usage: netns-udp-client.ts HOST PORT TEXT\n")
  process.exit(2)
}

const socket = createSocket("udp4")
let attempts = 0
const send = (): void => {
  if (attempts === 5) {
    process.stderr.write(`no reply from ${host}:${port} after ${attempts} datagrams\n`)
    process.exit(1)
  }
  attempts += 1
  socket.send(text, port, host)
  setTimeout(send, 1_000)
}
socket.on("message", (msg, rinfo) => {
  process.stdout.write(`${JSON.stringify({ reply: msg.toString("utf8"), from: `${rinfo.address}:${rinfo.port}` })}\n`)
  process.exit(0)
})
socket.on("error", (err) => {
  process.stderr.write(`socket error: ${err.message}\n`)
  process.exit(1)
})
socket.bind(0, send)
