/**
 * Host-side clients of a guest run (hostfwd checks), as a process of its own so that it runs in
 * the run's network namespace: `ip netns exec NS node guest-host-client-main.ts PLAN_JSON`. It
 * works through the plan's steps in order while the guest runs; each step retries until the
 * guest's server answers or its deadline passes (the guest may still be booting), then prints
 * one JSON line `{"step":N,"kind":...,"ok":true|false,...}`. Exits when the plan is done or
 * stdin closes (its parent is gone).
 */
import { createSocket } from "node:dgram"
import { get } from "node:http"
import { connect } from "node:net"
import type { HostClientStep } from "./guest-host-client.ts"

const plan = JSON.parse(process.argv[2] ?? "[]") as ReadonlyArray<HostClientStep>
const print = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
process.stdin.on("close", () => process.exit(0))
process.stdin.resume()

const httpOnce = (port: number, path: string): Promise<{ status: number; body: string; local: string }> =>
  new Promise((resolve, reject) => {
    const req = get({ host: "127.0.0.1", port, path, timeout: 3000 }, (res) => {
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
            const r = await httpOnce(step.port, step.path)
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
        }
        break
      } catch (e) {
        last = e instanceof Error ? ((e as NodeJS.ErrnoException).code ?? e.message) : String(e)
        if (Date.now() > deadline) {
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
