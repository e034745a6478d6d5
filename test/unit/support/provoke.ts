/**
 * For the harness's own tests: `provoked(f)` runs `f`, which provokes a purity violation on
 * purpose, then the full byte check that otherwise runs after each test
 * (test/support/referential-setup.ts), and forgets what the harness saw, so the violation is
 * reported to the `expect` around it and not again after the test.
 */
import { forgetWatched, verifyBytes } from "../../support/referential.ts"

export const provoked = (f: () => void) => () => {
  try {
    f()
    verifyBytes({ release: true })
  } finally {
    forgetWatched()
  }
}
