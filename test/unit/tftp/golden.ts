/** The captured TFTP packets of test/golden/tftp (README there), by file name without `.hex`. */
import { readFileSync, readdirSync } from "node:fs"
import { fromHex } from "../../../src/protocol/wire/bytes.ts"

const DIR = new URL("../../golden/tftp/", import.meta.url).pathname

export const golden = (name: string): Uint8Array => fromHex(readFileSync(`${DIR}${name}.hex`, "utf8"))

export const goldenNames = (): ReadonlyArray<string> =>
  readdirSync(DIR)
    .filter((f) => f.endsWith(".hex"))
    .map((f) => f.slice(0, -4))
    .sort()

/** The file the captured transfers carried. */
export const goldenFile = (): Uint8Array => new Uint8Array(readFileSync(`${DIR}golden.txt`))
