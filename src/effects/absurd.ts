/** Exhaustiveness check: every `switch` over a tagged union ends in `absurd(x)`. */
export const absurd = (x: never): never => {
  throw new Error(`unreachable: ${JSON.stringify(x)}`)
}
