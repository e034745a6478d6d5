/**
 * End to end through the whole stack: the real CLI (tslirp over `-netdev stream`) serving a
 * network namespace as the guest (test/support/netns.ts). A UDP datagram from the guest to
 * 10.0.2.2:PORT goes to 127.0.0.1:PORT on the host; when nothing listens there, the host's
 * ICMP port unreachable (read by the native socket's IP_RECVERR) must come back to the guest as
 * an ICMP port unreachable from 10.0.2.2 that quotes the guest's datagram, so the guest's own
 * kernel matches it to the socket: a connect()ed socket gets ECONNREFUSED. An open port on
 * the same path still answers, so the refusal is not the path being broken.
 */
import { createSocket, type Socket } from "node:dgram"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createNetnsGuest, freeUdpPort, NODE, type NetnsGuest } from "../../support/netns.ts"
import { describeResult } from "../../support/netns-process.ts"

const PROBE = fileURLToPath(new URL("./guest-probe.ts", import.meta.url))

let guest: NetnsGuest | undefined
let echo: Socket | undefined
let echoPort = 0

const theGuest = (): NetnsGuest => {
  if (guest === undefined) throw new Error("the namespace guest did not start (see the beforeAll error)")
  return guest
}

/** Run the probe in the guest; returns its JSON answer, or throws with the backend's output. */
const probe = async (mode: "connected" | "recverr", host: string, port: number): Promise<Record<string, unknown>> => {
  const g = theGuest()
  const r = await g.exec([NODE, PROBE, mode, host, String(port)], { timeoutMs: 30_000 })
  if (r.code !== 0) throw new Error(`${describeResult(r)}\n${g.diagnostics()}`)
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>
}

beforeAll(async () => {
  echo = createSocket("udp4")
  echo.on("message", (msg, rinfo) => echo?.send(Buffer.concat([Buffer.from("echo:"), msg]), rinfo.port, rinfo.address))
  await new Promise<void>((resolve) => echo?.bind(0, "127.0.0.1", () => resolve()))
  echoPort = echo.address().port
  guest = await createNetnsGuest({ backend: { _tag: "TslirpStream" }, mtu: 1500 })
  await guest.configureStatic()
}, 60_000)

afterAll(async () => {
  await guest?.destroy()
  await new Promise<void>((resolve) => (echo === undefined ? resolve() : echo.close(() => resolve())))
})

describe("guest UDP to a closed host port, through tslirp", () => {
  it("a connect()ed socket in the guest gets ECONNREFUSED (the guest kernel saw ICMP port unreachable)", async () => {
    const closed = await freeUdpPort()
    expect(await probe("connected", "10.0.2.2", closed)).toEqual({ error: "ECONNREFUSED" })
  }, 40_000)

  it("the guest's ICMP error says port unreachable for 10.0.2.2:PORT, sent by 10.0.2.2", async () => {
    const closed = await freeUdpPort()
    expect(await probe("recverr", "10.0.2.2", closed)).toEqual({
      unreachable: { to: "10.0.2.2", port: closed, reason: "port", from: "10.0.2.2" },
    })
  }, 40_000)

  it("control: the same path to an open host port gets the echo", async () => {
    expect(await probe("connected", "10.0.2.2", echoPort)).toEqual({ reply: "echo:probe" })
  }, 40_000)
})
