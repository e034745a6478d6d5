/**
 * Starts the host services of a guest run (guest-services-main.ts) in a network namespace and
 * collects what they report. Types here are the wire protocol between the two.
 */
import { fileURLToPath } from "node:url"
import type { DnsQueryEvent, DnsRecords } from "./dns-server.ts"
import type { TftpEvent } from "./guest-tftp-server.ts"
import { startProcess, tail, type ManagedProcess } from "./guest-process.ts"

export interface GuestServicesConfig {
  readonly dns?: { readonly port: number; readonly records: DnsRecords; readonly truncateOverUdp?: ReadonlyArray<string> }
  /** File name -> UTF-8 text. */
  readonly tftp?: { readonly port: number; readonly files: Readonly<Record<string, string>> }
  /** URL path -> generated body (guest-payload.ts). */
  /** `host`: the loopback address it listens on, 127.0.0.1 (the default) or ::1 (the IPv6 gateway's). */
  readonly http?: { readonly port: number; readonly host?: "127.0.0.1" | "::1"; readonly files: Readonly<Record<string, { readonly size: number; readonly seed: number }>> }
  readonly tcpSink?: { readonly port: number }
}

export type ServiceEvent =
  | { readonly type: "ready"; readonly ports: Readonly<Record<string, number>> }
  | ({ readonly type: "dns" } & DnsQueryEvent)
  | ({ readonly type: "tftp" } & TftpEvent)
  | { readonly type: "http"; readonly method: string; readonly path: string; readonly from: string; readonly status: number }
  | { readonly type: "tcp-sink"; readonly from: string; readonly bytes: number; readonly sha256: string; readonly error?: string }

export interface GuestServices {
  readonly events: () => ReadonlyArray<ServiceEvent>
  readonly log: () => string
  readonly stop: () => Promise<void>
}

const root = fileURLToPath(new URL("../../", import.meta.url))
export const NODE = `${root}node_modules/.bin/node`
const MAIN = fileURLToPath(new URL("./guest-services-main.ts", import.meta.url))

export const startGuestServices = async (config: GuestServicesConfig, netns: string | undefined): Promise<GuestServices> => {
  const events: ServiceEvent[] = []
  const proc: ManagedProcess = startProcess("guest-services", [NODE, MAIN, JSON.stringify(config)], {
    netns,
    cwd: root,
    onLine: (line, stream) => {
      if (stream !== "stdout" || !line.startsWith("{")) return
      try {
        events.push(JSON.parse(line) as ServiceEvent)
      } catch {
        // not ours: kept in the log anyway
      }
    },
  })
  try {
    await proc.waitForLine((line) => line.startsWith('{"type":"ready"'), 20_000)
  } catch (error) {
    await proc.stop()
    throw error
  }
  return {
    events: () => events,
    log: () => tail(proc.output()),
    stop: async () => {
      await proc.stop()
    },
  }
}
