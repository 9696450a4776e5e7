// Node liveness: the node record lives at weft/v1/nodes/<name>, claimed with a lease of the
// cluster store (a Consul TTL session with behaviour "delete"). When the agent stops renewing,
// the store deletes the key and every other agent drops this node's endpoints. On (re)start
// we revoke our stale lease first, so the new one can take the key at once — but only when the
// record is this host's (same advertise address): a live record of another host is never taken
// over, so two hosts with one --name cannot fight over it (issue 11.2).
import type { ClusterStore } from '../store/index.ts'
import { keys, type NodeRecord } from '../cluster/index.ts'
import { ConflictError } from '../errors/index.ts'
import type { Logger } from '../log.ts'

/** The node name is registered by a live agent on another host. */
export class NodeNameHeldError extends ConflictError {
  override name = 'NodeNameHeldError'
  constructor(
    readonly node: string,
    readonly heldBy: string,
    ours: string,
  ) {
    super(
      `node name ${node} is held by a live agent at ${heldBy} (this agent advertises ${ours}): ` +
        `give this host another --name, or stop the agent at ${heldBy} and wait for its lease to end`,
      'node_name_held',
    )
  }
}

export interface RegistrationHandlers {
  /** Called after every (re)registration. */
  onRegistered: () => Promise<void>
  /**
   * The name is held by another host before this process ever registered: the agent should
   * not start. Later (the name was taken while this host's lease had lapsed), or without this
   * handler, it is logged as an error and retried, never taken over.
   */
  onRefusedAtStart?: (e: NodeNameHeldError) => void
}

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
  handlers: RegistrationHandlers | (() => Promise<void>),
): Registration {
  const { onRegistered, onRefusedAtStart } = typeof handlers === 'function' ? { onRegistered: handlers, onRefusedAtStart: undefined } : handlers
  const sessionName = `weft-node-${record.name}`
  const ac = new AbortController()
  let sessionId: string | undefined
  let isRegistered = false
  let resolveReady!: () => void
  const ready = new Promise<void>((r) => (resolveReady = r))

  /** Throws NodeNameHeldError when the live record is another host's. */
  const checkHolder = async (): Promise<void> => {
    const held = await store.get(keys.node(record.name))
    if (!held) return
    let heldBy: string | undefined
    try {
      heldBy = (JSON.parse(held.value) as Partial<NodeRecord>).advertise
    } catch {
      heldBy = undefined // an unreadable record is no other host's claim: ours to replace
    }
    if (heldBy !== undefined && heldBy !== record.advertise) throw new NodeNameHeldError(record.name, heldBy, record.advertise)
  }

  const once = async (): Promise<string> => {
    await checkHolder()
    // the same host restarted: its earlier process's lease still holds the key; end it
    await store.leases.revokeNamed(sessionName)
    const id = await store.leases.grant({ name: sessionName, ttlMs })
    const ok = await store.leases.claim(keys.node(record.name), JSON.stringify(record), id)
    if (!ok) {
      await store.leases.revoke(id)
      await checkHolder() // taken between our read and claim: say by whom
      throw new Error(`node name ${record.name} is held by another live agent: pick another --name`)
    }
    return id
  }
  let everRegistered = false

  const loop = (async () => {
    let delay = 200
    while (!ac.signal.aborted) {
      try {
        sessionId = await once()
        isRegistered = true
        everRegistered = true
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
        if (e instanceof NodeNameHeldError && !everRegistered && onRefusedAtStart) {
          onRefusedAtStart(e)
          break
        }
        const problem = configurationProblem(e)
        if (problem) log.error({ err: (e as Error).message }, `${problem}; retrying in ${delay} ms`)
        else log.warn({ err: (e as Error).message }, `node registration failed; retrying in ${delay} ms`)
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

/**
 * Failures no retry mends by itself (a wrong store or token, a name another host holds): an
 * operator has to act, so they are errors, not outage warnings. The agent still backs off and
 * retries, since the operator may fix the other side (rotate the token back, stop the impostor).
 */
function configurationProblem(e: unknown): string | undefined {
  // by the errors' codes, so every store (Consul's client, others) can raise them
  const code = (e as { code?: unknown }).code
  if (code === 'store_identity') return 'configuration error: the store is not the one this agent was told to trust (--store, the join token or --store-ca)'
  if (code === 'store_forbidden')
    return 'configuration error: the store refused this agent (a weft store needs the join token its first agent printed: --join-token or $WEFT_JOIN_TOKEN; a Consul needs --store-token)'
  if (e instanceof NodeNameHeldError) return 'configuration error: the node name is taken by another host'
  return undefined
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
  })
}
