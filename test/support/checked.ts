/**
 * Wiring of the referential-transparency harness (referential.ts) into the test suites.
 *
 * `checkedLayer(f)` wraps a layer function `(state, ...args) => result` so that every call
 * goes through `checkedReduce`: the state is deep-frozen, reduced twice, the results compared.
 * A test file rebinds the layer functions it imports once (`const udpFromGuest =
 * checkedLayer(rawUdpFromGuest)`) and every call in it is checked.
 *
 * `TCP_PURE` is the one switch for the TCP layer, which is still being made pure on its own
 * branch: while it is false, stack events that reach TCP (a TCP segment from the guest, a host
 * event of a TCP socket, a TCP timer, and `Shutdown` while TCP has connections) are reduced once,
 * unchecked; every other event is checked. The lead flips it to true after merging the TCP
 * work, and then everything is checked.
 */
import type { StackEvent } from "../../src/effects/event.ts"
import { realStack, type StackMachine } from "../../src/runtime/host/session.ts"
import { ETHERTYPE_IPV4 } from "../../src/protocol/ethernet/wire.ts"
import type { StackState } from "../../src/protocol/stack/stack.ts"
import { ownerOf } from "../../src/protocol/stack/sockets.ts"
import { PROTO_TCP } from "../../src/protocol/ipv4/wire.ts"
import { get16 } from "../../src/protocol/wire/bytes.ts"
import { checkedReduce } from "./referential.ts"

/** Flip to true once src/protocol/tcp is pure (issue 7): then no event is exempt. */
export const TCP_PURE = false

export const checkedLayer =
  <S, A extends ReadonlyArray<unknown>, R>(f: (s: S, ...args: A) => R): ((s: S, ...args: A) => R) =>
  (s: S, ...args: A): R =>
    checkedReduce((st: S, a: A) => f(st, ...a), s, args)

/** Does `event` reach the TCP layer of `s`? (Only meaningful while TCP_PURE is false.) */
export const reachesTcp = (s: StackState, event: StackEvent): boolean => {
  switch (event._tag) {
    case "FrameFromGuest": {
      const f = event.frame
      // An IPv4 frame whose protocol is TCP (fragments included: offset 0 carries the protocol too).
      return f.length >= 34 && get16(f, 12) === ETHERTYPE_IPV4 && f[23] === PROTO_TCP
    }
    case "TimerFired":
      return event.timer.layer === "tcp"
    case "Shutdown":
      // Shutdown closes every TCP connection; with none, TCP's part does nothing.
      return s.tcp.bySock.size > 0
    default:
      return ownerOf(s.sockets, event.sock) === "tcp"
  }
}

/**
 * The stack's reducer, checked on every event except, while TCP_PURE is false, those that
 * reach TCP.
 */
export const checkedStackReduce =
  <R>(reduce: (s: StackState, e: StackEvent) => R): ((s: StackState, e: StackEvent) => R) =>
  (s, e) =>
    !TCP_PURE && reachesTcp(s, e) ? reduce(s, e) : checkedReduce(reduce, s, e)

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
