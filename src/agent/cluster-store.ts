// The agent's cluster store, secure by default (as `docker swarm init`):
// - --store embedded: serve the embedded store with the cluster secret (TLS from the CA in
//   <data>/store-ca.pem, every request carries <data>/join-token's secret) on a thread of its
//   own (store-thread.ts), its stop on the stack, and the join command other hosts run;
// - --store etcd://…: an etcd v3 cluster (its own TLS and users: --store-ca/-cert/-key, --store-token);
// - --store consul://…: another weft host's embedded store (join token: given now, or kept in
//   <data>/join-token by an earlier join) or a real Consul (--store-token, https, --store-ca).
import { unlinkSync } from 'node:fs'
import {
  joinTokenPath,
  parseJoinToken,
  remoteStoreOptions,
  resolveJoinToken,
  saveJoinToken,
  serveEmbeddedStoreInThread,
  type ThreadedEmbeddedStore,
  type TransportOptions,
} from '../kv/index.ts'
import { ConsulStore, type ClusterStore } from '../store/index.ts'
import { EtcdStore } from '../store/etcd/index.ts'
import { ValidationError } from '../errors/index.ts'
import type { Logger } from '../log.ts'
import { kvPath, storeSocketPath, type AgentConfig } from './config.ts'
import type { DisposerStack } from './disposers.ts'
import { MAX_SOCKET_PATH } from '../kv/secure/local-socket.ts'

export interface OpenedClusterStore {
  store: ClusterStore
  /** The embedded store this agent serves (on a thread of its own). */
  kvServer?: ThreadedEmbeddedStore
  /** With the embedded store: `weft agent --store consul://ADDR:PORT --join-token …` for other hosts. */
  joinCommand?: string
  /**
   * Call once the store has accepted this agent (verified by the pinned CA, token accepted):
   * keeps a join token given to this start in <data>/join-token, so a restart needs none. A
   * token the store never accepted (a typo, another cluster's) is not kept.
   */
  accepted(): void
}

/** The agent's own requests: one retry, and an answer within 5 s or the store counts as unreachable. */
const CLIENT = { retries: 1, timeoutMs: 5000 }

export async function openClusterStore(
  config: Readonly<AgentConfig>,
  stack: DisposerStack,
  log: Logger,
): Promise<OpenedClusterStore> {
  if (config.store.kind === 'etcd') {
    log.info({ members: config.store.endpoints }, 'cluster store: etcd')
    return {
      store: new EtcdStore({
        endpoints: config.store.endpoints,
        token: config.storeToken,
        tls: config.store.tls,
      }),
      accepted: () => {},
    }
  }
  if (config.store.kind === 'embedded') {
    const socket = storeSocketPath(config)
    const socketFits = Buffer.byteLength(socket) <= MAX_SOCKET_PATH
    if (!socketFits)
      log.warn(
        `${socket} is too long for a unix socket (${MAX_SOCKET_PATH} bytes): this agent reaches its own store over TLS, which costs it memory and CPU; use a shorter --data`,
      )
    const e = await serveEmbeddedStoreInThread({
      dataDir: config.dataDir,
      dbPath: kvPath(config),
      listen: config.store.listen,
      advertise: config.advertise,
      nodeName: config.name,
      // this agent's own requests: no TLS between two threads of one process
      ...(socketFits ? { localSocket: socket } : {}),
      sessionTtlMinMs: Math.min(10_000, config.ttlMs),
      onBackgroundError: (what, err) => log.warn({ err }, what),
    })
    stack.push('embedded store', () => e.stop())
    log.info(
      { url: e.url, socket: e.localClientOptions?.unix },
      `embedded Consul-compatible store listening (TLS, join token required)${e.localClientOptions ? '; this agent reaches it over its unix socket (token required)' : ''}`,
    )
    log.info({ joinCommand: e.joinCommand }, `to join another host, run: ${e.joinCommand}`)
    return {
      store: connect(e.localClientOptions ?? e.clientOptions),
      kvServer: e,
      joinCommand: e.joinCommand,
      accepted: () => {},
    }
  }
  if (config.joinToken !== undefined) checkKeptJoinToken(config.dataDir, config.joinToken)
  const joinToken = resolveJoinToken({ flag: config.joinToken, dataDir: config.dataDir })
  const { options, warnings } = remoteStoreOptions({
    address: config.store.address,
    joinToken,
    token: config.storeToken,
    caFile: config.storeCa,
  })
  for (const w of warnings) log.warn(w)
  if (joinToken === undefined && config.storeToken === undefined) {
    // the likely mistake: the first host's embedded store speaks TLS only and needs its token
    log.warn(
      `no join token: if ${config.store.address} is a weft host's embedded store it refuses this agent (TLS only, token required); pass the join token its first agent printed (--join-token, --join-token-file or $WEFT_JOIN_TOKEN)`,
    )
  }
  let kept = config.joinToken === undefined
  return {
    store: connect(options),
    accepted() {
      if (kept) return
      kept = true
      try {
        keepJoinToken(config.dataDir, config.joinToken!)
        log.info(
          `join token kept in ${joinTokenPath(config.dataDir)}: restarts need no --join-token`,
        )
      } catch (e) {
        // the agent runs on; only its next start needs the token again
        log.error(
          { err: (e as Error).message },
          `could not keep the join token in ${joinTokenPath(config.dataDir)}: a restart will need --join-token again`,
        )
      }
    },
  }
}

/**
 * Keep the given join token in <data>/join-token (0600). A kept token of the same CA is
 * replaced (the first host rotated its secret).
 */
function keepJoinToken(dataDir: string, given: string): void {
  const kept = keptJoinToken(dataDir)
  const token = parseJoinToken(given)
  if (kept && kept.caDigest === token.caDigest && kept.secret !== token.secret)
    unlinkSync(joinTokenPath(dataDir))
  saveJoinToken(dataDir, given)
}

/** Refuse at start a join token of another CA than the one this data dir joined before. */
function checkKeptJoinToken(dataDir: string, given: string): void {
  const kept = keptJoinToken(dataDir)
  if (kept && kept.caDigest !== parseJoinToken(given).caDigest) {
    throw new ValidationError(
      `${joinTokenPath(dataDir)} holds the join token of another cluster (its CA ${kept.caDigest.slice(0, 12)}…, the given token's ${parseJoinToken(given).caDigest.slice(0, 12)}…): remove it to join this one, or use another --data`,
    )
  }
}

function keptJoinToken(dataDir: string) {
  const text = resolveJoinToken({ dataDir })
  return text === undefined ? undefined : parseJoinToken(text, joinTokenPath(dataDir))
}

const connect = (options: TransportOptions) => ConsulStore.connect({ ...options, ...CLIENT })
