// The Docker plugin as one unit: the plugin socket, the network sync and the endpoint
// reconciliation (with the reclaim of orphaned address reservations), started in that order and
// stopped in reverse. See handlers.ts for the design.
import type { Logger } from '../log.ts'
import type { DockerBackend } from './backend.ts'
import { reconcileEndpoints } from './endpoint-reconcile.ts'
import { DockerEngine } from './engine.ts'
import { DockerHandlers } from './handlers.ts'
import { NetworkSync } from './network-sync.ts'
import { RESERVATION_MAX_AGE_MS } from './reservations.ts'
import { DEFAULT_PLUGIN_SOCKET, servePlugin } from './server.ts'

const ENDPOINT_RECONCILE_MS = 15_000

export interface DockerPluginOptions {
  /** Docker's API socket, unix:///PATH. */
  docker: string
  /** Where to serve the plugin (default /run/docker/plugins/weft.sock). */
  socket?: string
  backend: DockerBackend
  log: Logger
}

export interface DockerPlugin {
  socketPath: string
  handlers: DockerHandlers
  sync: NetworkSync
  /** Run the endpoint reconciliation now (also runs periodically). */
  reconcile(): Promise<void>
  stop(): Promise<void>
}

export function startDockerPlugin(opts: DockerPluginOptions): DockerPlugin {
  const log = opts.log.child({ component: 'docker' })
  const engine = new DockerEngine(opts.docker)
  let sync: NetworkSync | undefined
  const handlers = new DockerHandlers({
    backend: opts.backend,
    engine,
    log,
    // Docker drops its record right after our answer: look again then (and once more, later)
    onDeleteRefused: () => {
      for (const ms of [100, 1000]) setTimeout(() => sync?.trigger(), ms)
    },
  })
  // the socket first: a dockerd waiting on a call (docker rm -f while we were down) gets its answer
  const server = servePlugin(opts.socket ?? DEFAULT_PLUGIN_SOCKET, (m) => handlers.handler(m), log)
  sync = new NetworkSync({ backend: opts.backend, engine, handlers, log })
  sync.start()
  let lastError = ''
  const reconcile = async () => {
    try {
      const released = await reconcileEndpoints({
        backend: opts.backend,
        engine,
        inFlight: handlers.inFlight,
        log,
      })
      if (released.length) sync.trigger()
      const reclaimed = await opts.backend.reclaimReservations(RESERVATION_MAX_AGE_MS)
      handlers.forgetReservations(reclaimed)
      for (const r of reclaimed)
        log.info(
          { network: r.networkId.slice(0, 12), ip: r.ip },
          'reclaimed an address reservation no endpoint took (its agent died between RequestAddress and CreateEndpoint)',
        )
      lastError = ''
    } catch (e) {
      const msg = (e as Error).message
      if (msg !== lastError)
        log.warn({ err: msg }, 'docker endpoint reconciliation failed; retrying')
      lastError = msg
    }
  }
  let reconciling: Promise<void> = reconcile()
  const timer = setInterval(() => {
    reconciling = reconciling.then(reconcile)
  }, ENDPOINT_RECONCILE_MS)
  log.info({ socket: server.socketPath, docker: opts.docker }, 'docker plugin listening')
  return {
    socketPath: server.socketPath,
    handlers,
    sync: sync,
    reconcile: () => (reconciling = reconciling.then(reconcile)),
    async stop() {
      clearInterval(timer)
      await server.stop()
      await sync.stop()
      await reconciling
    },
  }
}
