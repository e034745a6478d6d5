/**
 * The e1000 for emulators: `attachE1000` hosts the 82540EM model (src/device/e1000) and joins
 * it to a tslirp stack in this process (`stackLink`) or to a `tslirp --socket` process
 * (`connectStreamLink`). See attach.ts for the contract.
 */
export { attachE1000, DEFAULT_MAC, DEFAULT_RX_QUEUE_LIMIT, RX_QUEUE_LIMIT_BYTES, type AttachE1000Options, type AttachedE1000, type GuestMemory } from "./attach.ts"
export { stackLink, type FrameLink } from "./frame-link.ts"
export { connectStreamLink, type StreamAddress, type StreamLinkOptions } from "./stream-client.ts"
