/**
 * The mocked host's files for the TFTP server: in-memory directories a test declares
 * (`host.files(root, { "boot.img": bytes, "link-out": { error: "EACCES" } })`), answered after
 * the host's latency on the host's clock (a TestClock in tests). An entry `{ error }` stands for what the Node runtime
 * reports for it (a symlink out of the root is `EACCES`, a directory `EISDIR`). Like the Node
 * runtime it refuses absolute names and `..` components (`EACCES`), and a name not declared is
 * `ENOENT`. A file closed while its open is under way is closed when it opens. `openCount()`
 * says how many files are open (a test checks that every transfer closes its file). After
 * `closeAll` nothing is reported.
 */
import type { FileId } from "../../effects/ids.ts"
import type { Clock, FilePort, PortFactory } from "../host/ports.ts"

export type MockFile = Uint8Array | { readonly error: string }

export interface MockFiles {
  readonly port: PortFactory<FilePort>
  declare(root: string, entries: Readonly<Record<string, MockFile>>): void
  openCount(): number
}

export const createMockFiles = (clock: Clock, later: (run: () => void) => void): MockFiles => {
  const dirs = new Map<string, Map<string, MockFile>>()
  let open = 0
  const port: PortFactory<FilePort> = (report) => {
    const handles = new Map<FileId, Uint8Array>()
    const abandoned = new Set<FileId>()
    let closed = false
    const emit = (run: () => void): void =>
      later(() => {
        if (!closed) run()
      })
    return {
      open(file, root, path) {
        emit(() => {
          const entry = path.startsWith("/") || path.split("/").includes("..") ? { error: "EACCES" } : (dirs.get(root)?.get(path) ?? { error: "ENOENT" })
          if (abandoned.delete(file)) return
          if (!(entry instanceof Uint8Array)) return report({ _tag: "HostFileError", now: clock.now(), file, code: entry.error })
          handles.set(file, entry)
          open++
          report({ _tag: "HostFileOpened", now: clock.now(), file, size: entry.length })
        })
      },
      read(file, offset, length) {
        emit(() => {
          const bytes = handles.get(file)
          if (bytes === undefined) return report({ _tag: "HostFileError", now: clock.now(), file, code: "EBADF" })
          report({ _tag: "HostFileData", now: clock.now(), file, offset, data: bytes.slice(offset, offset + length) })
        })
      },
      close(file) {
        if (handles.delete(file)) open--
        else abandoned.add(file)
      },
      closeAll() {
        closed = true
        open -= handles.size
        handles.clear()
      },
    }
  }
  return {
    port,
    declare: (root, entries) => void dirs.set(root, new Map(Object.entries(entries))),
    openCount: () => open,
  }
}
