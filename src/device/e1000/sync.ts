/** Placeholder: the synchronous wrapper lands in the next commits. */
import type { SyncE1000, SyncE1000Options } from "./api.ts"

export const createSyncE1000 = (_opts: SyncE1000Options): SyncE1000 => {
  throw new Error("not yet implemented")
}
