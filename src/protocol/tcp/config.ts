/**
 * Tunables of the TCP layer, with units in their names. Defaults suit a local guest link:
 * RTTs are sub-millisecond, so timers follow Linux's floors rather than RFC 6298's 1 s minimum.
 */
import type { Millis } from "../../effects/instant.ts"

export interface TcpConfig {
  /**
   * Per-connection memory bound, each direction: guest data written to the host socket and
   * not yet reported flushed (plus out-of-order data), and host data not yet acknowledged by
   * the guest. The advertised window and host-socket pausing enforce it.
   */
  readonly bufferBytes: number
  /** Initial congestion window, bytes (the link is local: large, but the guest's window rules). */
  readonly initialCwndBytes: number
  readonly initialRtoMs: Millis
  readonly minRtoMs: Millis
  readonly maxRtoMs: Millis
  /** Consecutive retransmission timeouts of data or FIN before the connection is reset. */
  readonly maxRetransmits: number
  /** Retransmissions of SYN or SYN-ACK before giving up (Linux tcp_syn(ack)_retries). */
  readonly maxSynRetransmits: number
  readonly delayedAckMs: Millis
  /** A host connect that neither succeeds nor fails within this is abandoned (BSD TCPTV_KEEP_INIT). */
  readonly connectTimeoutMs: Millis
  /** 2 * MSL; MSL is short because the guest link has no old duplicates in flight for long. */
  readonly timeWaitMs: Millis
  /** FIN_WAIT_2 with no segment from the guest for this long is reset (slirp4netns leaked these). */
  readonly finWait2TimeoutMs: Millis
  readonly maxPersistMs: Millis
  /** Connections in the table at most; a SYN beyond it is answered RST (and logged). */
  readonly maxConnections: number
}

export const defaultTcpConfig: TcpConfig = {
  // 512 KiB: with 256 KiB, host->guest at MTU 1500 through QEMU's stream netdev filled the
  // send buffer before the guest's ACKs came back (they cross QEMU and two processes' wake-ups),
  // so the host socket was paused and resumed thousands of times a second and the pipe ran dry
  // between: interleaved A/B runs, tslirp's CPU s/GB host->guest 1.6-2.0 -> 1.5-1.6 and a few
  // % more Gbit/s; 1 MiB gained nothing more. The cost: up to 512 KiB per direction of a
  // connection whose peer stops reading (libslirp keeps 128 KiB; Linux lets a socket grow to 4-6 MB).
  bufferBytes: 512 * 1024,
  initialCwndBytes: 64 * 1024,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 60_000,
  maxRetransmits: 15,
  maxSynRetransmits: 6,
  delayedAckMs: 40,
  connectTimeoutMs: 75_000,
  timeWaitMs: 4_000,
  finWait2TimeoutMs: 60_000,
  maxPersistMs: 60_000,
  maxConnections: 16_384,
}
