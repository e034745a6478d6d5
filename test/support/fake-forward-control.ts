/**
 * A `ForwardControl` in memory for the control socket's tests: rules are kept in arrays, ids
 * count up from 1, a second rule on the same host proto/address/port is refused as a real bind
 * would be, and `hold()` makes the next `addHostFwd` wait until released (a slow forwarder).
 */
import type { ConnectionInfo, ForwardControl, GuestFwdEntry, GuestFwdRule, HostFwdEntry, HostFwdRule } from "../../src/runtime/api/forward-control.ts"

export class FakeForwardControl implements ForwardControl {
  hostFwds: Array<HostFwdEntry> = []
  guestFwds: Array<GuestFwdEntry> = []
  connections: Array<ConnectionInfo> = []
  /** Every call, in order, with its argument: what the socket asked of forwarding. */
  readonly calls: Array<string> = []
  private nextId = 1
  private held: Array<() => void> | undefined

  /** The next `addHostFwd` calls wait until the returned function is called. */
  hold(): () => void {
    const waiting: Array<() => void> = []
    this.held = waiting
    return () => {
      this.held = undefined
      for (const w of waiting) w()
    }
  }

  readonly addHostFwd = async (rule: HostFwdRule): Promise<HostFwdEntry> => {
    this.calls.push(`addHostFwd ${JSON.stringify(rule)}`)
    const held = this.held
    if (held !== undefined) await new Promise<void>((resolve) => held.push(resolve))
    if (this.hostFwds.some((e) => e.proto === rule.proto && e.hostAddr === rule.hostAddr && e.hostPort === rule.hostPort))
      throw new Error(`${rule.hostAddr}:${rule.hostPort} is already in use`)
    const entry = { ...rule, id: this.nextId++ }
    this.hostFwds = [...this.hostFwds, entry]
    return entry
  }

  readonly removeHostFwd = async (id: number): Promise<void> => {
    this.calls.push(`removeHostFwd ${id}`)
    if (!this.hostFwds.some((e) => e.id === id)) throw new Error(`no hostfwd rule ${id}`)
    this.hostFwds = this.hostFwds.filter((e) => e.id !== id)
  }

  readonly listHostFwd = (): ReadonlyArray<HostFwdEntry> => this.hostFwds

  readonly addGuestFwd = async (rule: GuestFwdRule): Promise<GuestFwdEntry> => {
    this.calls.push(`addGuestFwd ${JSON.stringify(rule)}`)
    const entry = { ...rule, id: this.nextId++ }
    this.guestFwds = [...this.guestFwds, entry]
    return entry
  }

  readonly removeGuestFwd = async (id: number): Promise<void> => {
    this.calls.push(`removeGuestFwd ${id}`)
    if (!this.guestFwds.some((e) => e.id === id)) throw new Error(`no guestfwd rule ${id}`)
    this.guestFwds = this.guestFwds.filter((e) => e.id !== id)
  }

  readonly listGuestFwd = (): ReadonlyArray<GuestFwdEntry> => this.guestFwds

  /** Replaceable, to stand for a forwarding layer that throws. */
  listConnections = (): ReadonlyArray<ConnectionInfo> => this.connections
}
