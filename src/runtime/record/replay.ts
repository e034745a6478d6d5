/**
 * The replayer: runs a recording's events through the reducers, with no network and no clock,
 * and yields each step: the event, the effects the stack returned, the state after it, and
 * the effects recorded live (when the file has them).
 *
 * Contract: neutral and deterministic. The stack starts from `machine.create(header.config,
 * header.start)` (the configuration holds the seed), so the same recording always yields the
 * same steps; because every reducer is pure, each yielded state stays valid after the next
 * step (keep it, branch from it). Frames for the guest are built in fresh memory.
 */
import type { StackEffect } from "../../effects/effect.ts"
import type { StackEvent } from "../../effects/event.ts"
import { createStack, reduce, type StackState } from "../../protocol/stack/stack.ts"
import type { StackMachine } from "../host/session.ts"
import { effectBytes, type Recording } from "./format.ts"

export interface ReplayStep<S> {
  /** 1 for the first event. */
  readonly index: number
  readonly event: StackEvent
  readonly effects: ReadonlyArray<StackEffect>
  readonly state: S
  /** The effects the live stack returned for this event, if the recording has them. */
  readonly recorded: ReadonlyArray<StackEffect> | undefined
}

/** The stack with fresh frame memory: replay keeps every state and frame it yields valid. */
export const pureStack: StackMachine<StackState> = {
  create: (config) => createStack(config),
  reduce: (state, event) => reduce(state, event),
}

export function* replaySteps<S = StackState>(recording: Recording, machine?: StackMachine<S>): Generator<ReplayStep<S>> {
  const m = (machine ?? pureStack) as StackMachine<S>
  let state = m.create(recording.header.config, recording.header.start)
  for (const { index, event, effects: recorded } of recording.events()) {
    const [next, effects] = m.reduce(state, event)
    state = next
    yield { index: index + 1, event, effects, state, recorded }
  }
}

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Whether the replayed effects are byte for byte those recorded live (undefined: none recorded). */
export const sameAsRecorded = (step: ReplayStep<unknown>): boolean | undefined =>
  step.recorded === undefined ? undefined : bytesEqual(effectBytes(step.effects), effectBytes(step.recorded))
