/**
 * Wiring of the referential-transparency harness (referential.ts) into the test suites.
 *
 * `checkedLayer(f)` wraps a layer function `(state, ...args) => result` so that every call
 * goes through `checkedReduce`: the state is deep-frozen, reduced twice, the results compared.
 * A test file rebinds the layer functions it imports once (`const udpFromGuest =
 * checkedLayer(rawUdpFromGuest)`) and every call in it is checked. `checkedStackReduce` and
 * `checkedMachine` do the same for the whole stack: every event, TCP's included.
 */
import type { StackEvent } from "../../src/effects/event.ts"
import { realStack, type StackMachine } from "../../src/runtime/host/session.ts"
import type { StackState } from "../../src/protocol/stack/stack.ts"
import { checkedReduce } from "./referential.ts"

export const checkedLayer =
  <S, A extends ReadonlyArray<unknown>, R>(f: (s: S, ...args: A) => R): ((s: S, ...args: A) => R) =>
  (s: S, ...args: A): R =>
    checkedReduce((st: S, a: A) => f(st, ...a), s, args)

/** The stack's reducer, checked on every event. */
export const checkedStackReduce =
  <R>(reduce: (s: StackState, e: StackEvent) => R): ((s: StackState, e: StackEvent) => R) =>
  (s, e) =>
    checkedReduce(reduce, s, e)

/**
 * The real stack for a session (`openSession`, the mocked host's `machine` option), every
 * event checked like `checkedStackReduce`. The session catches what a reducer throws (it logs
 * and drops the event), so violations are also collected in `failures`: a test asserts it
 * stays empty (e.g. in `afterEach`).
 */
export const checkedMachine = (): { readonly machine: StackMachine<StackState>; readonly failures: Array<string> } => {
  const failures: Array<string> = []
  const reduce = checkedStackReduce(realStack.reduce)
  return {
    failures,
    machine: {
      create: realStack.create,
      reduce: (s, e) => {
        try {
          return reduce(s, e)
        } catch (err) {
          failures.push(`${e._tag}: ${err instanceof Error ? err.message : String(err)}`)
          throw err
        }
      },
    },
  }
}
