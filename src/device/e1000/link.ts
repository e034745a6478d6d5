/**
 * Link and autonegotiation events, as QEMU 7.2's e1000_autoneg_timer and e1000_set_link_status
 * run them: register updates, the queue flush (which may receive a frame, hence a generator),
 * then LSC.
 */
import * as R from "./regs.ts"
import { MII_LPAR_ACK, MII_SR_AN_COMPLETE, PHY_LP_ABILITY, PHY_STATUS } from "./phy.ts"
import { flushQueued } from "./queue.ts"
import { type E1000State, haveAutoneg, linkDownRegs, linkUpRegs, restartAutoneg, setIcs } from "./state.ts"

/** The autoneg timer callback: link up, queue flushed, then LSC. */
export function* autonegDone(s: E1000State): Generator<void, void, Uint8Array> {
  if (s.linkDown) return
  linkUpRegs(s)
  s.phy[PHY_LP_ABILITY] = s.phy[PHY_LP_ABILITY]! | MII_LPAR_ACK
  s.phy[PHY_STATUS] = s.phy[PHY_STATUS]! | MII_SR_AN_COMPLETE
  yield* flushQueued(s)
  setIcs(s, R.ICR_LSC)
}

/** e1000_set_link_status: the backend link changed (QMP set_link calls it even if unchanged). */
export function* setLinkStatus(s: E1000State, up: boolean): Generator<void, void, Uint8Array> {
  s.linkDown = !up
  const old = s.regs[R.STATUS]!
  if (!up) linkDownRegs(s)
  else if (haveAutoneg(s) && (s.phy[PHY_STATUS]! & MII_SR_AN_COMPLETE) === 0) restartAutoneg(s)
  else {
    linkUpRegs(s)
    yield* flushQueued(s)
  }
  if (s.regs[R.STATUS] !== old) setIcs(s, R.ICR_LSC)
}
