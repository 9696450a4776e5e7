// Node liveness: the node record lives at weft/v1/nodes/<name>, acquired by a TTL session
// with behaviour "delete". When the agent stops renewing, the store deletes the key and
// every other agent drops this node's endpoints. On (re)start we destroy our stale
// session first, so the new one can take the key at once.
import type { ConsulClient } from '../kv/index.ts'
import { keys, type NodeRecord } from '../cluster/index.ts'
import type { Logger } from '../log.ts'

export interface Registration {
  /** Resolves after the first successful registration. */
  ready: Promise<void>
  registered(): boolean
  stop(opts?: { deregister?: boolean }): Promise<void>
}

export function registerNode(
  kv: ConsulClient,
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
    const stale = (await kv.session.all()).value.filter((s) => s.name === sessionName)
    for (const s of stale) await kv.session.destroy(s.id)
    const id = await kv.session.create({ name: sessionName, ttlMs, behavior: 'delete', lockDelayMs: 0, checks: [] })
    const ok = await kv.kv.put(keys.node(record.name), JSON.stringify(record), { acquire: id })
    if (!ok) {
      await kv.session.destroy(id)
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
          const ka = kv.session.keepAlive(sessionId!, ttlMs, {
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
        await Bun.sleep(delay)
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
      if (opts.deregister && sessionId) await kv.session.destroy(sessionId).catch(() => {})
    },
  }
}
