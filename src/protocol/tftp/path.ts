/**
 * The TFTP server's first check on a requested filename, before the runtime is asked to open it:
 * a name that could name something outside the TFTP root is refused here, by its text alone.
 *
 * Refused: an absolute path (leading `/`), any `..` component, a backslash (a `..\` on a host
 * that takes it as a separator), a NUL or other control character, and an empty name. A name
 * that passes is not proof of safety: a symlink inside the root can still point out of it, which
 * only the runtime can see; it resolves the real path and checks it stays under the root's real
 * path (runtime/node/files.ts). Both checks run on every request.
 * Pure: a function of the name.
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/** Why `name` is refused, or undefined when it may be passed to the runtime. */
export const unsafeTftpPath = (name: string): string | undefined => {
  if (name.length === 0) return "empty filename"
  if (CONTROL.test(name)) return "control character in filename"
  if (name.startsWith("/")) return "absolute path"
  if (name.includes("\\")) return "backslash in filename"
  if (name.split("/").some((part) => part === "..")) return "'..' component"
  return undefined
}
