/**
 * Host-side clients of a guest run (hostfwd checks), as a process of its own so that it runs in
 * the run's network namespace: `ip netns exec NS node guest-host-client-main.ts PLAN_JSON`. It
 * works through the plan's steps in order while the guest runs; each step retries until the
 * guest's server answers or its deadline passes (the guest may still be booting), then prints
 * one JSON line `{"step":N,"kind":...,"ok":true|false,...}` (an `api-hostfwd` step, which
 * changes the running rules through the control socket, runs once). Exits when the plan is done or
 * stdin closes (its parent is gone).
 */
import { createSocket } from "node:dgram"
import { get } from "node:http"
import { connect } from "node:net"
import { callApi } from "./api-client.ts"
import type { ApiHostFwdTrace, HostClientStep } from "./guest-host-client.ts"

const plan = JSON.parse(process.argv[2] ?? "[]") as ReadonlyArray<HostClientStep>
const print = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
process.stdin.on("close", () => process.exit(0))
process.stdin.resume()

const httpOnce = (port: number, path: string, host = "127.0.0.1"): Promise<{ status: number; body: string; local: string }> =>
  new Promise((resolve, reject) => {
    const req = get({ host, port, path, timeout: 3000 }, (res) => {
      let body = ""
      res.on("data", (d: Buffer) => (body += d.toString()))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, local: `${req.socket?.localAddress}:${req.socket?.localPort}` }))
      res.on("error", reject)
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", reject)
  })

const tcpSendOnce = (port: number, text: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port })
    s.setTimeout(5000, () => s.destroy(new Error("timeout")))
    // The guest's nc answers a closed port with RST until it listens: ECONNRESET, retried.
    s.on("connect", () => s.end(text))
    s.on("error", reject)
    s.on("data", () => undefined)
    s.on("close", (hadError) => (hadError ? undefined : resolve()))
  })

const udpOnce = (step: Extract<HostClientStep, { kind: "udp" }>): Promise<string> =>
  new Promise((resolve, reject) => {
    const sock = createSocket("udp4")
    const timer = setTimeout(() => {
      sock.close()
      reject(new Error("no answer"))
    }, 1500)
    sock.on("message", (m) => {
      clearTimeout(timer)
      sock.close()
      resolve(m.toString("hex"))
    })
    sock.on("error", (e) => {
      clearTimeout(timer)
      sock.close()
      reject(e)
    })
    sock.bind(step.fromPort ?? 0, "127.0.0.1", () => sock.send(Buffer.from(step.hex, "hex"), step.port, "127.0.0.1"))
  })

/** The errno code of one connect to 127.0.0.1:PORT, or "connected". */
const connectOutcome = (port: number): Promise<string> =>
  new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port })
    s.setTimeout(5000, () => s.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })))
    s.on("connect", () => {
      s.destroy()
      resolve("connected")
    })
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
  })

const apiHostFwd = async (step: Extract<HostClientStep, { kind: "api-hostfwd" }>): Promise<ApiHostFwdTrace> => {
  const call = (request: object) => callApi(step.api, JSON.stringify(request))
  // slirp4netns's documented request, key for key.
  const add = await call({ execute: "add_hostfwd", arguments: { proto: "tcp", host_addr: "127.0.0.1", host_port: step.hostPort, guest_addr: "10.0.2.15", guest_port: step.guestPort } })
  const id = (JSON.parse(add) as { return?: { id?: number } }).return?.id
  const list = await call({ execute: "list_hostfwd" })
  // A GET whose request stays open until list_connections has seen the connection Established.
  const sock = connect({ host: "127.0.0.1", port: step.hostPort })
  let received = ""
  const closed = new Promise<void>((resolve, reject) => {
    sock.on("data", (d: Buffer) => (received += d.toString()))
    sock.on("error", reject)
    sock.on("close", () => resolve())
  })
  closed.catch(() => undefined)
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", () => resolve())
    sock.once("error", reject)
  })
  const requestLine = `GET ${step.path} HTTP/1.0\r\n`
  sock.write(requestLine)
  let connections = ""
  for (let i = 0; i < 50; i++) {
    connections = await call({ execute: "list_connections" })
    const entries = (JSON.parse(connections) as { return?: { entries?: Array<Record<string, unknown>> } }).return?.entries ?? []
    if (entries.some((e) => e["origin"] === "host" && e["guest_port"] === step.guestPort && e["host_port"] === sock.localPort && e["state"] === "Established" && Number(e["bytes_to_guest"]) >= requestLine.length)) break
    await sleep(200)
  }
  sock.end("\r\n")
  await closed
  const body = received.slice(received.indexOf("\r\n\r\n") + 4)
  const remove = await call({ execute: "remove_hostfwd", arguments: { id } })
  const listAfter = await call({ execute: "list_hostfwd" })
  const afterRemove = await connectOutcome(step.hostPort)
  return { add, list, connections, body, remove, listAfter, afterRemove }
}

const main = async (): Promise<void> => {
  for (const [i, step] of plan.entries()) {
    const deadline = Date.now() + step.deadlineMs
    let tries = 0
    let last = ""
    for (;;) {
      tries++
      try {
        switch (step.kind) {
          case "http": {
            const r = await httpOnce(step.port, step.path, step.host)
            if (r.status !== 200) throw new Error(`status ${r.status}`)
            print({ step: i, kind: step.kind, ok: true, tries, body: r.body })
            break
          }
          case "tcp-send":
            await tcpSendOnce(step.port, step.text)
            print({ step: i, kind: step.kind, ok: true, tries })
            break
          case "udp":
            print({ step: i, kind: step.kind, ok: true, tries, answer: await udpOnce(step) })
            break
          case "api-hostfwd":
            print({ step: i, kind: step.kind, ok: true, tries, api: await apiHostFwd(step) })
            break
        }
        break
      } catch (e) {
        last = e instanceof Error ? ((e as NodeJS.ErrnoException).code ?? e.message) : String(e)
        // An api-hostfwd step changes the running rules: it is not repeated.
        if (Date.now() > deadline || step.kind === "api-hostfwd") {
          print({ step: i, kind: step.kind, ok: false, tries, error: last })
          break
        }
        await sleep(300)
      }
    }
  }
  process.exit(0)
}

void main()
