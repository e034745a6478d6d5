/**
 * Time as data. Every event carries the `Instant` at which the world observed it; reducers
 * never read a clock. Milliseconds since an arbitrary epoch chosen by the runtime, fractional
 * values allowed (the Node runtime reads its monotonic high-resolution clock).
 */
export type Instant = number & { readonly __instant: unique symbol }

/** A duration in milliseconds; a plain number is fine, the name documents the unit. */
export type Millis = number

export const instant = (ms: number): Instant => ms as Instant

export const addMillis = (t: Instant, ms: Millis): Instant => (t + ms) as Instant
