/**
 * A read-only TFTP server (RFC 1350) for the guest's plain-UDP check: busybox has no UDP
 * netcat, but its `tftp -g` is a UDP client that sends a request and needs answers, which is
 * exactly the exchange a NAPT must carry (guest port -> host socket, replies back to it).
 *
 * Differences from RFC 1350, on purpose: replies come from the listening port itself rather
 * than a fresh transfer port (one socket, so one NAPT flow; busybox accepts either), options
 * (RFC 2347) are ignored, and only reads of the files it is given are served. Lost DATA is
 * sent again after 1 s, up to 5 times. Every request and finished transfer is reported.
 */
import { createSocket, type RemoteInfo } from "node:dgram"

export interface TftpEvent {
  readonly kind: "rrq" | "done" | "error"
  readonly from: string
  readonly file: string
  readonly detail?: string
}

export interface TftpServer {
  readonly port: number
  readonly close: () => Promise<void>
}

const OP_RRQ = 1
const OP_DATA = 3
const OP_ACK = 4
const OP_ERROR = 5
const BLOCK = 512
const RETRANSMIT_MS = 1_000
const MAX_TRIES = 5

interface Transfer {
  readonly file: string
  readonly data: Uint8Array
  block: number
  tries: number
  timer: ReturnType<typeof setTimeout> | undefined
}

const cString = (b: Buffer, start: number): { value: string; next: number } | undefined => {
  const end = b.indexOf(0, start)
  return end < 0 ? undefined : { value: b.subarray(start, end).toString("latin1"), next: end + 1 }
}

export const startTftpServer = (options: {
  readonly host?: string
  readonly port?: number
  readonly files: Readonly<Record<string, Uint8Array>>
  readonly onEvent?: (event: TftpEvent) => void
}): Promise<TftpServer> =>
  new Promise((resolve, reject) => {
    const socket = createSocket("udp4")
    const transfers = new Map<string, Transfer>()
    const report = (event: TftpEvent): void => options.onEvent?.(event)

    const error = (peer: RemoteInfo, code: number, message: string): void => {
      const b = Buffer.alloc(5 + message.length)
      b.writeUInt16BE(OP_ERROR, 0)
      b.writeUInt16BE(code, 2)
      b.write(message, 4, "latin1")
      socket.send(b, peer.port, peer.address)
    }

    const sendBlock = (key: string, peer: RemoteInfo, t: Transfer): void => {
      clearTimeout(t.timer)
      if (t.tries >= MAX_TRIES) {
        transfers.delete(key)
        report({ kind: "error", from: key, file: t.file, detail: `no ACK for block ${t.block}` })
        return
      }
      t.tries += 1
      const start = (t.block - 1) * BLOCK
      const chunk = t.data.subarray(start, Math.min(start + BLOCK, t.data.length))
      const b = Buffer.alloc(4 + chunk.length)
      b.writeUInt16BE(OP_DATA, 0)
      b.writeUInt16BE(t.block & 0xffff, 2)
      b.set(chunk, 4)
      socket.send(b, peer.port, peer.address)
      t.timer = setTimeout(() => sendBlock(key, peer, t), RETRANSMIT_MS)
    }

    socket.on("message", (message, peer) => {
      if (message.length < 4) return
      const key = `${peer.address}:${peer.port}`
      const op = message.readUInt16BE(0)
      if (op === OP_RRQ) {
        const file = cString(message, 2)
        const mode = file === undefined ? undefined : cString(message, file.next)
        if (file === undefined || mode === undefined) return error(peer, 4, "malformed request")
        report({ kind: "rrq", from: key, file: file.value, detail: mode.value })
        const data = Object.hasOwn(options.files, file.value) ? options.files[file.value] : undefined
        if (data === undefined) return error(peer, 1, "file not found")
        const old = transfers.get(key)
        if (old !== undefined) clearTimeout(old.timer)
        const t: Transfer = { file: file.value, data, block: 1, tries: 0, timer: undefined }
        transfers.set(key, t)
        sendBlock(key, peer, t)
        return
      }
      if (op === OP_ACK) {
        const t = transfers.get(key)
        if (t === undefined || message.readUInt16BE(2) !== (t.block & 0xffff)) return
        clearTimeout(t.timer)
        // The transfer ends with the first block shorter than 512 bytes (possibly empty).
        if (t.block * BLOCK > t.data.length) {
          transfers.delete(key)
          report({ kind: "done", from: key, file: t.file, detail: `${t.data.length} bytes` })
          return
        }
        t.block += 1
        t.tries = 0
        sendBlock(key, peer, t)
      }
    })

    socket.once("error", reject)
    socket.bind(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      socket.off("error", reject)
      resolve({
        port: socket.address().port,
        close: () =>
          new Promise((done) => {
            for (const t of transfers.values()) clearTimeout(t.timer)
            socket.close(() => done())
          }),
      })
    })
  })
