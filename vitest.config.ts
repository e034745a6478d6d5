/**
 * Tests: every test/**\/*.test.ts. Files that need what this machine lacks (root, QEMU, Debian
 * packages: test/support/requirements.ts) are left out and named in one closing line with
 * what to install; with CI=true nothing is left out and a missing need fails the run.
 */
import { defineConfig } from "vitest/config"
import { notRunReporter } from "./test/support/not-run-reporter.ts"
import { isCi, notRunLine, plan } from "./test/support/requirements.ts"

const planned = isCi() ? { notRun: [] } : plan()

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["**/node_modules/**", ...planned.notRun.map((f) => f.file)],
    globalSetup: ["./test/support/ci-requirements.ts"],
    // Bulk re-verification of the referential-transparency harness's byte fingerprints after each test.
    setupFiles: ["./test/support/referential-setup.ts"],
    reporters: ["default", notRunReporter(notRunLine(planned))],
    testTimeout: 30_000,
    hookTimeout: 180_000,
  },
})
