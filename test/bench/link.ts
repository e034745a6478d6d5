/**
 * The link ceiling ("trivial relay"): a null backend at the far end of QEMU's stream or dgram
 * link that does no protocol work at all. Guest->host: a UDP blaster in the namespace sends
 * MTU-sized datagrams, the null backend counts the frame bytes it reads. Host->guest: the null
 * backend writes one prebuilt MTU-sized UDP frame for the guest as fast as the link drains, and
 * the guest's interface counts what arrived (rx_bytes). No backend that sits behind this link
 * in one Node process can move frames faster, so it bounds tslirp from above.
 *
 * The figures are Ethernet frame bytes, a few percent above TCP goodput at the same MTU
 * (1518 frame bytes carry 1448 TCP payload bytes at MTU 1500).
 *
 * Contract: `startNullLink` never answers or interprets frames; `close` frees every socket.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram"
import { createServer, type Socket } from "node:net"
import { checksum } from "../../src/protocol/wire/checksum.ts"
import { freeUdpPort, type Backend } from "../support/netns.ts"

export interface NullLink {
  readonly backend: Backend
  /** Frame bytes read from QEMU since the last reset, and the span they arrived over. */
  received(): { readonly bytes: number; readonly spanMs: number }
  resetReceived(): void
  /** Write `frame` to QEMU back to back until `stopSource`. */
  startSource(frame: Uint8Array): void
  stopSource(): void
  close(): Promise<void>
}

const GATEWAY_MAC = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]

/** An Ethernet + IPv4 + UDP frame 10.0.2.2:9 -> 10.0.2.15:9 (discard), `mtu` bytes of IP. */
export const floodFrame = (guestMac: ReadonlyArray<number>, mtu: number): Uint8Array => {
  const frame = new Uint8Array(14 + mtu)
  const v = new DataView(frame.buffer)
  frame.set(guestMac, 0)
  frame.set(GATEWAY_MAC, 6)
  v.setUint16(12, 0x0800)
  v.setUint8(14, 0x45)
  v.setUint16(16, mtu) // total length
  v.setUint16(20, 0x4000) // DF
  v.setUint8(22, 64) // TTL
  v.setUint8(23, 17) // UDP
  frame.set([10, 0, 2, 2, 10, 0, 2, 15], 26)
  v.setUint16(24, checksum(frame, 14, 34))
  v.setUint16(34, 9)
  v.setUint16(36, 9)
  v.setUint16(38, mtu - 20) // UDP length; checksum 0 = none (RFC 768)
  return frame
}

interface Counter {
  bytes: number
  first: number
  last: number
}

const count = (c: Counter, n: number): void => {
  const now = performance.now()
  if (c.bytes === 0) c.first = now
  c.last = now
  c.bytes += n
}

/** Null backend for QEMU `-netdev stream,server=off` at `path`. */
export const startStreamNullLink = async (path: string): Promise<NullLink> => {
  const counter: Counter = { bytes: 0, first: 0, last: 0 }
  let peer: Socket | undefined
  let sourcing = false
  let batch = new Uint8Array(0)
  // Frame bytes: strip the 4-byte length headers as they go by (they may straddle chunks).
  let headerLeft = 4
  let frameLeft = 0
  let lengthAcc = 0
  const onData = (chunk: Buffer): void => {
    let i = 0
    let frameBytes = 0
    while (i < chunk.length) {
      if (headerLeft > 0) {
        lengthAcc = (lengthAcc << 8) | (chunk[i] ?? 0)
        i += 1
        headerLeft -= 1
        if (headerLeft === 0) frameLeft = lengthAcc >>> 0
        continue
      }
      const take = Math.min(frameLeft, chunk.length - i)
      frameBytes += take
      i += take
      frameLeft -= take
      if (frameLeft === 0) {
        headerLeft = 4
        lengthAcc = 0
      }
    }
    count(counter, frameBytes)
  }
  // Write until the socket asks us to wait for 'drain', yielding now and then so that a
  // socket that keeps accepting does not starve the timer that stops the source.
  const pump = (): void => {
    for (let k = 0; k < 16; k++) {
      if (!sourcing || peer === undefined) return
      if (!peer.write(batch)) return
    }
    setImmediate(pump)
  }
  const server = createServer((socket) => {
    if (peer !== undefined) return void socket.destroy()
    peer = socket
    socket.on("data", onData)
    socket.on("drain", pump)
    socket.on("error", () => socket.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(path, () => resolve())
  })
  return {
    backend: { _tag: "QemuStream", path },
    received: () => ({ bytes: counter.bytes, spanMs: counter.last - counter.first }),
    resetReceived: () => {
      counter.bytes = 0
    },
    startSource: (frame) => {
      // About 128 KiB of framed copies per write: few syscalls, and the same bytes every time.
      const copies = Math.max(1, Math.floor((128 * 1024) / (frame.length + 4)))
      batch = new Uint8Array(copies * (frame.length + 4))
      const v = new DataView(batch.buffer)
      for (let k = 0; k < copies; k++) {
        v.setUint32(k * (frame.length + 4), frame.length)
        batch.set(frame, k * (frame.length + 4) + 4)
      }
      sourcing = true
      pump()
    },
    stopSource: () => {
      sourcing = false
    },
    close: () =>
      new Promise<void>((resolve) => {
        sourcing = false
        peer?.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Null backend for QEMU `-netdev dgram` (one frame per datagram). */
export const startDgramNullLink = async (): Promise<NullLink> => {
  const host = "127.0.0.1"
  const qemuPort = await freeUdpPort()
  const counter: Counter = { bytes: 0, first: 0, last: 0 }
  const socket: UdpSocket = createSocket({ type: "udp4", recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 })
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject)
    socket.bind(0, host, () => resolve())
  })
  socket.on("message", (msg) => count(counter, msg.length))
  socket.on("error", () => undefined)
  let sourcing = false
  let inFlight = 0
  let frame: Uint8Array = new Uint8Array(0)
  const IN_FLIGHT = 64
  const pump = (): void => {
    while (sourcing && inFlight < IN_FLIGHT) {
      inFlight += 1
      socket.send(frame, qemuPort, host, () => {
        inFlight -= 1
        // Sends that complete at once call back on nextTick: re-enter through setImmediate,
        // or the tick queue never empties and the timer that stops the source never runs.
        if (inFlight === IN_FLIGHT / 2) setImmediate(pump)
      })
    }
  }
  return {
    backend: { _tag: "QemuDgram", local: { host, port: qemuPort }, remote: { host, port: socket.address().port } },
    received: () => ({ bytes: counter.bytes, spanMs: counter.last - counter.first }),
    resetReceived: () => {
      counter.bytes = 0
    },
    startSource: (f) => {
      frame = f
      sourcing = true
      pump()
    },
    stopSource: () => {
      sourcing = false
    },
    close: () =>
      new Promise<void>((resolve) => {
        sourcing = false
        socket.close(() => resolve())
      }),
  }
}
