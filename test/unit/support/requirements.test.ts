/**
 * The test plan (test/support/requirements.ts): which files a machine cannot run, and the one
 * closing line that names them and what to install.
 */
import { describe, expect, it } from "vitest"
import { FILE_NEEDS, type Need, needsOf, notRunLine, plan, testFiles } from "../../support/requirements.ts"

describe("test requirements", () => {
  it("pure and loopback tests need nothing; namespaces, QEMU and tshark are declared", () => {
    expect(needsOf("test/unit/tcp/handshake.test.ts")).toEqual([])
    expect(needsOf("test/package/pack.test.ts")).toEqual([])
    expect(needsOf("test/e2e/guest-tcp.test.ts")).toEqual(["root", "ip", "qemu", "guest"])
    expect(needsOf("test/unit/runtime/pcap.test.ts")).toEqual(["tshark"])
  })

  it("every prefix in the table matches at least one test file (no stale rows)", () => {
    const files = testFiles()
    expect(files.length).toBeGreaterThan(50)
    const unmatched = FILE_NEEDS.map(([prefix]) => prefix).filter((prefix) => !files.some((f) => f.startsWith(prefix)))
    expect(unmatched).toEqual([])
  })

  it("a machine with only Node and npm leaves out exactly the files that need more, in one line", () => {
    const files = ["test/unit/tcp/handshake.test.ts", "test/e2e/guest-tcp.test.ts", "test/unit/runtime/pcap.test.ts"]
    const p = plan(files, () => false)
    expect(p.notRun.map((f) => f.file)).toEqual(["test/e2e/guest-tcp.test.ts", "test/unit/runtime/pcap.test.ts"])
    const line = notRunLine(p)!
    expect(line.split("\n")).toHaveLength(1)
    expect(line).toMatch(/^not run \(2 test files; they need root \(network namespaces\), a Debian host \(apt-get\) for the guest kernel, apt-get install -y iproute2 qemu-system-x86 cpio busybox-static tshark; /)
    expect(line).toMatch(/test\/e2e\/guest-tcp\.test\.ts test\/unit\/runtime\/pcap\.test\.ts$/)
  })

  it("a machine with everything runs everything and prints no line", () => {
    const p = plan(testFiles(), (_: Need) => true)
    expect(p.notRun).toEqual([])
    expect(notRunLine(p)).toBeUndefined()
  })
})
