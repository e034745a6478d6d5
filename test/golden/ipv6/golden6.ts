/** Loads an IPv6 golden frame captured by capture.sh (one line of hex per file). Tests only. */
import { readFileSync } from "node:fs"
import { fromHex } from "../../../src/protocol/wire/bytes.ts"

export const golden6 = (name: string): Uint8Array =>
  fromHex(readFileSync(new URL(`./${name}.hex`, import.meta.url), "utf8"))
