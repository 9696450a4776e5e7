// Node liveness: the node record lives at weft/v1/nodes/<name>, claimed with a lease of the
// cluster store (a Consul TTL session with behaviour "delete"). When the agent stops renewing,
// the store deletes the key and every other agent drops this node's endpoints. On (re)start
// we revoke our stale lease first, so the new one can take the key at once.
import type { ClusterStore } from '../store/index.ts'
import { keys, type NodeRecord } from '../cluster/index.ts'
import type { Logger } from '../log.ts'

export interface Registration {
  /** Resolves after the first successful registration. */
  ready: Promise<void>
  registered(): boolean
  stop(opts?: { deregister?: boolean }): Promise<void>
}

export function registerNode(
  store: ClusterStore,
  record: NodeRecord,
  ttlMs: number,
  log: Logger,
  onRegistered: () => Promise<void>,
): Registration {
  const sessionName = `weft-node-${record.name}`
  const ac = new AbortController()
  let sessionId: string | undefined
  let isRegistered = false
  let resolveReady!: () => void
  const ready = new Promise<void>((r) => (resolveReady = r))

  const once = async (): Promise<string> => {
    await store.leases.revokeNamed(sessionName)
    const id = await store.leases.grant({ name: sessionName, ttlMs })
    const ok = await store.leases.claim(keys.node(record.name), JSON.stringify(record), id)
    if (!ok) {
      await store.leases.revoke(id)
      throw new Error(`node name ${record.name} is held by another live agent: pick another --name`)
    }
    return id
  }

  const loop = (async () => {
    let delay = 200
    while (!ac.signal.aborted) {
      try {
        sessionId = await once()
        isRegistered = true
        delay = 200
        log.info({ session: sessionId }, 'node registered')
        await onRegistered()
        resolveReady()
        // renew until the session is lost (store restarted without state, expired while partitioned)
        await new Promise<void>((resolve) => {
          const ka = store.leases.keepAlive(sessionId!, ttlMs, {
            signal: ac.signal,
            onLost: () => {
              log.warn('node session lost; registering again')
              resolve()
            },
            onError: (e) => log.debug({ err: (e as Error).message }, 'session renew failed; retrying'),
          })
          void ka.done.then(() => resolve())
        })
        isRegistered = false
      } catch (e) {
        isRegistered = false
        if (ac.signal.aborted) break
        log.warn({ err: (e as Error).message }, `node registration failed; retrying in ${delay} ms`)
        await abortableSleep(delay, ac.signal) // stop() must not wait out the backoff
        delay = Math.min(delay * 2, 5000)
      }
    }
  })()

  return {
    ready,
    registered: () => isRegistered,
    async stop(opts = {}) {
      ac.abort()
      await loop
      // a failed deregistration is only logged: the lease ends by itself within its TTL
      if (opts.deregister && sessionId) {
        await store.leases.revoke(sessionId).catch((e) => log.warn({ err: (e as Error).message }, 'deregister failed; the node record expires with its lease'))
      }
    },
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
  })
}
