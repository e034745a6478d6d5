/**
 * Host-side socket addresses, as the runtime needs them: a textual IP (v4 dotted quad or v6)
 * and a port. Inside the stack IPv4 addresses are plain uint32 numbers (see
 * `src/protocol/wire/ipv4-address.ts`); only host-facing effects use text.
 */
export type IpFamily = 4 | 6

export interface HostEndpoint {
  readonly family: IpFamily
  readonly address: string
  readonly port: number
}
