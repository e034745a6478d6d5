/**
 * Guest data on its way to the host socket: a staging buffer that turns many segments into one
 * `TcpWrite` while an earlier write is in flight. Copies each byte once (from the guest's frame
 * into the buffer); the buffer's ownership passes to the runtime with the write.
 */
import type { Tcb, TcbEnv } from "./tcb.ts"

/** Size of a staging buffer for guest data waiting for the host socket. */
export const STAGE_BYTES = 64 * 1024

export const stageBytes = (c: Tcb, env: TcbEnv, bytes: Uint8Array): void => {
  if (c.stage === undefined || c.staged + bytes.length > c.stage.length) {
    flushStage(c, env)
    c.stage = new Uint8Array(Math.max(STAGE_BYTES, bytes.length))
  }
  c.stage.set(bytes, c.staged)
  c.staged += bytes.length
}

/** Hands the staged bytes to the host (the buffer goes with them: the runtime owns it). */
export const flushStage = (c: Tcb, env: TcbEnv): void => {
  if (c.staged === 0 || c.stage === undefined) return
  if (c.hostOpen) {
    env.out.push({ _tag: "TcpWrite", sock: c.sock, chunks: [c.stage.subarray(0, c.staged)] })
    c.hostInFlight += c.staged
  }
  c.stage = undefined
  c.staged = 0
}
