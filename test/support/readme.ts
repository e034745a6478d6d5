/** The README's code blocks, for tests that run or compare them. */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const README = fileURLToPath(new URL("../../README.md", import.meta.url))

/** The one fenced block of `lang` in the README that contains `marker` (throws unless exactly one). */
export const readmeBlock = (lang: string, marker: string): string => {
  const readme = readFileSync(README, "utf8")
  const blocks = [...readme.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!)
  const found = blocks.filter((b) => b.includes(marker))
  if (found.length !== 1) throw new Error(`README: ${found.length} \`\`\`${lang} blocks contain ${JSON.stringify(marker)}`)
  return found[0]!
}
