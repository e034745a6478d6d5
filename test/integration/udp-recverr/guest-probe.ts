/**
 * Runs inside the namespace guest (`ip netns exec NS node guest-probe.ts MODE HOST PORT`) and
 * prints one JSON line with what the guest's own kernel made of a datagram to HOST:PORT.
 * Datagrams go out every 500 ms (the first may be lost while the guest resolves the gateway's
 * MAC), at most 20 times; exit 0 once there is an answer, 1 when there is none.
 *   connected   a node:dgram socket connect()ed to HOST:PORT: {"error": "ECONNREFUSED"} when
 *               an ICMP port unreachable for it came in, {"reply": "..."} when a datagram did.
 *   recverr     tslirp's own native socket (IP_RECVERR) in the guest: {"unreachable": {to, port,
 *               reason, from}} with the ICMP error's sender, or {"reply": "..."}.
 */
import { createSocket } from "node:dgram"
import { openNativeUdpSocket } from "../../../src/runtime/node/udp-native.ts"

const [mode, host, portText] = process.argv.slice(2)
const port = Number(portText)
if ((mode !== "connected" && mode !== "recverr") || host === undefined || !Number.isInteger(port)) {
  process.stderr.write("usage: guest-probe.ts connected|recverr HOST PORT\n")
  process.exit(2)
}

const done = (result: unknown): never => {
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
}

let attempts = 0
const every = (send: () => void): void => {
  const tick = (): void => {
    if (attempts === 20) {
      process.stderr.write(`no answer from ${host}:${port} after ${attempts} datagrams\n`)
      process.exit(1)
    }
    attempts += 1
    send()
    setTimeout(tick, 500)
  }
  tick()
}

if (mode === "connected") {
  const socket = createSocket("udp4")
  socket.on("message", (msg) => done({ reply: msg.toString("utf8") }))
  socket.on("error", (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }))
  socket.connect(port, host, () => every(() => socket.send("probe", (err) => err && done({ error: (err as NodeJS.ErrnoException).code }))))
} else {
  const socket = openNativeUdpSocket(4, {
    onMessage: (_from, _port, data) => done({ reply: Buffer.from(data).toString("utf8") }),
    onUnreachable: (to, toPort, reason, detail) => done({ unreachable: { to, port: toPort, reason, from: detail.from ?? null } }),
    onSendError: (_to, _port, code) => done({ error: code }),
    onNotice: (message) => process.stderr.write(`${message}\n`),
  })
  every(() => socket.send(host, port, Buffer.from("probe")))
}
