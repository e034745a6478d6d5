/**
 * The Node file port (runtime/node/files.ts) on a real temporary directory: what opens, what is
 * refused and with which code, symlinks out of the root included; then a whole TFTP transfer
 * through `openSession` on the Node host ports.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import type { StackEvent } from "../../../src/effects/event.ts"
import { fileId } from "../../../src/effects/ids.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { memoryLogger } from "../../../src/runtime/host/logger.ts"
import { openSession } from "../../../src/runtime/host/session.ts"
import { nodeHostDeps } from "../../../src/runtime/node/deps.ts"
import { nodeClock } from "../../../src/runtime/node/clock.ts"
import { nodeFiles } from "../../../src/runtime/node/files.ts"
import { TftpGuestClient } from "../../support/tftp-guest-client.ts"

const base = mkdtempSync(join(tmpdir(), "tslirp-tftp-"))
afterAll(() => rmSync(base, { recursive: true, force: true }))
const root = join(base, "root")
const outside = join(base, "outside")
mkdirSync(join(root, "sub"), { recursive: true })
mkdirSync(outside)
const content = new Uint8Array(5000).map((_, i) => (i * 13) & 0xff)
writeFileSync(join(root, "boot.img"), content)
writeFileSync(join(root, "sub", "inner.txt"), "inner")
writeFileSync(join(outside, "secret"), "secret")
symlinkSync(join(outside, "secret"), join(root, "link-out")) // absolute symlink out
symlinkSync("../outside/secret", join(root, "rel-out")) // relative symlink out
symlinkSync(outside, join(root, "dir-out")) // a directory symlink out: dir-out/secret
symlinkSync("sub/inner.txt", join(root, "link-in")) // stays inside: allowed
execFileSync("mkfifo", [join(root, "fifo")])
// The root may itself be reached through a symlink.
symlinkSync(root, join(base, "root-link"))

const logger = memoryLogger()

const collect = () => {
  const events: Array<StackEvent> = []
  const waiters: Array<() => void> = []
  return {
    report: (e: StackEvent) => {
      events.push(e)
      for (const w of waiters.splice(0)) w()
    },
    next: (): Promise<StackEvent> =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no file event within 5 s")), 5000)
        const look = (): void => {
          const e = events.shift()
          if (e === undefined) return void waiters.push(look)
          clearTimeout(t)
          resolve(e)
        }
        look()
      }),
  }
}

/** Opens `path` under `dir` through a fresh port; the event it reports. */
const openEvent = async (path: string, dir = root): Promise<StackEvent> => {
  const c = collect()
  const port = nodeFiles(nodeClock, logger)(c.report)
  port.open(fileId(1), dir, path)
  const e = await c.next()
  port.closeAll()
  return e
}

const codeOf = (e: StackEvent) => (e._tag === "HostFileError" ? e.code : e._tag === "HostFileOpened" ? `opened ${e.size}` : e._tag)

describe("Node file port: opens only regular files under the root", () => {
  it("a file under the root opens with its size, and reads return its bytes (short at the end)", async () => {
    const c = collect()
    const port = nodeFiles(nodeClock, logger)(c.report)
    port.open(fileId(7), root, "boot.img")
    expect(await c.next()).toMatchObject({ _tag: "HostFileOpened", file: 7, size: 5000 })
    port.read(fileId(7), 4608, 512)
    const d = await c.next()
    expect(d._tag === "HostFileData" ? [d.offset, [...d.data]] : d).toEqual([4608, [...content.subarray(4608)]])
    port.read(fileId(7), 5000, 512)
    const end = await c.next()
    expect(end._tag === "HostFileData" ? end.data.length : end).toBe(0)
    port.close(fileId(7))
    port.read(fileId(7), 0, 1)
    expect(await c.next()).toMatchObject({ _tag: "HostFileError", code: "EBADF" })
    port.closeAll()
  })

  it.each([
    ["link-out", "EACCES"],
    ["rel-out", "EACCES"],
    ["dir-out/secret", "EACCES"],
    ["../outside/secret", "EACCES"],
    ["sub/../../outside/secret", "EACCES"],
    [join(outside, "secret"), "EACCES"],
    ["bad\0name", "EACCES"],
    ["", "EACCES"],
    [".", "EACCES"],
    ["sub", "EISDIR"],
    ["fifo", "EACCES"],
    ["missing", "ENOENT"],
    ["boot.img/x", "ENOTDIR"],
    ["link-in", "opened 5"],
    ["sub/inner.txt", "opened 5"],
  ])("%j -> %s", async (path, expected) => {
    expect(codeOf(await openEvent(path))).toBe(expected)
  })

  it("a root given through a symlink works, and its escapes are still refused", async () => {
    expect(codeOf(await openEvent("boot.img", join(base, "root-link")))).toBe("opened 5000")
    expect(codeOf(await openEvent("link-out", join(base, "root-link")))).toBe("EACCES")
  })

  it("a missing root refuses everything", async () => {
    expect(codeOf(await openEvent("boot.img", join(base, "nope")))).toBe("ENOENT")
  })

  it("after closeAll nothing is reported, even for an open under way", async () => {
    const events: Array<StackEvent> = []
    const port = nodeFiles(nodeClock, logger)((e) => void events.push(e))
    port.open(fileId(1), root, "boot.img")
    port.closeAll()
    await new Promise((r) => setTimeout(r, 100))
    expect(events).toEqual([])
  })
})

describe("TFTP over the Node host ports (openSession)", () => {
  const fetch = async (name: string, options: ReadonlyArray<readonly [string, string]> = []): Promise<TftpGuestClient> => {
    const client = new TftpGuestClient(name, options)
    let session: ReturnType<typeof openSession> | undefined = undefined
    const done = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`transfer of ${name} did not finish in 10 s`)), 10_000)
      session = openSession({ ...defaultConfig, tftpRoot: root, dnsUpstream: undefined }, nodeHostDeps(logger), (frame) => {
        const answer = client.receive(frame)
        if (client.done) {
          clearTimeout(t)
          resolve()
        }
        // Answer outside the stack's call, as a real guest would.
        if (answer !== undefined) setImmediate(() => session!.fromGuest(answer))
      })
    })
    session!.fromGuest(client.request())
    try {
      await done
    } finally {
      session!.shutdown()
    }
    return client
  }

  it("a guest fetches a file with blksize and tsize; the bytes are the file's", async () => {
    const c = await fetch("boot.img", [["blksize", "1024"], ["tsize", "0"]])
    expect(c.error).toBeUndefined()
    expect(c.oack).toEqual([["blksize", "1024"], ["tsize", "5000"]])
    expect([...c.data]).toEqual([...content])
  })

  it("a symlink out of the root is refused with error 2 (access violation)", async () => {
    const c = await fetch("link-out")
    expect(c.error).toEqual({ code: 2, message: "access violation" })
    expect(c.blocks).toEqual([])
  })
})
