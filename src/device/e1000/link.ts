/**
 * Link and autonegotiation events, as QEMU 7.2's e1000_autoneg_timer and e1000_set_link_status
 * run them: register updates, the queue flush (which may receive a frame, hence a frame of its
 * own, types.ts), then LSC. They write only to the draft.
 */
import { CALL, DONE, type Outcome } from "./outcome.ts"
import { MII_LPAR_ACK, MII_SR_AN_COMPLETE, PHY_LP_ABILITY, PHY_STATUS } from "./phy.ts"
import { flushFrame } from "./queue.ts"
import { rg } from "./regfile.ts"
import * as R from "./regs.ts"
import { type Draft, devW, haveAutoneg, linkDownRegs, linkUpRegs, phyW, restartAutoneg, setIcs } from "./state.ts"
import type { AutonegFrame, LinkFrame, Mutable } from "./types.ts"

/** The autoneg timer callback: link up, queue flushed, then LSC. */
export const autonegFrame = (): Mutable<AutonegFrame> => ({ k: "Autoneg", stage: "start" })

export const stepAutoneg = (d: Draft, f: Mutable<AutonegFrame>): Outcome => {
  if (f.stage === "flushed") {
    setIcs(d, R.ICR_LSC)
    return DONE
  }
  if (d.dev.linkDown) return DONE
  linkUpRegs(d)
  const phy = phyW(d)
  phy[PHY_LP_ABILITY] = phy[PHY_LP_ABILITY]! | MII_LPAR_ACK
  phy[PHY_STATUS] = phy[PHY_STATUS]! | MII_SR_AN_COMPLETE
  f.stage = "flushed"
  d.stack.push(flushFrame())
  return CALL
}

/** e1000_set_link_status: the backend link changed (QMP set_link calls it even if unchanged). */
export const linkFrame = (up: boolean): Mutable<LinkFrame> => ({ k: "Link", stage: "start", up, oldStatus: 0 })

export const stepLink = (d: Draft, f: Mutable<LinkFrame>): Outcome => {
  if (f.stage === "start") {
    devW(d).linkDown = !f.up
    f.oldStatus = rg(d, R.STATUS)
    if (!f.up) linkDownRegs(d)
    else if (haveAutoneg(d) && (d.dev.phy[PHY_STATUS]! & MII_SR_AN_COMPLETE) === 0) restartAutoneg(d)
    else {
      linkUpRegs(d)
      f.stage = "flushed"
      d.stack.push(flushFrame())
      return CALL
    }
  }
  if (rg(d, R.STATUS) !== f.oldStatus) setIcs(d, R.ICR_LSC)
  return DONE
}
