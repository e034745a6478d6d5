/**
 * The virtual router's advertisements (RFC 4861 §6.2): what the guest learns its prefix, its
 * default router, the link MTU and the DNS server from (RFC 4862 SLAAC, RFC 8106 RDNSS and
 * DNSSL). Sent in answer to a router solicitation and periodically, at a random interval in
 * [MIN_RTR_ADV_INTERVAL_MS, MAX_RTR_ADV_INTERVAL_MS] (libslirp: 200-600 s) drawn from the
 * router's own seeded PRNG.
 *
 * Contents, as libslirp announces them: hop limit 64, M and O clear (addresses by SLAAC; a
 * DHCPv6 client may still ask, dhcpv6/), router lifetime 3 x the maximum interval, the prefix
 * with L and A (valid 1 day, preferred 4 hours), the MTU, our source link-layer address, the
 * DNS address in RDNSS and the search list in DNSSL (lifetimes 3 x the maximum interval, RFC
 * 8106 §5.1). The source is the gateway's link-local address (fe80:: + its low 64 bits), as
 * §6.1.2 requires.
 *
 * Periodic advertisements start with the first solicitation (a guest that never solicits gets
 * them from then on); the timer is `{ layer: "ra", key: 0 }`. A solicitation with an
 * unspecified source is answered to all-nodes, others unicast to the solicitor (§6.2.6 allows
 * either). Pure: the state is replaced; a timer whose deadline is not the state's is a no-op.
 */
import type { StackEffect } from "../../effects/effect.ts"
import { timerId } from "../../effects/ids.ts"
import { addMillis, type Instant } from "../../effects/instant.ts"
import type { NeighborContext } from "../ethernet/neighbors.ts"
import { ETHERTYPE_IPV6, writeEthernetHeader } from "../ethernet/wire.ts"
import { ipv6Frame } from "../ipv6/output.ts"
import { NH_ICMPV6 } from "../ipv6/wire.ts"
import type { StackConfig } from "../stack/config.ts"
import { nextRandom } from "../tcp/prng.ts"
import { ALL_NODES, type Ipv6, isUnspecified, linkLocalOf, multicastMac } from "../wire/ipv6-address.ts"
import type { Mac } from "../wire/mac.ts"
import { NDP_HOP_LIMIT } from "./neighbors.ts"
import { PREFIX_AUTONOMOUS, PREFIX_ON_LINK, emitRouterAdvert } from "./wire.ts"

export const MAX_RTR_ADV_INTERVAL_MS = 600_000
export const MIN_RTR_ADV_INTERVAL_MS = MAX_RTR_ADV_INTERVAL_MS / 3
export const ROUTER_LIFETIME_S = (3 * MAX_RTR_ADV_INTERVAL_MS) / 1000
export const PREFIX_VALID_LIFETIME_S = 86_400
export const PREFIX_PREFERRED_LIFETIME_S = 14_400
export const DNS_OPTION_LIFETIME_S = (3 * MAX_RTR_ADV_INTERVAL_MS) / 1000
export const RA_HOP_LIMIT = 64

export const RA_TIMER = timerId("ra", 0)

export interface RouterState {
  /** When the next periodic advertisement is due; undefined until the first solicitation. */
  readonly next: Instant | undefined
  readonly rng: number
}

export const createRouter = (seed: number): RouterState => ({ next: undefined, rng: (seed ^ 0x4861) | 0 })

type Result = readonly [RouterState, ReadonlyArray<StackEffect>]

/** The advertisement message from `src` to `dst` for this config. */
export const routerAdvertMessage = (c: StackConfig, gatewayMac: Mac, src: Ipv6, dst: Ipv6): Uint8Array =>
  emitRouterAdvert(
    {
      curHopLimit: RA_HOP_LIMIT,
      flags: 0,
      routerLifetime: ROUTER_LIFETIME_S,
      reachableTime: 0,
      retransTimer: 0,
      sourceLinkAddr: gatewayMac,
      prefixes: [
        {
          prefixLength: c.ipv6PrefixLength,
          // SLAAC needs a /64 (RFC 4862 §5.5.3 d): another length is announced on-link only.
          flags: PREFIX_ON_LINK | (c.ipv6PrefixLength === 64 ? PREFIX_AUTONOMOUS : 0),
          validLifetime: PREFIX_VALID_LIFETIME_S,
          preferredLifetime: PREFIX_PREFERRED_LIFETIME_S,
          prefix: c.ipv6Prefix,
        },
      ],
      mtu: c.mtu,
      rdnss: { lifetime: DNS_OPTION_LIFETIME_S, servers: [c.ipv6Dns] },
      dnssl: { lifetime: DNS_OPTION_LIFETIME_S, domains: c.dnsSearch },
    },
    src,
    dst,
  )

const advert = (ctx: NeighborContext, dst: Ipv6, dstMac: Uint8Array): StackEffect => {
  const src = linkLocalOf(ctx.config.ipv6Host)
  const frame = ipv6Frame(src, dst, NH_ICMPV6, NDP_HOP_LIMIT, routerAdvertMessage(ctx.config, ctx.gatewayMac, src, dst))
  writeEthernetHeader(frame, dstMac, ctx.gatewayMac, ETHERTYPE_IPV6)
  return { _tag: "DeliverFrame", frame }
}

const schedule = (s: RouterState, now: Instant): readonly [RouterState, StackEffect] => {
  const [r, rng] = nextRandom(s.rng)
  const next = addMillis(now, MIN_RTR_ADV_INTERVAL_MS + (r % (MAX_RTR_ADV_INTERVAL_MS - MIN_RTR_ADV_INTERVAL_MS + 1)))
  return [{ next, rng }, { _tag: "SetTimer", timer: RA_TIMER, at: next }]
}

/** A router solicitation from `src` (link-layer `srcMac`): answer, and start the periodic ones. */
export const routerSolicited = (s: RouterState, ctx: NeighborContext, now: Instant, src: Uint8Array, srcMac: Uint8Array): Result => {
  const reply = isUnspecified(src) ? advert(ctx, ALL_NODES, multicastMac(ALL_NODES)) : advert(ctx, src.slice(0, 16), srcMac)
  if (s.next !== undefined) return [s, [reply]]
  const [s1, timer] = schedule(s, now)
  return [s1, [reply, timer]]
}

/** The periodic timer fired: advertise to all nodes and draw the next interval. */
export const routerTimer = (s: RouterState, ctx: NeighborContext, now: Instant): Result => {
  if (s.next === undefined || now < s.next) return [s, []]
  const [s1, timer] = schedule(s, now)
  return [s1, [advert(ctx, ALL_NODES, multicastMac(ALL_NODES)), timer]]
}

export const routerShutdown = (s: RouterState): ReadonlyArray<StackEffect> => (s.next === undefined ? [] : [{ _tag: "CancelTimer", timer: RA_TIMER }])
