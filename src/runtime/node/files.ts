/**
 * Read-only files on Node for the TFTP server (`FilePort`, host/ports.ts).
 *
 * Contract (what stops a name escaping the root, on top of the reducer's check of the text):
 * - A path that is empty, absolute, holds a NUL or a `..` component is refused (`EACCES`)
 *   before the file system is touched.
 * - The root and the file are resolved with `realpath` (every symlink followed); the file's
 *   real path must lie strictly under the root's real path, else `EACCES`. So a symlink inside
 *   the root that points out of it is refused; one pointing elsewhere inside is followed.
 * - The real path is opened with `O_NOFOLLOW | O_NONBLOCK` (a FIFO cannot block the open); the
 *   opened file must be a regular file (`EISDIR` for a directory, `EACCES` otherwise), and on
 *   Linux the path of the descriptor (/proc/self/fd) is checked again, so a path component
 *   swapped for a symlink between the check and the open is caught.
 * - Every failure is reported as `HostFileError` with the errno name and the file closed. After
 *   `closeAll` nothing is reported, and files still opening are closed when they open.
 */
import { constants } from "node:fs"
import { type FileHandle, open, readlink, realpath } from "node:fs/promises"
import { isAbsolute, resolve, sep } from "node:path"
import type { FileId } from "../../effects/ids.ts"
import type { Clock, FilePort, Logger, PortFactory } from "../host/ports.ts"

class FileRefused extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
  }
}

const codeOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e && typeof (e as { code: unknown }).code === "string" ? (e as { code: string }).code : "EIO"

/** `path` is strictly inside the directory `base` (both real paths). */
export const isInside = (base: string, path: string): boolean => path.startsWith(base.endsWith(sep) ? base : base + sep)

/** Why `path` is refused by its text alone, or undefined. */
export const unsafeRelativePath = (path: string): string | undefined => {
  if (path.length === 0) return "empty path"
  if (path.includes("\0")) return "NUL byte in path"
  if (isAbsolute(path)) return "absolute path"
  if (path.split(/[\\/]/).includes("..")) return "'..' component"
  return undefined
}

/** Opens `path` under `root` for reading, or throws an error with an errno `code`. */
export const openUnder = async (root: string, path: string): Promise<{ readonly handle: FileHandle; readonly size: number }> => {
  const unsafe = unsafeRelativePath(path)
  if (unsafe !== undefined) throw new FileRefused("EACCES", unsafe)
  const base = await realpath(root)
  const real = await realpath(resolve(base, path))
  if (!isInside(base, real)) throw new FileRefused("EACCES", `${real} is outside ${base}`)
  const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  try {
    const st = await handle.stat()
    if (st.isDirectory()) throw new FileRefused("EISDIR", "a directory")
    if (!st.isFile()) throw new FileRefused("EACCES", "not a regular file")
    // Linux names what the descriptor really is; elsewhere the realpath check stands alone.
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined)
    if (opened !== undefined && !isInside(base, opened)) throw new FileRefused("EACCES", `${opened} is outside ${base}`)
    return { handle, size: st.size }
  } catch (e) {
    await handle.close().catch(() => {})
    throw e
  }
}

export const nodeFiles =
  (clock: Clock, logger: Logger): PortFactory<FilePort> =>
  (report) => {
    const handles = new Map<FileId, FileHandle>()
    /** Files whose open is under way; `true` once `close` asked for them before it finished. */
    const opening = new Map<FileId, boolean>()
    let closed = false

    const fail = (file: FileId, e: unknown): void => {
      const code = codeOf(e)
      if (logger.enabled("debug")) logger.log("debug", `tftp: file ${file}: ${code}${e instanceof Error ? ` (${e.message})` : ""}`)
      if (!closed) report({ _tag: "HostFileError", now: clock.now(), file, code })
    }
    const release = (handle: FileHandle): void => void handle.close().catch(() => {})

    return {
      open(file, root, path) {
        opening.set(file, false)
        openUnder(root, path).then(
          ({ handle, size }) => {
            const abandoned = opening.get(file) !== false
            opening.delete(file)
            if (closed || abandoned) return release(handle)
            handles.set(file, handle)
            report({ _tag: "HostFileOpened", now: clock.now(), file, size })
          },
          (e: unknown) => {
            const abandoned = opening.get(file) !== false
            opening.delete(file)
            if (!abandoned) fail(file, e)
          },
        )
      },
      read(file, offset, length) {
        const handle = handles.get(file)
        if (handle === undefined) return fail(file, new FileRefused("EBADF", "read of a file that is not open"))
        const buffer = Buffer.allocUnsafe(length)
        handle.read(buffer, 0, length, offset).then(
          ({ bytesRead }) => {
            if (closed || handles.get(file) !== handle) return
            report({ _tag: "HostFileData", now: clock.now(), file, offset, data: buffer.subarray(0, bytesRead) })
          },
          (e: unknown) => {
            if (handles.get(file) !== handle) return
            handles.delete(file)
            release(handle)
            fail(file, e)
          },
        )
      },
      close(file) {
        const handle = handles.get(file)
        if (handle !== undefined) {
          handles.delete(file)
          release(handle)
        } else if (opening.has(file)) opening.set(file, true)
      },
      closeAll() {
        closed = true
        for (const handle of handles.values()) release(handle)
        handles.clear()
        for (const file of opening.keys()) opening.set(file, true)
      },
    }
  }
