// The embedded store on a unix socket for the host that serves it: its own agent's ~115 long
// polls and every request and answer skip TLS (both ends of each connection were in one
// process: ~12 MB and a third of the store host's CPU in a 3,000-endpoint converge). Only TLS
// is dropped: the listener answers through the same app, token check included. The socket lives
// in a directory of mode 0700 made before listening, so it is never reachable with wider
// permissions than the 0600 it is given; a stale one from a crash is replaced, and it is removed
// on stop.
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { ValidationError } from '../../errors/index.ts'
import type { KvServer } from '../server/index.ts'

/** The longest path a unix socket address holds (sun_path, 108 bytes with its NUL). */
export const MAX_SOCKET_PATH = 107

export interface LocalSocket {
  path: string
  /** Requests answered on the socket (tests and metrics: the host's own client uses it). */
  requests(): number
  stop(): Promise<void>
}

export function serveLocalSocket(kv: KvServer, path: string): LocalSocket {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH)
    throw new ValidationError(
      `the embedded store's socket ${path} is longer than a unix socket path may be (${MAX_SOCKET_PATH} bytes); use a shorter --data`,
    )
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700) // an existing directory too: nobody else may reach the socket
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`)
  removeStale(path)
  let requests = 0
  const bun = Bun.serve({
    unix: path,
    // No idle timeout on this socket. On a unix listener Bun (1.4.5) ignores server.timeout(req,
    // 0), the lift every blocking query asks for (blocking.ts), so any idle timeout also cuts a
    // parked long poll: with 30 s, the agent's 60 s watches were closed "before an answer came"
    // whenever the cluster was quiet that long, and the agent called its own store unreachable
    // (CI, doctor-probes' MTU case). Only this host's own agent can open the socket (0600 in a
    // 0700 directory), so an idle connection here is its pool's, never a stranger's. Bun's types
    // omit idleTimeout for unix sockets; it applies all the same.
    ...({ idleTimeout: 0 } as object),
    fetch: (req, server) => {
      requests++
      return kv.fetch(req, { server })
    },
  })
  chmodSync(path, 0o600)
  return {
    path,
    requests: () => requests,
    async stop() {
      await bun.stop(true)
      removeStale(path)
    },
  }
}

/** Remove a socket left at `path` (by a crash, or by stop); refuse to remove anything else. */
function removeStale(path: string): void {
  let st
  try {
    st = lstatSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
    throw e
  }
  if (!st.isSocket())
    throw new ValidationError(
      `${path} exists and is not a socket: remove it (the embedded store serves its own host there)`,
    )
  unlinkSync(path)
}
