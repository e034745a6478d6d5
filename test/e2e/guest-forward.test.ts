/**
 * Forwarding with a real Linux guest (issue 11), one boot of the tslirp CLI with
 * `--restrict on`:
 * - hostfwd tcp: a host client (in the run's namespace) GETs a page from busybox `httpd` in the
 *   guest, once over IPv4 and once from [::1] to the guest's SLAAC address over IPv6
 *   (`[fec0::5054:ff:fe12:3456]:8000`), and sends a line to `nc -l` in the guest;
 * - hostfwd udp: a host client's DHCPDISCOVER (relayed, giaddr = the gateway) reaches busybox
 *   `udhcpd` in the guest, whose OFFER comes back to the client through the same rule;
 * - guestfwd: the guest fetches a file from the host's HTTP service through a virtual server
 *   (10.0.2.100:80), sha256 checked;
 * - restricted mode: the lease has no router and no DNS, and the gateway's HTTP service (which
 *   guestfwd reaches) is blocked when asked for directly;
 * - the control socket (`--api-socket`), while the guest runs: slirp4netns's `add_hostfwd`
 *   request opens a new host port to the guest's httpd, `list_hostfwd` lists it, a GET goes
 *   through it while `list_connections` shows the connection, and after `remove_hostfwd` the
 *   port refuses connections. No restart anywhere.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BOOTREPLY, BOOTREQUEST, DHCPDISCOVER, DHCPOFFER, OPT, emitDhcp, optU8, parseDhcp } from "../../src/protocol/dhcp/wire.ts"
import { ipv4 } from "../../src/protocol/wire/ipv4-address.ts"
import { guestBudgetMs, type GuestCheck } from "../support/guest.ts"
import { guestPayload, sha256Hex } from "../support/guest-payload.ts"
import { explain, runGuestScenario, type GuestRunResult, finishedCheck } from "../support/guest-scenario.ts"
import type { GuestServicesConfig } from "../support/guest-services.ts"

const HTTP_PORT = 8080
const FILE = { path: "/forwarded.bin", size: 256 << 10, seed: 0x11f0 }
const GUESTFWD = "10.0.2.100"
const HOST_HTTPD = 18022
const HOST_NC = 18023
const HOST_DHCPD = 16767
/** The port the API rule opens (no --hostfwd names it). */
const HOST_API = 18024
/** [::1]:HOST_HTTPD6 -> httpd at the guest's SLAAC address (EUI-64 of QEMU's default MAC). */
const HOST_HTTPD6 = 18025
const GUEST6 = "fec0::5054:ff:fe12:3456"
const GUEST_PAGE = "page-from-guest-httpd"
const LINE = "hello-through-hostfwd"
const XID = 0x7e571101

const services: GuestServicesConfig = { http: { port: HTTP_PORT, files: { [FILE.path]: { size: FILE.size, seed: FILE.seed } } } }

const udhcpdConf = "start 10.0.2.200\\nend 10.0.2.210\\ninterface eth0\\nlease_file /tmp/udhcpd.leases\\n"

const checks: ReadonlyArray<GuestCheck> = [
  { name: "dhcp", timeoutSec: 40, shell: "udhcpc -i eth0 -f -q -n -t 6 -T 3 -s /lib/tslirp/udhcpc.script" },
  // nc, not wget: busybox's static wget can crash on a refused connection.
  { name: "restricted", timeoutSec: 20, shell: `echo x | nc -w 5 10.0.2.2 ${HTTP_PORT} >/dev/null && echo reached || echo blocked` },
  { name: "guestfwd", timeoutSec: 60, shell: `wget -q -O /tmp/g http://${GUESTFWD}${FILE.path} && sha256sum /tmp/g` },
  {
    name: "servers",
    timeoutSec: 20,
    shell: `mkdir -p /www && echo ${GUEST_PAGE} >/www/index.html && httpd -p 8000 -h /www && printf '${udhcpdConf}' >/tmp/udhcpd.conf && touch /tmp/udhcpd.leases && udhcpd /tmp/udhcpd.conf && echo up`,
  },
  // Ends when the host client's line has come through hostfwd (after its HTTP and UDP steps).
  { name: "hostfwd-nc", timeoutSec: 150, shell: "nc -l -p 8001 >/tmp/msg; cat /tmp/msg" },
]

const discover = Buffer.from(
  emitDhcp({ op: BOOTREQUEST, xid: XID, giaddr: ipv4(10, 0, 2, 2), chaddr: new Uint8Array([2, 0, 0, 0, 0, 9]), options: [[OPT.messageType, optU8(DHCPDISCOVER)]] }).bytes,
).toString("hex")

describe("guest forwarding: the tslirp CLI with --restrict on, --hostfwd tcp/udp, --guestfwd", () => {
  let run: GuestRunResult
  const apiDir = mkdtempSync(join(tmpdir(), "tslirp-e2e-api-"))
  const apiSocket = join(apiDir, "api.sock")
  afterAll(() => rmSync(apiDir, { recursive: true, force: true }))

  beforeAll(async () => {
    run = await runGuestScenario({
      label: "forward",
      backend: "tslirp",
      services,
      checks,
      tslirpArgs: [
        "--restrict", "on",
        "--hostfwd", `tcp::${HOST_HTTPD}-:8000`,
        "--hostfwd", `tcp:[::1]:${HOST_HTTPD6}-[${GUEST6}]:8000`,
        "--hostfwd", `tcp:127.0.0.1:${HOST_NC}-10.0.2.15:8001`,
        "--hostfwd", `udp::${HOST_DHCPD}-:67`,
        "--guestfwd", `tcp:${GUESTFWD}:80-127.0.0.1:${HTTP_PORT}`,
        "--api-socket", apiSocket,
      ],
      hostClient: [
        { kind: "http", port: HOST_HTTPD, path: "/index.html", deadlineMs: 150_000 },
        // httpd answers by now (the step above reached it); SLAAC has long finished.
        { kind: "http", port: HOST_HTTPD6, host: "::1", path: "/index.html", deadlineMs: 30_000 },
        { kind: "api-hostfwd", api: apiSocket, hostPort: HOST_API, guestPort: 8000, path: "/index.html", deadlineMs: 30_000 },
        // From port 67: udhcpd answers a relay at giaddr:67, which is this client as the guest sees it.
        { kind: "udp", port: HOST_DHCPD, hex: discover, fromPort: 67, deadlineMs: 30_000 },
        { kind: "tcp-send", port: HOST_NC, text: `${LINE}\n`, deadlineMs: 60_000 },
      ],
    })
  }, guestBudgetMs(checks) + 60_000)

  const check = (name: string) => finishedCheck(run, name)

  it("boots, gets a lease without router or DNS, runs every check", () => {
    expect(run.setupError, explain(run)).toBeUndefined()
    expect(check("dhcp").rc, explain(run, "dhcp")).toBe(0)
    const lease = run.parsed.leases.at(-1)
    expect([lease?.["ip"], lease?.["router"], lease?.["dns"]], explain(run, "dhcp")).toEqual(["10.0.2.15", "", ""])
    expect(run.parsed.endRc, `script did not finish\n${explain(run)}`).toBe(0)
  })

  it("restricted: the gateway's HTTP service is not reachable directly", () => {
    expect(check("restricted").output.trim().split("\n").at(-1), explain(run, "restricted")).toBe("blocked")
  })

  it("guestfwd: the guest fetches the host's file through the virtual server, intact", () => {
    const result = check("guestfwd")
    expect(result.rc, explain(run, "guestfwd")).toBe(0)
    expect(result.output, explain(run, "guestfwd")).toContain(sha256Hex(guestPayload(FILE.size, FILE.seed)))
  })

  it("hostfwd tcp: a host client gets the page busybox httpd serves in the guest", () => {
    expect(check("servers").output.trim(), explain(run, "servers")).toBe("up")
    const http = run.hostResults.find((r) => r.kind === "http")
    expect(http, explain(run)).toMatchObject({ ok: true, body: `${GUEST_PAGE}\n` })
  })

  it("hostfwd tcp to an IPv6 guest address: a client of [::1] gets the page over IPv6", () => {
    const http6 = run.hostResults.filter((r) => r.kind === "http")[1]
    expect(http6, explain(run)).toMatchObject({ ok: true, body: `${GUEST_PAGE}\n` })
  })

  it("hostfwd udp: udhcpd in the guest answers the host client's DISCOVER with an OFFER", () => {
    const udp = run.hostResults.find((r) => r.kind === "udp")
    expect(udp?.ok, explain(run)).toBe(true)
    const offer = parseDhcp(Buffer.from(udp!.answer!, "hex"))
    if (!offer.ok) throw new Error(`${offer.reason}\n${explain(run)}`)
    expect([offer.msg.op, offer.msg.xid, offer.msg.opts.messageType, offer.msg.yiaddr >>> 8]).toEqual([BOOTREPLY, XID, DHCPOFFER, ipv4(10, 0, 2, 0) >>> 8])
  })

  it("hostfwd tcp: a line sent by a host client arrives at nc -l in the guest", () => {
    const result = check("hostfwd-nc")
    expect(run.hostResults.find((r) => r.kind === "tcp-send")?.ok, explain(run, "hostfwd-nc")).toBe(true)
    expect([result.rc, result.output.trim()], explain(run, "hostfwd-nc")).toEqual([0, LINE])
  })

  it("control socket: a rule added while the guest runs reaches its httpd, is listed, shows its connection, and is removed", () => {
    const step = run.hostResults.find((r) => r.kind === "api-hostfwd")
    expect(step?.ok, `${JSON.stringify(step)}\n${explain(run)}`).toBe(true)
    const api = step!.api!
    const why = `${JSON.stringify(api, null, 1)}\n${explain(run)}`
    const add = JSON.parse(api.add) as { return: { id: number } }
    expect(add, why).toEqual({ return: { id: expect.any(Number) } })
    const id = add.return.id
    const entry = { id, proto: "tcp", host_addr: "127.0.0.1", host_port: HOST_API, guest_addr: "10.0.2.15", guest_port: 8000 }
    // slirp4netns's code sends `entries` at the top level, its man page under `return`: both.
    const list = JSON.parse(api.list) as { return: { entries: Array<unknown> }; entries: Array<unknown> }
    expect(list.entries, why).toContainEqual(entry)
    expect(list.return.entries, why).toContainEqual(entry)
    expect(api.body, why).toBe(`${GUEST_PAGE}\n`)
    // The forwarded connection as the guest's httpd sees it: from the gateway (a loopback client).
    const conns = (JSON.parse(api.connections) as { return: { entries: Array<Record<string, unknown>> } }).return.entries
    const forwarded = conns.find((c) => c["origin"] === "host" && c["guest_port"] === 8000 && c["state"] === "Established")
    expect(forwarded, why).toMatchObject({ proto: "tcp", guest_addr: "10.0.2.15", host_addr: "10.0.2.2" })
    // The request line had gone to the guest when the listing was taken.
    expect(forwarded!["bytes_to_guest"], why).toBe("GET /index.html HTTP/1.0\r\n".length)
    expect(JSON.parse(api.remove), why).toEqual({ return: {} })
    expect((JSON.parse(api.listAfter) as { entries: Array<{ id: number }> }).entries.map((e) => e.id), why).not.toContain(id)
    expect(api.afterRemove, why).toBe("ECONNREFUSED")
  })
})
