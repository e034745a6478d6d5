/**
 * A control-socket client for tests and benches, as `echo -n JSON | nc -U PATH` would be: one
 * request per connection, the writing side shut down after it (unless told not to), and
 * everything the server writes until it closes the connection.
 */
import { connect, type Socket } from "node:net"

/** Connects to the control socket at `path`. */
export const openApi = (path: string): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const s = connect(path)
    s.once("connect", () => resolve(s))
    s.once("error", reject)
  })

/** Everything the server writes on `s` until it closes the connection. */
export const replyOf = (s: Socket): Promise<string> =>
  new Promise((resolve) => {
    let text = ""
    s.on("data", (d: Buffer) => (text += d.toString()))
    s.on("error", () => undefined) // the server may close while we still write (too large)
    s.on("close", () => resolve(text))
  })

/** One request and its whole reply; `shutdown: false` leaves the writing side open, as some clients do. */
export const callApi = async (path: string, request: string, options: { readonly shutdown?: boolean; readonly track?: Array<Socket> } = {}): Promise<string> => {
  const s = await openApi(path)
  options.track?.push(s)
  const reply = replyOf(s)
  if (options.shutdown === false) s.write(request)
  else s.end(request)
  return reply
}
