/**
 * The 82540EM's 64-word Microwire EEPROM as QEMU 7.2 presents it: the image (QEMU's template
 * with the MAC in words 0-2, the device id in words 11 and 13 and word 63 chosen so the 64 words
 * sum to 0xBABA), the EERD "read done instantly" register and the EECD bit-bang shifter.
 * Writes to the EEPROM are not supported (QEMU ignores the write opcode too).
 *
 * Contract: pure functions; the image is never written after `eepromImage` makes it, and
 * `eecdWrite` returns the shifter's next state without touching the old one.
 */
import type { EecdState, Mutable } from "./types.ts"

export const EEPROM_WORDS = 64
export const EEPROM_SUM = 0xbaba
const DEVICE_ID_82540EM = 0x100e

// Words 0-2 (MAC), 11 and 13 (device id) and 63 (checksum) are filled in by `eepromImage`.
// The other words are the contents QEMU documents from the datasheet's tables 5-2 and 5-3.
const TEMPLATE: ReadonlyArray<number> = [
  0x0000, 0x0000, 0x0000, 0x0000, 0xffff, 0x0000, 0x0000, 0x0000,
  0x3000, 0x1000, 0x6403, 0x0000, 0x8086, 0x0000, 0x8086, 0x3040,
  0x0008, 0x2000, 0x7e14, 0x0048, 0x1000, 0x00d8, 0x0000, 0x2700,
  0x6cc9, 0x3150, 0x0722, 0x040b, 0x0984, 0x0000, 0xc000, 0x0706,
  0x1008, 0x0000, 0x0f04, 0x7fff, 0x4d01, 0xffff, 0xffff, 0xffff,
  0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
  0x0100, 0x4000, 0x121c, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
  0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0x0000,
]

export const eepromImage = (mac: Uint8Array): Uint16Array => {
  const w = new Uint16Array(TEMPLATE)
  for (let i = 0; i < 3; i++) w[i] = (mac[2 * i] ?? 0) | ((mac[2 * i + 1] ?? 0) << 8)
  w[11] = DEVICE_ID_82540EM
  w[13] = DEVICE_ID_82540EM
  let sum = 0
  for (let i = 0; i < EEPROM_WORDS - 1; i++) sum += w[i]!
  w[EEPROM_WORDS - 1] = (EEPROM_SUM - sum) & 0xffff
  return w
}

// EERD
const EERD_START = 0x1
const EERD_DONE = 0x10
const EERD_ADDR_SHIFT = 8
const EERD_DATA_SHIFT = 16

/** Value read from EERD whose stored (raw written) value is `eerd`. */
export const eerdRead = (eeprom: Uint16Array, eerd: number): number => {
  if ((eerd & EERD_START) === 0) return eerd >>> 0
  const r = (eerd & ~EERD_START) >>> 0
  const index = r >>> EERD_ADDR_SHIFT
  if (index > EEPROM_WORDS - 1) return (r | EERD_DONE) >>> 0
  return ((eeprom[index]! << EERD_DATA_SHIFT) | EERD_DONE | r) >>> 0
}

// EECD
export const EECD_SK = 0x01
export const EECD_CS = 0x02
export const EECD_DI = 0x04
export const EECD_DO = 0x08
const EECD_FWE_MASK = 0x30
const EECD_REQ = 0x40
const EECD_GNT = 0x80
const EECD_PRES = 0x100
const EECD_STORED = EECD_SK | EECD_CS | EECD_DI | EECD_FWE_MASK | EECD_REQ
const MICROWIRE_READ_OPCODE = 6

export const initialEecd = (): EecdState => ({ valIn: 0, bitnumIn: 0, bitnumOut: 0, reading: false, oldEecd: 0 })

export const eecdRead = (eeprom: Uint16Array, st: EecdState): number => {
  let ret = EECD_PRES | EECD_GNT | st.oldEecd
  // DO reads 1 when idle; while reading, it is the current bit of the addressed word (MSB first).
  if (!st.reading || ((eeprom[(st.bitnumOut >>> 4) & 0x3f]! >>> ((st.bitnumOut & 0xf) ^ 0xf)) & 1) !== 0) {
    ret |= EECD_DO
  }
  return ret
}

export const eecdWrite = (old: EecdState, val: number): EecdState => {
  const oldval = old.oldEecd
  const st: Mutable<EecdState> = { ...old, oldEecd: val & EECD_STORED }
  if ((val & EECD_CS) === 0) return st // chip not selected: nothing shifts
  if (((val ^ oldval) & EECD_CS) !== 0) {
    // CS rising edge starts a new command
    st.valIn = 0
    st.bitnumIn = 0
    st.bitnumOut = 0
    st.reading = false
  }
  if (((val ^ oldval) & EECD_SK) === 0) return st // no clock edge
  if ((val & EECD_SK) === 0) {
    // falling edge: the next output bit
    st.bitnumOut = (st.bitnumOut + 1) & 0xffff
    return st
  }
  // rising edge: shift DI in; after 3 opcode bits and 6 address bits decide
  st.valIn = ((st.valIn << 1) | ((val & EECD_DI) !== 0 ? 1 : 0)) >>> 0
  st.bitnumIn = (st.bitnumIn + 1) & 0xffff
  if (st.bitnumIn === 9 && !st.reading) {
    st.bitnumOut = (((st.valIn & 0x3f) << 4) - 1) & 0xffff
    st.reading = ((st.valIn >>> 6) & 7) === MICROWIRE_READ_OPCODE
  }
  return st
}
