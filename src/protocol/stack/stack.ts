/**
 * The stack reducer: one instance per guest. It routes each event to the layer that owns it
 * and concatenates the layers' effects in order.
 *
 * (Stub while the layers land: see the core issue.)
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { StackEvent } from "../../effects/event.ts"
import type { StackConfig } from "./config.ts"

export interface StackState {
  readonly config: StackConfig
}

export const createStack = (config: StackConfig): StackState => ({ config })

export const reduce = (state: StackState, _event: StackEvent): readonly [StackState, ReadonlyArray<StackEffect>] => [state, []]
