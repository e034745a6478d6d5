/**
 * The Node host capabilities as a plain dependency record, for embedders that do not use Effect
 * (`NodeStack`, `openSession`). Built from `nodeHostLayer` (layer.ts), the one wiring of the
 * Node host: the record and the layer cannot drift apart.
 */
import { Effect, Layer } from "effect"
import type { Logger } from "../host/ports.ts"
import { hostDeps } from "../host/services.ts"
import type { HostDeps } from "../host/session.ts"
import { type NodeHostOptions, logLayer, nodeHostLayerWith } from "./layer.ts"

export const nodeHostDeps = (logger: Logger, options: NodeHostOptions = {}): HostDeps =>
  Effect.runSync(hostDeps.pipe(Effect.provide(Layer.provideMerge(nodeHostLayerWith(options), logLayer(logger)))))
