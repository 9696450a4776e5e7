// The agent's cluster store, secure by default (as `docker swarm init`):
// - --store embedded: serve the embedded store with the cluster secret (TLS from the CA in
//   <data>/store-ca.pem, every request carries <data>/join-token's secret), its stop on the
//   stack, and the join command other hosts run;
// - --store consul://…: another weft host's embedded store (join token: given now, or kept in
//   <data>/join-token by an earlier join) or a real Consul (--store-token, https, --store-ca).
import { unlinkSync } from 'node:fs'
import {
  joinTokenPath,
  parseJoinToken,
  remoteStoreOptions,
  resolveJoinToken,
  saveJoinToken,
  serveEmbeddedStore,
  type ServedKv,
  type StoreClientOptions,
} from '../kv/index.ts'
import { ConsulStore } from '../store/index.ts'
import type { Logger } from '../log.ts'
import { kvPath, type AgentConfig } from './config.ts'
import type { DisposerStack } from './disposers.ts'

export interface OpenedClusterStore {
  store: ConsulStore
  kvServer?: ServedKv
  /** With the embedded store: `weft agent --store consul://ADDR:PORT --join-token …` for other hosts. */
  joinCommand?: string
}

/** The agent's own requests: one retry, and an answer within 5 s or the store counts as unreachable. */
const CLIENT = { retries: 1, timeoutMs: 5000 }

export async function openClusterStore(
  config: Readonly<AgentConfig>,
  stack: DisposerStack,
  log: Logger,
): Promise<OpenedClusterStore> {
  if (config.store.kind === 'embedded') {
    const e = await serveEmbeddedStore({
      dataDir: config.dataDir,
      dbPath: kvPath(config),
      listen: config.store.listen,
      advertise: config.advertise,
      nodeName: config.name,
      sessionTtlMinMs: Math.min(10_000, config.ttlMs),
      onBackgroundError: (what, err) => log.warn({ err }, what),
    })
    stack.push('embedded store', () => e.stop())
    log.info({ url: e.served.url }, 'embedded Consul-compatible store listening (TLS, join token required)')
    log.info({ joinCommand: e.joinCommand }, `to join another host, run: ${e.joinCommand}`)
    return { store: connect(e.clientOptions), kvServer: e.served, joinCommand: e.joinCommand }
  }
  const joinToken = resolveJoinToken({ flag: config.joinToken, dataDir: config.dataDir })
  if (config.joinToken !== undefined) keepJoinToken(config.dataDir, config.joinToken)
  const { options, warnings } = remoteStoreOptions({
    address: config.store.address,
    joinToken,
    token: config.storeToken,
    caFile: config.storeCa,
  })
  for (const w of warnings) log.warn(w)
  return { store: connect(options) }
}

/**
 * Keep the given join token in <data>/join-token, so a restart needs no secret on its command
 * line or in its environment. A kept token of the same CA is replaced (the first host rotated
 * its secret); one of another CA is refused by saveJoinToken (this data dir joined another cluster).
 */
function keepJoinToken(dataDir: string, given: string): void {
  const keptText = resolveJoinToken({ dataDir })
  const kept = keptText === undefined ? undefined : parseJoinToken(keptText)
  const token = parseJoinToken(given)
  if (kept && kept.caDigest === token.caDigest && kept.secret !== token.secret) unlinkSync(joinTokenPath(dataDir))
  saveJoinToken(dataDir, given)
}

const connect = (options: StoreClientOptions) => ConsulStore.connect({ ...options, ...CLIENT })
