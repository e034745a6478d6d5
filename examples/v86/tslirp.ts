/**
 * The example's only import of tslirp. From a checkout it is the source tree; in a project of
 * your own it is the published package: `import { NodeStack } from "tslirp/node"`.
 */
export { NodeStack } from "../../src/node.ts"
