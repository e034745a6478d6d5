/**
 * How one stage of an operation's frame ends (model.ts drives the frames):
 * DONE: the frame finished (its result, if any, is in the draft's `ret`); pop it.
 * CALL: it pushed a child frame; run the child, then come back to this frame's new stage.
 * WAIT: it asked for a DMA read (dma.ts readNow); suspend until the host answers, then run this
 * frame's new stage with the bytes.
 */
export const DONE = 0
export const CALL = 1
export const WAIT = 2
export type Outcome = typeof DONE | typeof CALL | typeof WAIT
