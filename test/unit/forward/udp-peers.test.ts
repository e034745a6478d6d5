/**
 * UDP hostfwd peers are bounded (hostfwd.ts UDP_MAX_PEERS): a flood of datagrams from ever new
 * host sources maps at most that many peers; the next new source is dropped with a debug line,
 * while a peer already mapped still reaches the guest. Every call goes through the
 * referential-transparency harness.
 */
import { describe, expect, it } from "vitest"
import type { HostEndpoint } from "../../../src/effects/address.ts"
import type { SocketId } from "../../../src/effects/ids.ts"
import { instant } from "../../../src/effects/instant.ts"
import { UDP_MAX_PEERS, addHostFwd, emptyHostFwd, hostFwdDatagram, type HostFwdState } from "../../../src/protocol/forward/hostfwd.ts"
import { defaultConfig } from "../../../src/protocol/stack/config.ts"
import { checked } from "../../support/referential.ts"

const LISTENER = 7 as SocketId
const now = instant(1000)
const data = new Uint8Array([1, 2, 3])

const datagram = checked((s: HostFwdState, from: HostEndpoint) => hostFwdDatagram(s, defaultConfig, now, LISTENER, from, data))

/** A distinct host source per i (up to 65536 of them). */
const peer = (i: number): HostEndpoint => ({ family: 4, address: `192.0.2.${1 + (i >> 8)}`, port: 1024 + (i & 0xff) })

describe("udp hostfwd peers", () => {
  it(`maps at most ${UDP_MAX_PEERS} peers; one more new source is dropped, a mapped one still passes`, () => {
    const [s0] = addHostFwd(emptyHostFwd, { _tag: "HostFwdAdd", now, id: 1, proto: "udp", bind: { family: 4, address: "127.0.0.1", port: 5353 }, guest: undefined, guestPort: 53 }, LISTENER)
    let s = s0
    for (let i = 0; i < UDP_MAX_PEERS; i++) {
      const [next, out] = datagram(s, peer(i))
      expect(out.some((o) => o._tag === "PacketToGuest")).toBe(true)
      s = next
    }
    expect(s.udpPeerCount).toBe(UDP_MAX_PEERS)
    const [full, out] = datagram(s, { family: 4, address: "198.51.100.1", port: 9 })
    expect(full).toBe(s)
    expect(out).toEqual([{ _tag: "Log", level: "debug", message: expect.stringContaining(`${UDP_MAX_PEERS} peers mapped, datagram from 198.51.100.1:9 dropped`) }])
    const [, again] = datagram(s, peer(5))
    expect(again.some((o) => o._tag === "PacketToGuest")).toBe(true)
  })
})
