/** Placeholder: the reducer lands in the next commits. */
import type { E1000Effect, E1000Event, E1000Options } from "./api.ts"

export interface E1000State {
  readonly _brand: "E1000State"
}
export const createE1000 = (_opts: E1000Options): E1000State => ({ _brand: "E1000State" })
export const e1000Step = (
  s: E1000State,
  _nowNs: number,
  _ev: E1000Event,
): readonly [E1000State, ReadonlyArray<E1000Effect>] => [s, []]
