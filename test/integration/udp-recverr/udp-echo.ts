/**
 * A UDP echo server for the namespace tests (`ip netns exec NS node udp-echo.ts PORT`): one
 * dual-stack socket on [::]:PORT answers every datagram with "echo:" and the datagram, to its
 * sender. Prints "ready" once bound; runs until killed.
 */
import { createSocket } from "node:dgram"

const port = Number(process.argv[2])
const socket = createSocket({ type: "udp6", ipv6Only: false })
socket.on("message", (msg, rinfo) => {
  socket.send(Buffer.concat([Buffer.from("echo:"), msg]), rinfo.port, rinfo.address)
})
socket.on("error", (err) => {
  process.stderr.write(`udp echo: ${err.message}\n`)
  process.exit(1)
})
socket.bind(port, "::", () => process.stdout.write("ready\n"))
