/**
 * checked.ts: the e1000 reducer and sync wrapper with the referential-transparency harness
 * (test/support/referential.ts) applied to every call of `e1000Step`.
 *
 * Contract: `checkedE1000Step` has `e1000Step`'s signature; each call deep-freezes the state,
 * fingerprints its bytes, reduces twice and throws `NotReferentiallyTransparent` if the state
 * was written or the two results differ. `createCheckedSyncE1000` is the sync wrapper built on
 * it, so every DmaRead it answers is checked too.
 */
import { createSyncE1000, e1000Step, type E1000Step, type SyncE1000, type SyncE1000Options } from "../../src/device/e1000/api.ts"
import { checkedReduce } from "../support/referential.ts"

export const checkedE1000Step: E1000Step = (s, nowNs, ev) => checkedReduce((st: typeof s, e: typeof ev) => e1000Step(st, nowNs, e), s, ev)

export const createCheckedSyncE1000 = (opts: SyncE1000Options): SyncE1000 => createSyncE1000(opts, checkedE1000Step)
