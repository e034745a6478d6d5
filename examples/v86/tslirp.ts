/**
 * The example's only import of tslirp. From a checkout it is the source tree; in a project of
 * your own it is the published package (`import { NodeStack } from "tslirp/node"`, or "tslirp"
 * while the Node runtime is still exported there).
 */
export { NodeStack } from "../../src/index.ts"
