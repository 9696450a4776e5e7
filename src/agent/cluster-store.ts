// The agent's cluster store: the embedded Consul-compatible server when asked to serve one
// (its stop registered on the stack), and the client store the agent talks to (Consul or etcd).
import { serveKv, type ServedKv } from '../kv/index.ts'
import { ConsulStore, type ClusterStore } from '../store/index.ts'
import { EtcdStore } from '../store/etcd/index.ts'
import type { Logger } from '../log.ts'
import { kvPath, type AgentConfig } from './config.ts'
import type { DisposerStack } from './disposers.ts'

export async function openClusterStore(
  config: Readonly<AgentConfig>,
  stack: DisposerStack,
  log: Logger,
): Promise<{ store: ClusterStore; kvServer?: ServedKv }> {
  if (config.store.kind === 'etcd') {
    log.info({ members: config.store.endpoints }, 'cluster store: etcd')
    return { store: new EtcdStore({ endpoints: config.store.endpoints, token: config.storeToken, tls: config.store.tls }) }
  }
  let kvServer: ServedKv | undefined
  if (config.store.kind === 'embedded') {
    const served = (kvServer = await serveKv({
      dbPath: kvPath(config),
      hostname: config.store.listen.hostname,
      port: config.store.listen.port,
      nodeName: config.name,
      advertise: `${config.advertise}:${config.store.listen.port}`,
      token: config.storeToken,
      sessionTtlMinMs: Math.min(10_000, config.ttlMs),
    }))
    stack.push('embedded store', () => served.stop())
    log.info({ url: served.url }, 'embedded Consul-compatible store listening')
  }
  const address = kvServer?.url ?? (config.store.kind === 'consul' ? config.store.address : '')
  const store = ConsulStore.connect({ address, token: config.storeToken, retries: 1, timeoutMs: 5000 })
  return { store, kvServer }
}
