/** MAC addresses as 6-byte arrays; `macKey` gives a compact string for map keys and logs. */
export type Mac = Uint8Array

export const BROADCAST_MAC: Mac = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
export const ZERO_MAC: Mac = new Uint8Array(6)

export const formatMac = (m: Uint8Array, off = 0): string => {
  let s = ""
  for (let i = 0; i < 6; i++) s += (i ? ":" : "") + m[off + i]!.toString(16).padStart(2, "0")
  return s
}

export const macKey = formatMac

export const parseMac = (s: string): Mac | undefined => {
  const m = /^([0-9a-fA-F]{2})(?::([0-9a-fA-F]{2})){5}$/.test(s) ? s.split(":") : undefined
  return m === undefined ? undefined : new Uint8Array(m.map((x) => parseInt(x, 16)))
}

export const macEquals = (a: Uint8Array, aOff: number, b: Uint8Array, bOff = 0): boolean =>
  a[aOff] === b[bOff] &&
  a[aOff + 1] === b[bOff + 1] &&
  a[aOff + 2] === b[bOff + 2] &&
  a[aOff + 3] === b[bOff + 3] &&
  a[aOff + 4] === b[bOff + 4] &&
  a[aOff + 5] === b[bOff + 5]

/** libslirp's virtual hosts use 52:55:<the four IPv4 octets>. */
export const virtualMac = (ip: number): Mac =>
  new Uint8Array([0x52, 0x55, ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff])
