/**
 * The M88E1000-style PHY behind MDIC, as QEMU 7.2 models it: 32 16-bit registers, a fixed set
 * readable/writable, PHY_CTRL writes that may restart autonegotiation. The caller (mmio) arms
 * the autoneg timer; this file only says what the registers become. Data and pure functions.
 */

export const PHY_CTRL = 0x00
export const PHY_STATUS = 0x01
export const PHY_ID1 = 0x02
export const PHY_ID2 = 0x03
export const PHY_AUTONEG_ADV = 0x04
export const PHY_LP_ABILITY = 0x05
export const PHY_AUTONEG_EXP = 0x06
export const PHY_1000T_CTRL = 0x09
export const PHY_1000T_STATUS = 0x0a
export const M88_SPEC_CTRL = 0x10
export const M88_SPEC_STATUS = 0x11
export const M88_EXT_SPEC_CTRL = 0x14
export const M88_RX_ERR_CNTR = 0x15

// PHY_CTRL (BMCR) bits
export const MII_CR_RESTART_AN = 0x0200
export const MII_CR_AUTONEG_EN = 0x1000
export const MII_CR_LOOPBACK = 0x4000
export const MII_CR_RESET = 0x8000
// PHY_STATUS (BMSR) bits
export const MII_SR_LINK = 0x0004
export const MII_SR_AN_COMPLETE = 0x0020
// PHY_LP_ABILITY bit
export const MII_LPAR_ACK = 0x4000

const R = 1
const W = 2
/** Capability per register: bit 0 readable, bit 1 writable. */
export const PHY_CAPS: Uint8Array = (() => {
  const c = new Uint8Array(32)
  for (const r of [PHY_STATUS, PHY_ID1, PHY_ID2, PHY_LP_ABILITY, PHY_AUTONEG_EXP, PHY_1000T_STATUS, M88_SPEC_STATUS, M88_RX_ERR_CNTR]) c[r] = R
  for (const r of [PHY_CTRL, PHY_AUTONEG_ADV, PHY_1000T_CTRL, M88_SPEC_CTRL, M88_EXT_SPEC_CTRL]) c[r] = R | W
  return c
})()
export const PHY_READABLE = R
export const PHY_WRITABLE = W

/** The registers after reset (a fresh array). */
export const resetPhy = (): Uint16Array => {
  const phy = new Uint16Array(32)
  phy[PHY_CTRL] = 0x1140 // 1000 Mb/s, full duplex, autoneg enabled
  phy[PHY_STATUS] = 0x794d // link up, autoneg NOT complete
  phy[PHY_ID1] = 0x0141
  phy[PHY_ID2] = 0x0c20 // 8254xx default
  phy[PHY_AUTONEG_ADV] = 0x0de1
  phy[PHY_LP_ABILITY] = 0x01e0
  phy[PHY_1000T_CTRL] = 0x0e00
  phy[PHY_1000T_STATUS] = 0x3c00
  phy[M88_SPEC_CTRL] = 0x0360
  phy[M88_SPEC_STATUS] = 0xac00
  phy[M88_EXT_SPEC_CTRL] = 0x0d60
  return phy
}

// MDIC fields
export const MDIC_DATA_MASK = 0xffff
export const MDIC_REG_SHIFT = 16
export const MDIC_PHY_SHIFT = 21
export const MDIC_OP_WRITE = 1 << 26
export const MDIC_OP_READ = 1 << 27
export const MDIC_READY = 1 << 28
export const MDIC_INT_EN = 1 << 29
export const MDIC_ERROR = 1 << 30
