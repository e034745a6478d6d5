// Embedding tslirp: one stack on the Node runtime, frames in and out through callbacks.
// Run: node test/examples/embed.ts  (prints the gateway's ARP reply). The README shows this file
// with the import from "tslirp/node"; test/examples/embed.test.ts keeps the two equal.
import { NodeStack } from "../../src/node.ts"

// QEMU's -netdev user defaults (gateway .2, DNS .3, first lease .15); every option is checked
// and a bad one is one clear error before anything opens.
const stack = new NodeStack({ net: "10.0.2.0/24", dnsUpstream: "127.0.0.1:53" })

stack.onFrameToGuest((frame) => {
  // A real embedder hands this to its NIC model (e.g. the e1000's receive path).
  console.log(`to guest: ${Buffer.from(frame).toString("hex")}`)
  stack.close() // closes every host socket and timer
})

// The guest (MAC 52:54:00:12:34:56, 10.0.2.15) asks: who has 10.0.2.2?
const guestMac = "525400123456"
const arpWhoHas = Buffer.from(
  "ffffffffffff" + guestMac + "0806" + // Ethernet: broadcast, from the guest, ARP
    "0001080006040001" + guestMac + "0a00020f" + // ARP request from 10.0.2.15
    "000000000000" + "0a000202", // target 10.0.2.2
  "hex",
)
stack.fromGuest(arpWhoHas)
