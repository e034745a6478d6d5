/**
 * Vitest setup for every test file (vitest.config.ts `setupFiles`): after each test, the bytes of
 * every state a test passed through the referential-transparency harness are re-verified
 * (test/support/referential.ts `verifyBytes`), so a write into an old state's buffer fails the
 * test that made it even when no interval check came after it. A file that never uses the
 * harness pays nothing.
 */
import { afterEach } from "vitest"
import { verifyBytes } from "./referential.ts"

afterEach(() => verifyBytes({ release: true }))
