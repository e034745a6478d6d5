/**
 * Guest data on its way to the host socket: the staged writes, a list of views of the guest's
 * payload that leaves as one `TcpWrite` (its chunks, written as one) while an earlier write is
 * in flight. Nothing is copied: the guest's frame belongs to the stack from its event on and
 * nobody writes it afterwards, so the views stay valid for as long as anyone holds them.
 *
 * The staged list is an immutable value of the connection record: staging makes a new list on
 * the draft (`TcbDraft.stage`), never appends to the old one.
 */
import type { TcbDraft, TcbEnv } from "./tcb.ts"

/** Bytes staged at most before they leave as one write (keeps each host write moderate). */
export const STAGE_BYTES = 64 * 1024

export const stageBytes = (c: TcbDraft, env: TcbEnv, bytes: Uint8Array): void => {
  if (bytes.length === 0) return
  if (c.staged + bytes.length > STAGE_BYTES) flushStage(c, env)
  c.stage = [...c.stage, bytes]
  c.staged += bytes.length
}

/** Hands the staged views to the host as one write (dropped when the host socket is gone). */
export const flushStage = (c: TcbDraft, env: TcbEnv): void => {
  if (c.staged === 0) return
  if (c.hostOpen) {
    env.out.push({ _tag: "TcpWrite", sock: c.sock, chunks: c.stage })
    c.hostInFlight += c.staged
  }
  c.stage = []
  c.staged = 0
}
